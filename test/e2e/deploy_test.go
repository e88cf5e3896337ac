package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/test/cluster"
)

// webLabels select the pods of the test app, old and new alike.
var webLabels = map[string]string{"app": "web", "role": "api"}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// appPods lists the app's pods that are not terminating.
func appPods(t *testing.T, cs kubernetes.Interface, ns string) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(webLabels).String()})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func podUIDs(pods []corev1.Pod) []string {
	var uids []string
	for _, p := range pods {
		uids = append(uids, string(p.UID))
	}
	slices.Sort(uids)
	return uids
}

// deployProject writes a project whose app "web" is a ReplicationController
// of replicas pods, with environments dev and prod mapped to the two
// clusters and the given namespaces, and declares dev in devNS. It returns
// the project directory.
func deployProject(t *testing.T, devNS, prodNS string, replicas int) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		".envops.yaml": fmt.Sprintf("environments:\n  dev: {context: %s, namespace: %s}\n  prod: {context: %s, namespace: %s, confirm: true}\n",
			devContext, devNS, prodContext, prodNS),
		"apps/web/base/kustomization.yaml": "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: api}\n  includeTemplates: true\n",
		"apps/web/base/rc.yaml": fmt.Sprintf(`apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: %d
  template:
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: kubernetes.io/hostname, operator: In, values: [dev-node-1, dev-node-2, dev-node-3]}
      containers:
      - name: web
        image: nginx:1.27
`, replicas),
		"apps/web/overlays/dev/kustomization.yaml":  "resources:\n- ../../base\n",
		"apps/web/overlays/prod/kustomization.yaml": "resources:\n- ../../base\n",
	}
	for p, c := range files {
		writeProjectFile(t, filepath.Join(dir, p), c)
	}
	declareEnvironment(t, devContext, devNS, "dev")
	return dir
}

func writeProjectFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// declareEnvironment creates the environment Secret, as init-env does.
func declareEnvironment(t *testing.T, kubeContext, ns, env string) {
	t.Helper()
	cs := clientset(t, kubeContext)
	_, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "environment", Annotations: boundTo(t, cs)},
		Data:       map[string][]byte{"environment": []byte(env)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// holdPods makes the dev overlay's pods wait forever on a scheduling gate:
// they never become Ready and never report a failure.
func holdPods(t *testing.T, dir string) {
	t.Helper()
	writeProjectFile(t, filepath.Join(dir, "apps/web/overlays/dev/kustomization.yaml"), `resources:
- ../../base
patches:
- target: {kind: ReplicationController, name: web}
  patch: |
    - op: add
      path: /spec/template/spec/schedulingGates
      value: [{name: envops.io/e2e-hold}]
`)
}

// rcState describes each controller by what a deploy may change (its
// status moves on by itself, so resourceVersions would not do).
func rcState(t *testing.T, cs kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	list, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rc := range list.Items {
		out[rc.Name] = fmt.Sprintf("uid %s generation %d labels %v annotations %v", rc.UID, rc.Generation, rc.Labels, rc.Annotations)
	}
	return out
}

func TestDeployCommandCreatesUpdatesAndRollsBack(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web created (4 replicas)") {
		t.Fatalf("first deploy should create web:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.27")
	before := podUIDs(appPods(t, cs, ns))

	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.27")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web unchanged") {
		t.Fatalf("deploying the same image again should change nothing:\n%s", r)
	}
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Fatalf("an unchanged deploy restarted pods: %v -> %v", before, after)
	}

	// A Deployment beside the ReplicationController would double the pods.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "already runs") {
		t.Fatalf("--kind Deployment over a live ReplicationController should be refused:\n%s", r)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{}); err == nil {
		t.Fatal("the refused deploy created a Deployment")
	}

	// --diff and --dry-run show the update and change nothing.
	state := rcState(t, cs, ns)
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--diff")
	if r.ExitCode != 1 || !strings.Contains(r.Stdout, "-      - image: nginx:1.27") || !strings.Contains(r.Stdout, "+      - image: nginx:1.28") {
		t.Fatalf("--diff should show the image change and exit 1, as kubectl diff does:\n%s", r)
	}
	for _, mode := range []string{"client", "server"} {
		r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--dry-run="+mode)
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web would be rolled out") || !strings.Contains(r.Stdout, "dry run") {
			t.Fatalf("--dry-run=%s should report the rollout it would make:\n%s", mode, r)
		}
	}
	if got := rcState(t, cs, ns); !maps.Equal(got, state) {
		t.Fatalf("--diff or --dry-run changed the controllers: %v -> %v", state, got)
	}

	counter := watchReady(t, cs, ns)
	counter.start()
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "1")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled out (4 replicas)") {
		t.Fatalf("the new image should roll out:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if got := counter.min(); got < 3 {
		t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 3", got)
	}

	// Pods that never become Ready: the update times out and is rolled back.
	holdPods(t, dir)
	before = podUIDs(appPods(t, cs, ns))
	counter.start()
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.29", "--max-surge", "1", "--max-unavailable", "0", "--timeout", "5s", "--failure-grace", "5s")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "rolled back") {
		t.Fatalf("pods that never become Ready should fail, roll back and exit 1:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Errorf("with max unavailable 0 the rollback should keep the old pods: %v -> %v", before, after)
	}
	if got := counter.min(); got < 4 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}

	// With --no-rollback the failure is left for a resume (exit 3), and
	// --rollback undoes it on request.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.29", "--max-surge", "1", "--timeout", "5s", "--failure-grace", "5s", "--no-rollback")
	if r.ExitCode != 3 {
		t.Fatalf("a failure with --no-rollback should exit 3:\n%s", r)
	}
	if got := rcState(t, cs, ns); len(got) != 1 {
		t.Fatalf("after --no-rollback, want the one controller web, got %v", got)
	}
	if rc := getRC(t, cs, ns); rc.Annotations[annUpdate] == "" || rc.Spec.Template.Spec.Containers[0].Image != "nginx:1.29" {
		t.Fatalf("after --no-rollback, web should hold the new template and the update in %s: image %s, annotations %v",
			annUpdate, rc.Spec.Template.Spec.Containers[0].Image, rc.Annotations)
	}
	counter.start()
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--rollback")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled back") {
		t.Fatalf("--rollback should restore the old pods:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 4)
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if got := counter.min(); got < 3 {
		t.Errorf("Ready pods fell to %d during the rollback, below desired-maxUnavailable = 3", got)
	}
}

func TestDeployCommandDeploysADeployment(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Deployment/web created (4 replicas)") {
		t.Fatalf("first deploy should create the Deployment:\n%s", r)
	}
	before := podUIDs(appPods(t, cs, ns))
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Deployment/web unchanged") {
		t.Fatalf("the same deploy again should change nothing:\n%s", r)
	}
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Fatalf("an unchanged deploy restarted pods")
	}
	counter := watchReady(t, cs, ns)
	counter.start()
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Deployment/web rolled out") {
		t.Fatalf("the new image should roll out:\n%s", r)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.String() != "1" || ru.MaxUnavailable.String() != "0" {
		t.Errorf("the Deployment's strategy is %+v, want max surge 1 and max unavailable 0 from the flags", d.Spec.Strategy)
	}
	if got := counter.min(); got < 4 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}
	if l, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{}); l == nil || len(l.Items) != 0 {
		t.Errorf("deploying a Deployment left ReplicationControllers: %v", l)
	}

	// Pods whose image is not found: rolled back to nginx:1.28.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment", "--image", "registry.example/web:"+cluster.NotFoundWord, "--timeout", "2m", "--failure-grace", "5s")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "rolled back") || !podNamed.MatchString(r.Stderr) {
		t.Fatalf("a Deployment whose image is not found should fail naming the pod, roll back and exit 1:\n%s", r)
	}
	waitFor(t, time.Minute, "4 Ready pods on nginx:1.28 after the rollback", func() bool {
		pods := appPods(t, cs, ns)
		if len(pods) != 4 {
			return false
		}
		for _, p := range pods {
			if p.Spec.Containers[0].Image != "nginx:1.28" || !podReady(&p) {
				return false
			}
		}
		return true
	})
	if leaseHeld(t, cs, ns) {
		t.Errorf("the Deployment's deploy did not release its Lease")
	}
}

func TestDeployCommandRefusesTheWrongCluster(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, ns, 2)
	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev")
	if r.ExitCode != 0 {
		t.Fatalf("deploy to dev:\n%s", r)
	}
	state := rcState(t, cs, ns)

	// The prod overlay, pointed at the dev cluster.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "prod", "--context", devContext, "--image", "nginx:1.28", "--yes")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `"dev"`) || !strings.Contains(r.Stderr, `"prod"`) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("the prod overlay on the dev cluster should be refused in one line naming both environments:\n%s", r)
	}
	if got := rcState(t, cs, ns); !maps.Equal(got, state) {
		t.Fatalf("the refused deploy changed the controllers: %v -> %v", state, got)
	}
}

// TestDeployHearsTheProjectFile points the prod overlay at the dev cluster
// (--context envops-dev) at a namespace whose Secret says prod: the
// Secret alone would let it through, but .envops.yaml maps envops-dev to
// dev, and the guard hears both.
func TestDeployHearsTheProjectFile(t *testing.T) {
	cs := clientset(t, devContext)
	devNS, strayNS := newNamespace(t, devContext), newNamespace(t, devContext)
	dir := deployProject(t, devNS, strayNS, 2)
	// A namespace of the dev cluster that claims to be prod.
	declareEnvironment(t, devContext, strayNS, "prod")

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "prod", "--context", devContext, "--yes")
	line := strings.TrimSpace(r.Stderr)
	for _, want := range []string{
		`namespace "` + strayNS + `" of context "` + devContext + `" declares environment "prod" in its Secret`,
		`maps context "` + devContext + `" to environment "dev"`,
		`drop --context`,
		`kubectl envops init-env dev --force --context ` + devContext + ` -n ` + strayNS,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, r)
		}
	}
	if r.ExitCode != 1 || strings.Count(line, "\n") != 0 {
		t.Errorf("want exit 1 and one line:\n%s", r)
	}
	if l, err := cs.CoreV1().ReplicationControllers(strayNS).List(t.Context(), metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Errorf("the refused deploy wrote controllers: %v %v", l, err)
	}
}

func TestDeployCommandNotifies(t *testing.T) {
	var mu sync.Mutex
	var texts []string
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&msg)
		mu.Lock()
		texts = append(texts, msg.Text)
		mu.Unlock()
	}))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hanging.Close()
	defer close(release)

	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--notify", ok.URL)
	if r.ExitCode != 0 || strings.Contains(r.Stderr, "warning") {
		t.Fatalf("deploy with a working webhook:\n%s", r)
	}
	mu.Lock()
	got := append([]string(nil), texts...)
	mu.Unlock()
	var phases []string
	for _, text := range got {
		for _, phase := range []string{"deploy started", "deploy done", "%"} {
			if strings.Contains(text, phase) {
				phases = append(phases, phase)
			}
		}
	}
	if len(phases) < 3 || phases[0] != "deploy started" || phases[len(phases)-1] != "deploy done" || !slices.Contains(phases, "%") {
		t.Errorf("the webhook received %q, want started, progress, then done:\n%s", phases, strings.Join(got, "\n"))
	}

	for _, hook := range []struct{ name, url, image string }{{"failing", failing.URL, "nginx:1.29"}, {"hanging", hanging.URL, "nginx:1.30"}} {
		r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", hook.image, "--notify", hook.url)
		if r.ExitCode != 0 || !strings.Contains(r.Stderr, "warning:") || !strings.Contains(r.Stderr, "not delivered") {
			t.Fatalf("a %s webhook should only cost a warning:\n%s", hook.name, r)
		}
		assertSettled(t, cs, ns, 4, hook.image)
	}
}

// baseNodes keeps the app on the dev cluster's own three nodes: other tests
// add nodes and remove them, which would take pods with them.
var baseNodes = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
	RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{
			Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn,
			Values: []string{"dev-node-1", "dev-node-2", "dev-node-3"},
		}},
	}}},
}}

// webDeployment is the app as a Deployment, built by hand.
func webDeployment(replicas int32, image string) *unstructured.Unstructured {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: maps.Clone(webLabels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(webLabels)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(webLabels)},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "web", Image: image}},
					Affinity:   baseNodes,
				},
			},
		},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		panic(err)
	}
	obj := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(obj.Object, "spec", "template", "metadata", "creationTimestamp")
	return obj
}

// --diff answers as kubectl diff does (1 with differences, 0 without), and
// --dry-run=server -o yaml prints the objects the deploy would send.
func TestDeployDiffAndDryRunOutput(t *testing.T) {
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 2)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--diff")
	if r.ExitCode != 0 || r.Stdout != "" {
		t.Errorf("--diff with nothing to change should print nothing and exit 0:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--diff")
	if r.ExitCode != 1 || !strings.Contains(r.Stdout, "+      - image: nginx:1.28") {
		t.Errorf("--diff with a change should show it and exit 1:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--dry-run=server", "-o", "yaml")
	objs := decodeObjects(t, r.Stdout)
	if r.ExitCode != 0 || len(objs) != 1 || objs[0].GetKind() != "ReplicationController" || objs[0].GetNamespace() != ns {
		t.Fatalf("--dry-run=server -o yaml should print the controller it would send:\n%s", r)
	}
	if c, _, _ := unstructured.NestedSlice(objs[0].Object, "spec", "template", "spec", "containers"); len(c) != 1 || c[0].(map[string]any)["image"] != "nginx:1.28" {
		t.Errorf("the printed controller runs %v, want nginx:1.28", c)
	}
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--dry-run=server", "-o", "name")
	if r.ExitCode != 0 || r.Stdout != "replicationcontroller/web\n" {
		t.Errorf("--dry-run=server -o name:\n%s", r)
	}
	if img := getRC(t, clientset(t, devContext), ns).Spec.Template.Spec.Containers[0].Image; img != "nginx:1.27" {
		t.Errorf("a dry run changed the controller to %s", img)
	}
}
