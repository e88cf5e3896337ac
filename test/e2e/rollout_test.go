package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/envops/kubectl-envops/test/cluster"
)

// What the ReplicationController update shows users on the cluster. The
// tests spell these out rather than import them, so they check the contract
// and not whatever the code happens to define.
const (
	hashLabel       = "envops.io/template-hash"
	annTemplateHash = "envops.io/template-hash"
	annRevisions    = "envops.io/revisions"
	annUpdate       = "envops.io/update"
	leasePrefix     = "envops-deploy-"
	// The selector key of the previous release's updater.
	previousSelectorKey = "deployment"
)

// The previous release's update annotations: none may survive a deploy.
var previousAnnotations = []string{
	"envops.io/next-controller", "envops.io/original-replicas", "envops.io/update-source",
	"envops.io/desired-replicas", "envops.io/original-name",
}

// progressEvent is one line of "deploy -o jsonl".
type progressEvent struct {
	Type       string `json:"type"`
	Name       string `json:"name"`
	Controller string `json:"controller"`
	Message    string `json:"message"`
	Desired    int32  `json:"desired"`
	Updated    int32  `json:"updated"`
	Ready      int32  `json:"ready"`
	Old        int32  `json:"old"`
}

// revision is one entry of the envops.io/revisions annotation.
type revision struct {
	Hash   string   `json:"hash"`
	Images []string `json:"images"`
}

// image is the revision's first container image.
func (r revision) image() string {
	if len(r.Images) == 0 {
		return ""
	}
	return r.Images[0]
}

func revisionsOf(t *testing.T, rc *corev1.ReplicationController) []revision {
	t.Helper()
	v, ok := rc.Annotations[annRevisions]
	if !ok {
		return nil
	}
	var revs []revision
	if err := json.Unmarshal([]byte(v), &revs); err != nil {
		t.Fatalf("annotation %s is not a JSON array of revisions: %v: %s", annRevisions, err, v)
	}
	return revs
}

// getRC reads the app's controller.
func getRC(t *testing.T, cs kubernetes.Interface, ns string) *corev1.ReplicationController {
	t.Helper()
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// deploy runs "kubectl envops deploy web --env dev ARGS" in the project.
func deploy(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return runKubectl(t, dir, "", append([]string{"envops", "deploy", "web", "--env", "dev"}, args...)...)
}

// assertReadyAtExit asks kubectl, right after deploy exited, what a user
// would see: READY equal to the desired count, the change observed, every
// live pod on the controller's template.
func assertReadyAtExit(t *testing.T, cs kubernetes.Interface, ns string, desired int) {
	t.Helper()
	r := runKubectl(t, "", "", "get", "rc", "web", "--context", devContext, "-n", ns, "-o",
		`jsonpath={.spec.replicas}/{.status.readyReplicas}/{.status.observedGeneration}/{.metadata.generation}`)
	// A field the status does not carry yet prints empty and reads as 0.
	f := strings.Split(strings.TrimSpace(r.Stdout), "/")
	if r.ExitCode != 0 || len(f) != 4 {
		t.Fatalf("kubectl get rc web right after deploy:\n%s", r)
	}
	n := make([]int, 4)
	for i, s := range f {
		n[i], _ = strconv.Atoi(s)
	}
	if n[0] != desired || n[1] != desired || n[2] < n[3] {
		t.Errorf("right after deploy exited: replicas %d, READY %d, observedGeneration %d of generation %d; want %d/%d and the generation observed",
			n[0], n[1], n[2], n[3], desired, desired)
	}
	rc := getRC(t, cs, ns)
	hash := rc.Spec.Template.Labels[hashLabel]
	for _, p := range appPods(t, cs, ns) {
		if p.Labels[hashLabel] != hash {
			t.Errorf("right after deploy exited, pod %s runs template %q, the controller's is %q", p.Name, p.Labels[hashLabel], hash)
		}
	}
}

// assertSettled checks the end state users care about: one controller named
// web, its selector as rendered (no hash key), no update in progress, the
// template hash recorded, and exactly the desired pods, all Ready, on image,
// on the controller's template and owned by it.
func assertSettled(t *testing.T, cs kubernetes.Interface, ns string, replicas int, image string) *corev1.ReplicationController {
	t.Helper()
	rcs, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rc := range rcs.Items {
		names = append(names, rc.Name)
	}
	if len(names) != 1 || names[0] != "web" {
		t.Fatalf("ReplicationControllers = %v, want only web", names)
	}
	web := rcs.Items[0]
	for _, k := range []string{previousSelectorKey, hashLabel} {
		if v, ok := web.Spec.Selector[k]; ok {
			t.Errorf("the selector of web holds %s=%s: %v", k, v, web.Spec.Selector)
		}
	}
	for _, a := range append([]string{annUpdate}, previousAnnotations...) {
		if v, ok := web.Annotations[a]; ok {
			t.Errorf("web still carries the update annotation %s=%s", a, v)
		}
	}
	if got := *web.Spec.Replicas; int(got) != replicas {
		t.Errorf("web asks for %d replicas, want %d", got, replicas)
	}
	if got := web.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("web's template runs %s, want %s", got, image)
	}
	hash := web.Spec.Template.Labels[hashLabel]
	if hash == "" || web.Annotations[annTemplateHash] != hash {
		t.Errorf("web's template label %s=%q and annotation %s=%q should be the same, non-empty hash", hashLabel, hash, annTemplateHash, web.Annotations[annTemplateHash])
	}
	settled := func() bool {
		pods := appPods(t, cs, ns)
		if len(pods) != replicas {
			return false
		}
		for _, p := range pods {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.UID != web.UID || p.Spec.Containers[0].Image != image || !podReady(&p) || p.Labels[hashLabel] != hash {
				return false
			}
		}
		return true
	}
	if !poll(t, 30*time.Second, settled) {
		t.Fatalf("want %d Ready pods of web (uid %s) on %s, template %s, have:\n%s", replicas, web.UID, image, hash, describePods(t, cs, ns))
	}
	all, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all.Items {
		if p.DeletionTimestamp == nil && metav1.GetControllerOf(&p) == nil {
			t.Errorf("pod %s was left without a controller", p.Name)
		}
	}
	return &web
}

func describePods(t *testing.T, cs kubernetes.Interface, ns string) string {
	var b strings.Builder
	all, _ := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	for _, p := range all.Items {
		fmt.Fprintf(&b, "  pod %s image %s ready %v deleting %v hash %q owners %v\n", p.Name, p.Spec.Containers[0].Image, podReady(&p),
			p.DeletionTimestamp != nil, p.Labels[hashLabel], p.OwnerReferences)
	}
	rcs, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
	for _, rc := range rcs.Items {
		fmt.Fprintf(&b, "  rc %s replicas %d ready %d selector %v annotations %v\n", rc.Name, *rc.Spec.Replicas, rc.Status.ReadyReplicas, rc.Spec.Selector, rc.Annotations)
	}
	return b.String()
}

// leaseOf returns the app's deploy Lease, nil when there is none.
func leaseOf(t *testing.T, cs kubernetes.Interface, ns string) *coordinationv1.Lease {
	t.Helper()
	l, err := cs.CoordinationV1().Leases(ns).Get(t.Context(), leasePrefix+"web", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// leaseHeld reports whether a deploy holds the app's Lease.
func leaseHeld(t *testing.T, cs kubernetes.Interface, ns string) bool {
	l := leaseOf(t, cs, ns)
	return l != nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != ""
}

// setOverlay replaces the dev overlay's kustomization.
func setOverlay(t *testing.T, dir, kustomization string) {
	t.Helper()
	writeProjectFile(t, filepath.Join(dir, "apps/web/overlays/dev/kustomization.yaml"), kustomization)
}

// podNamed matches a pod of the app in an error line.
var podNamed = regexp.MustCompile(`\bweb-([a-z0-9]+-)?[a-z0-9]{5}\b`)

func TestRCUpdateKeepsOneControllerAndIsReadyWhenDeployExits(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)

	r := deploy(t, dir)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web created") {
		t.Fatalf("first deploy should create web:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 4)
	created := assertSettled(t, cs, ns, 4, "nginx:1.27")
	if _, ok := created.Spec.Template.Labels[hashLabel]; !ok {
		t.Fatalf("the created template has no %s label: %v", hashLabel, created.Spec.Template.Labels)
	}

	counter := watchReady(t, cs, ns)
	counter.start()
	r = deploy(t, dir, "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "1")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled out") {
		t.Fatalf("the new image should roll out:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 4)
	web := assertSettled(t, cs, ns, 4, "nginx:1.28")
	if got := counter.min(); got < 3 {
		t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 3", got)
	}
	if web.UID != created.UID {
		t.Errorf("the update replaced the controller (uid %s -> %s); one controller should serve the app for life", created.UID, web.UID)
	}
	if !maps.Equal(web.Spec.Selector, created.Spec.Selector) {
		t.Errorf("the update changed the selector: %v -> %v", created.Spec.Selector, web.Spec.Selector)
	}
	revs := revisionsOf(t, web)
	if len(revs) == 0 || revs[0].image() != "nginx:1.27" || revs[0].Hash != created.Spec.Template.Labels[hashLabel] {
		t.Errorf("%s should record the previous template first, with \"hash\": %q and \"images\": [\"nginx:1.27\"]: %s", annRevisions, created.Spec.Template.Labels[hashLabel], web.Annotations[annRevisions])
	}

	// An update with surge only: no pod may ever be missing.
	counter.start()
	r = deploy(t, dir, "--image", "nginx:1.29", "--max-surge", "50%", "--max-unavailable", "0")
	if r.ExitCode != 0 {
		t.Fatalf("second update:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 4)
	assertSettled(t, cs, ns, 4, "nginx:1.29")
	if got := counter.min(); got < 4 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}
}

func TestRCPauseAfterThenContinueOrRollback(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 6)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	counter := watchReady(t, cs, ns)
	counter.start()
	args := []string{"--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0"}
	r := deploy(t, dir, append(args, "--pause-after", "2")...)
	out := r.Stdout + r.Stderr
	if r.ExitCode != 0 || !strings.Contains(out, "paused") || !strings.Contains(out, "--continue") || !strings.Contains(out, "--rollback") {
		t.Fatalf("--pause-after 2 should stop, exit 0 and say how to continue or undo:\n%s", r)
	}
	paused := func(image string) {
		t.Helper()
		rc := getRC(t, cs, ns)
		var u struct {
			Desired    int  `json:"desired"`
			Paused     bool `json:"paused"`
			PauseAfter int  `json:"pauseAfter"`
		}
		if err := json.Unmarshal([]byte(rc.Annotations[annUpdate]), &u); err != nil || !u.Paused || u.PauseAfter != 2 || u.Desired != 6 {
			t.Errorf("annotation %s = %q, want a paused update of 6 after 2", annUpdate, rc.Annotations[annUpdate])
		}
		hash := rc.Spec.Template.Labels[hashLabel]
		fresh, old := 0, 0
		for _, p := range appPods(t, cs, ns) {
			switch {
			case p.Labels[hashLabel] == hash && p.Spec.Containers[0].Image == image && podReady(&p):
				fresh++
			case p.Labels[hashLabel] != hash:
				old++
			}
		}
		if fresh < 2 || old == 0 {
			t.Errorf("paused after 2: %d Ready new pods and %d old ones, want at least 2 and some old\n%s", fresh, old, describePods(t, cs, ns))
		}
	}
	paused("nginx:1.28")

	// The flags are given again: the recorded update holds no surge.
	r = deploy(t, dir, "--continue", "--max-surge", "1", "--max-unavailable", "0")
	if r.ExitCode != 0 {
		t.Fatalf("--continue should finish the update:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 6)
	assertSettled(t, cs, ns, 6, "nginx:1.28")

	// Paused again, on the next image: --rollback returns to nginx:1.28.
	r = deploy(t, dir, "--image", "nginx:1.29", "--max-surge", "1", "--max-unavailable", "0", "--pause-after", "2")
	if r.ExitCode != 0 {
		t.Fatalf("second paused update:\n%s", r)
	}
	paused("nginx:1.29")
	r = deploy(t, dir, "--rollback", "--max-surge", "1", "--max-unavailable", "0")
	if r.ExitCode != 0 {
		t.Fatalf("--rollback of a paused update:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 6)
	assertSettled(t, cs, ns, 6, "nginx:1.28")
	if got := counter.min(); got < 6 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}
}

func TestRCUndoAfterASuccessfulUpdate(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	if r := deploy(t, dir, "--image", "nginx:1.28"); r.ExitCode != 0 {
		t.Fatalf("update:\n%s", r)
	}
	first := assertSettled(t, cs, ns, 4, "nginx:1.28")

	counter := watchReady(t, cs, ns)
	counter.start()
	r := deploy(t, dir, "--rollback", "--max-surge", "1", "--max-unavailable", "1")
	if r.ExitCode != 0 {
		t.Fatalf("--rollback after a successful update should undo it:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 4)
	undone := assertSettled(t, cs, ns, 4, "nginx:1.27")
	if undone.UID != first.UID {
		t.Errorf("the undo replaced the controller")
	}
	if revs := revisionsOf(t, undone); len(revs) == 0 || revs[0].image() != "nginx:1.28" {
		t.Errorf("after the undo, the newest recorded template should have \"image\": \"nginx:1.28\": %s", undone.Annotations[annRevisions])
	}
	// Twice: back to the newer template.
	r = deploy(t, dir, "--rollback", "--max-surge", "1", "--max-unavailable", "1")
	if r.ExitCode != 0 {
		t.Fatalf("a second --rollback should return to nginx:1.28:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 4)
	redone := assertSettled(t, cs, ns, 4, "nginx:1.28")
	if redone.Spec.Template.Labels[hashLabel] != first.Spec.Template.Labels[hashLabel] {
		t.Errorf("the template after undo and redo has hash %s, the original nginx:1.28 template %s", redone.Spec.Template.Labels[hashLabel], first.Spec.Template.Labels[hashLabel])
	}
	if got := counter.min(); got < 3 {
		t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 3", got)
	}
}

// Pods that fail, on the local clusters' kwok stages: a definite failure
// ends the update at once, a back-off after --failure-grace; the error names
// the pod and the reason, and the update is rolled back (exit 1), or left in
// place with --no-rollback (exit 3).
func TestRCFailsFastNamingThePodAndRollsBack(t *testing.T) {
	// A grace and a timeout this long are never reached: a case that
	// passes failed on the pod's state at once.
	const never = "30m"
	cases := []struct {
		name, image, grace, reason string
		overlay                    string
	}{
		{name: "image pull back-off after the grace", image: "registry.example/" + cluster.ImagePullBackOffWord + ":2", grace: "3s", reason: "ImagePullBackOff"},
		{name: "image not found at once", image: "registry.example/web:" + cluster.NotFoundWord, grace: never, reason: "ErrImagePull"},
		{name: "crash loop after the grace", image: "registry.example/" + cluster.CrashLoopWord + ":2", grace: "3s", reason: "CrashLoopBackOff"},
		{name: "no node matches at once", image: "nginx:1.28", grace: never, reason: "Unschedulable", overlay: `resources:
- ../../base
patches:
- target: {kind: ReplicationController, name: web}
  patch: |
    - op: add
      path: /spec/template/spec/nodeSelector
      value: {type: no-such-node}
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := clientset(t, devContext)
			ns := newNamespace(t, devContext)
			dir := deployProject(t, ns, "shop", 4)
			if r := deploy(t, dir); r.ExitCode != 0 {
				t.Fatalf("first deploy:\n%s", r)
			}
			before := assertSettled(t, cs, ns, 4, "nginx:1.27")
			if tc.overlay != "" {
				setOverlay(t, dir, tc.overlay)
			}
			counter := watchReady(t, cs, ns)
			counter.start()
			r := deploy(t, dir, "--image", tc.image, "--max-surge", "1", "--max-unavailable", "1", "--failure-grace", tc.grace, "--timeout", never)
			line := r.Stderr
			if r.ExitCode != 1 || !strings.Contains(line, tc.reason) || !podNamed.MatchString(line) || !strings.Contains(r.Stdout+r.Stderr, "rolled back") {
				t.Fatalf("want exit 1, an error naming a web pod and %s, and the update rolled back:\n%s", tc.reason, r)
			}
			if tc.overlay != "" {
				setOverlay(t, dir, "resources:\n- ../../base\n")
			}
			after := assertSettled(t, cs, ns, 4, "nginx:1.27")
			if after.Spec.Template.Labels[hashLabel] != before.Spec.Template.Labels[hashLabel] {
				t.Errorf("rolled back to template %s, the previous was %s", after.Spec.Template.Labels[hashLabel], before.Spec.Template.Labels[hashLabel])
			}
			if got := counter.min(); got < 3 {
				t.Errorf("Ready pods fell to %d during the failed update and its rollback, below desired-maxUnavailable = 3", got)
			}
			if leaseHeld(t, cs, ns) {
				t.Errorf("the failed deploy did not release its Lease")
			}
		})
	}

	t.Run("left in place with --no-rollback, then rolled back on request", func(t *testing.T) {
		cs := clientset(t, devContext)
		ns := newNamespace(t, devContext)
		dir := deployProject(t, ns, "shop", 4)
		if r := deploy(t, dir); r.ExitCode != 0 {
			t.Fatalf("first deploy:\n%s", r)
		}
		counter := watchReady(t, cs, ns)
		counter.start()
		r := deploy(t, dir, "--image", "registry.example/web:"+cluster.NotFoundWord, "--max-surge", "1", "--max-unavailable", "1", "--no-rollback")
		if r.ExitCode != 3 || !podNamed.MatchString(r.Stderr) || !strings.Contains(r.Stderr, "ErrImagePull") {
			t.Fatalf("a definite failure with --no-rollback should exit 3 naming the pod:\n%s", r)
		}
		rc := getRC(t, cs, ns)
		if _, ok := rc.Annotations[annUpdate]; !ok {
			t.Errorf("the update left in place should be recorded in %s: %v", annUpdate, rc.Annotations)
		}
		if l, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{}); len(l.Items) != 1 {
			t.Errorf("the update left in place should keep one controller, have %d", len(l.Items))
		}
		r = deploy(t, dir, "--rollback")
		if r.ExitCode != 0 {
			t.Fatalf("--rollback of the update left in place:\n%s", r)
		}
		assertReadyAtExit(t, cs, ns, 4)
		assertSettled(t, cs, ns, 4, "nginx:1.27")
		if got := counter.min(); got < 3 {
			t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 3", got)
		}
	})
}

// deployKilledWhen runs deploy in the background and kills it with SIGKILL
// as soon as cond holds on the cluster, as the test's watch of the
// namespace's pods and controllers sees it. It reports whether the kill
// landed before the deploy ended by itself.
func deployKilledWhen(t *testing.T, dir string, cs kubernetes.Interface, ns string, cond func(rc *corev1.ReplicationController, pods []*corev1.Pod) bool, args ...string) bool {
	t.Helper()
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
	pods := f.Core().V1().Pods()
	rcs := f.Core().V1().ReplicationControllers()
	podInf, rcInf := pods.Informer(), rcs.Informer()
	stop := make(chan struct{})
	defer func() { close(stop); f.Shutdown() }()
	f.Start(stop)
	if !cache.WaitForCacheSync(stop, podInf.HasSynced, rcInf.HasSynced) {
		t.Fatal("the watch did not sync")
	}
	cmd := exec.Command(filepath.Join(pathDir, "kubectl"), append([]string{"envops", "deploy"}, args...)...)
	cmd.Dir, cmd.Env = dir, commandEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			t.Logf("deploy ended before the kill point:\n%s", out.String())
			return false
		case <-tick.C:
		}
		rc, err := rcs.Lister().ReplicationControllers(ns).Get("web")
		if err != nil {
			continue
		}
		all, _ := pods.Lister().Pods(ns).List(labels.Everything())
		if cond(rc, all) {
			// kubectl execs the plugin, so its pid is the plugin's.
			killed := cmd.Process.Signal(syscall.SIGKILL) == nil
			<-done
			return killed
		}
	}
}

func TestRCKillNineAtTenRandomPointsThenResume(t *testing.T) {
	const replicas = 10
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", replicas)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	before := assertSettled(t, cs, ns, replicas, "nginx:1.27")
	counter := watchReady(t, cs, ns)
	counter.start()

	// Progress of the update as the cluster shows it: new-image pods that
	// exist plus those that are Ready, 0 .. 2*replicas. Ten distinct
	// thresholds drawn at random, in order, are the kill points.
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	points := rng.Perm(2*replicas - 1)[:10]
	for i := range points {
		points[i]++
	}
	sort.Ints(points)
	t.Logf("kill points (seed %d): %v", seed, points)
	progress := func(pods []*corev1.Pod) int {
		n := 0
		for _, p := range pods {
			if p.DeletionTimestamp != nil || p.Spec.Containers[0].Image != "nginx:1.28" {
				continue
			}
			n++
			if podReady(p) {
				n++
			}
		}
		return n
	}
	args := []string{"web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "1"}
	landed := 0
	for _, at := range points {
		killed := deployKilledWhen(t, dir, cs, ns, func(_ *corev1.ReplicationController, pods []*corev1.Pod) bool {
			return progress(pods) >= at
		}, args...)
		// A kill inside the update leaves old pods behind; once the update
		// is done the remaining points kill deploys that have nothing to do.
		if killed && len(appPods(t, cs, ns)) > len(readyUIDsOnImage(t, cs, ns, "nginx:1.28")) {
			landed++
		}
	}
	t.Logf("%d of 10 kills landed inside the update", landed)
	if landed < 5 {
		t.Errorf("only %d of 10 kills landed inside the update (points %v)", landed, points)
	}
	r := runKubectl(t, dir, "", append([]string{"envops", "deploy"}, args...)...)
	if r.ExitCode != 0 {
		t.Fatalf("the deploy after the kills should finish the update:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, replicas)
	web := assertSettled(t, cs, ns, replicas, "nginx:1.28")
	if got := counter.min(); got < replicas-1 {
		t.Errorf("Ready pods fell to %d across the kills, below desired-maxUnavailable = %d", got, replicas-1)
	}
	// The same end state as an update never interrupted: the same
	// controller, the previous template recorded once, nothing else.
	if web.UID != before.UID {
		t.Errorf("the controller was replaced")
	}
	revs := revisionsOf(t, web)
	if len(revs) != 1 || revs[0].image() != "nginx:1.27" || revs[0].Hash != before.Spec.Template.Labels[hashLabel] {
		t.Errorf("after one update, interrupted or not, %s should hold exactly the nginx:1.27 template (\"hash\": %q, \"image\": \"nginx:1.27\"): %s", annRevisions, before.Spec.Template.Labels[hashLabel], web.Annotations[annRevisions])
	}
	if leaseHeld(t, cs, ns) {
		t.Errorf("the finished deploy did not release its Lease")
	}
}

// The previous release, built from git once per run.
var previous struct {
	once sync.Once
	bin  string
	err  error
}

// previousReleaseCommit is the last release whose updater used two
// controllers, a "deployment" selector key and a rename.
const previousReleaseCommit = "54acfbe"

// previousRelease builds the previous release's plugin from git into the
// run's work directory, once.
func previousRelease(t *testing.T) string {
	t.Helper()
	previous.once.Do(func() {
		src := filepath.Join(workDir, "previous-release")
		if err := os.MkdirAll(src, 0o755); err != nil {
			previous.err = err
			return
		}
		extract := exec.Command("sh", "-c", "git archive --format=tar "+previousReleaseCommit+" | tar -x -C \""+src+"\"")
		extract.Dir = repoRoot()
		if out, err := extract.CombinedOutput(); err != nil {
			previous.err = fmt.Errorf("extract %s: %v\n%s", previousReleaseCommit, err, out)
			return
		}
		bin := filepath.Join(workDir, "previous-bin", "kubectl-envops")
		build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/kubectl-envops")
		build.Dir = src
		build.Env = goBuildEnv()
		if out, err := build.CombinedOutput(); err != nil {
			previous.err = fmt.Errorf("build %s: %v\n%s", previousReleaseCommit, err, out)
			return
		}
		previous.bin = bin
	})
	if previous.err != nil {
		t.Fatalf("the previous release: %v", previous.err)
	}
	return previous.bin
}

// runPrevious runs the previous release's plugin in the project.
func runPrevious(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(previousRelease(t), args...)
	cmd.Dir, cmd.Env = dir, commandEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), ExitCode: code}
}

// previousKilledWhen runs the previous release's deploy and kills it with
// SIGKILL once cond holds on the namespace's controllers.
func previousKilledWhen(t *testing.T, dir string, cs kubernetes.Interface, ns string, cond func([]corev1.ReplicationController) bool, args ...string) {
	t.Helper()
	cmd := exec.Command(previousRelease(t), append([]string{"deploy"}, args...)...)
	cmd.Dir, cmd.Env = dir, commandEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	for {
		select {
		case <-done:
			t.Fatalf("the previous release's deploy ended before the kill point:\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		l, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
		if err == nil && cond(l.Items) {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			return
		}
	}
}

// readyUIDsOnImage lists the Ready app pods running image.
func readyUIDsOnImage(t *testing.T, cs kubernetes.Interface, ns, image string) []string {
	t.Helper()
	var uids []string
	for _, p := range appPods(t, cs, ns) {
		if p.Spec.Containers[0].Image == image && podReady(&p) {
			uids = append(uids, string(p.UID))
		}
	}
	slices.Sort(uids)
	return uids
}

func TestRCTakesOverWhatThePreviousReleaseLeft(t *testing.T) {
	const replicas = 4
	t.Run("an update in flight, two controllers", func(t *testing.T) {
		cs := clientset(t, devContext)
		ns := newNamespace(t, devContext)
		dir := deployProject(t, ns, "shop", replicas)
		if r := runPrevious(t, dir, "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
			t.Fatalf("the previous release's first deploy:\n%s", r)
		}
		waitFor(t, time.Minute, "the previous release's pods Ready", func() bool {
			return len(readyUIDsOnImage(t, cs, ns, "nginx:1.27")) == replicas
		})
		// Killed with two new pods Ready under the second controller and
		// old pods still running under the first.
		previousKilledWhen(t, dir, cs, ns, func(rcs []corev1.ReplicationController) bool {
			var web, next *corev1.ReplicationController
			for i := range rcs {
				if rcs[i].Name == "web" {
					web = &rcs[i]
				} else if strings.HasPrefix(rcs[i].Name, "web-") {
					next = &rcs[i]
				}
			}
			return web != nil && next != nil && next.Status.ReadyReplicas >= 2 && web.Status.ReadyReplicas >= 1
		}, "web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0", "--update-period", "1s")
		rcs, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(rcs.Items) != 2 {
			t.Fatalf("the previous release should leave two controllers in flight: %v\n%s", err, describePods(t, cs, ns))
		}
		for _, rc := range rcs.Items {
			if _, ok := rc.Spec.Selector[previousSelectorKey]; !ok {
				t.Fatalf("controller %s of the previous release has no %q selector key: %v", rc.Name, previousSelectorKey, rc.Spec.Selector)
			}
		}
		kept := readyUIDsOnImage(t, cs, ns, "nginx:1.28")

		counter := watchReady(t, cs, ns)
		counter.start()
		r := deploy(t, dir, "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0")
		if r.ExitCode != 0 {
			t.Fatalf("the new deploy should take over the update in flight:\n%s\n%s", r, describePods(t, cs, ns))
		}
		assertReadyAtExit(t, cs, ns, replicas)
		assertSettled(t, cs, ns, replicas, "nginx:1.28")
		now := podUIDs(appPods(t, cs, ns))
		for _, uid := range kept {
			if !slices.Contains(now, uid) {
				t.Errorf("pod %s already ran nginx:1.28 and was restarted by the take-over (before %v, after %v)", uid, kept, now)
			}
		}
		if got := counter.min(); got < replicas {
			t.Errorf("Ready pods fell to %d with max unavailable 0", got)
		}
	})

	t.Run("a finished update, the selector still holds the hash key", func(t *testing.T) {
		cs := clientset(t, devContext)
		ns := newNamespace(t, devContext)
		dir := deployProject(t, ns, "shop", replicas)
		if r := runPrevious(t, dir, "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
			t.Fatalf("the previous release's first deploy:\n%s", r)
		}
		if r := runPrevious(t, dir, "deploy", "web", "--env", "dev", "--image", "nginx:1.28"); r.ExitCode != 0 {
			t.Fatalf("the previous release's update:\n%s", r)
		}
		old := getRC(t, cs, ns)
		if _, ok := old.Spec.Selector[previousSelectorKey]; !ok {
			t.Fatalf("the previous release's update should leave the %q key in the selector: %v", previousSelectorKey, old.Spec.Selector)
		}
		waitFor(t, time.Minute, "the previous release's pods Ready", func() bool {
			return len(readyUIDsOnImage(t, cs, ns, "nginx:1.28")) == replicas
		})
		kept := readyUIDsOnImage(t, cs, ns, "nginx:1.28")

		counter := watchReady(t, cs, ns)
		counter.start()
		r := deploy(t, dir, "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0")
		if r.ExitCode != 0 {
			t.Fatalf("the new deploy of the same image should take the controller over:\n%s", r)
		}
		assertReadyAtExit(t, cs, ns, replicas)
		web := assertSettled(t, cs, ns, replicas, "nginx:1.28")
		if got := podUIDs(appPods(t, cs, ns)); !slices.Equal(got, kept) {
			t.Errorf("the take-over restarted pods that already ran the template: %v -> %v", kept, got)
		}
		if got := counter.min(); got < replicas {
			t.Errorf("Ready pods fell to %d during the take-over", got)
		}
		want := maps.Clone(old.Spec.Selector)
		delete(want, previousSelectorKey)
		if !maps.Equal(web.Spec.Selector, want) {
			t.Errorf("selector after the take-over %v, want %v", web.Spec.Selector, want)
		}

		// The taken-over controller updates like any other.
		counter.start()
		if r := deploy(t, dir, "--image", "nginx:1.29", "--max-surge", "1", "--max-unavailable", "0"); r.ExitCode != 0 {
			t.Fatalf("an update after the take-over:\n%s", r)
		}
		assertReadyAtExit(t, cs, ns, replicas)
		assertSettled(t, cs, ns, replicas, "nginx:1.29")
		if got := counter.min(); got < replicas {
			t.Errorf("Ready pods fell to %d with max unavailable 0", got)
		}
	})
}

func TestRCWithHostPortDoesNotSurge(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 3)
	// One pod per node: a surge pod could not be placed anywhere.
	port := 30000 + time.Now().UnixNano()%2000
	setOverlay(t, dir, fmt.Sprintf(`resources:
- ../../base
patches:
- target: {kind: ReplicationController, name: web}
  patch: |
    - op: add
      path: /spec/template/spec/containers/0/ports
      value: [{containerPort: 80, hostPort: %d}]
`, port))
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	counter := watchReady(t, cs, ns)
	counter.start()
	r := deploy(t, dir, "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "1")
	if r.ExitCode != 0 {
		t.Fatalf("rolling update with a hostPort:\n%s\n%s", r, describePods(t, cs, ns))
	}
	if !strings.Contains(r.Stdout+r.Stderr, fmt.Sprintf("hostPort %d", port)) {
		t.Errorf("the switch to max surge 0 was not reported:\n%s", r)
	}
	assertReadyAtExit(t, cs, ns, 3)
	assertSettled(t, cs, ns, 3, "nginx:1.28")
	if got := counter.min(); got < 2 {
		t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 2", got)
	}
}

// kubectl scale during an update is kept: the update heads for the new
// count, says so, and ends with that many pods on the new template.
func TestRCKeepsAScalingMadeDuringTheUpdate(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)
	if r := deploy(t, dir); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	wait := startDeploy(t, dir, "web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0", "--update-period", "2s")
	waitFor(t, time.Minute, "the update to start", func() bool {
		return getRC(t, cs, ns).Annotations[annUpdate] != ""
	})
	if r := runKubectl(t, dir, "", "--context", devContext, "-n", ns, "scale", "rc", "web", "--replicas", "8"); r.ExitCode != 0 {
		t.Fatal(r)
	}
	r := wait()
	if r.ExitCode != 0 {
		t.Fatalf("the update should finish with the new count:\n%s", r)
	}
	if !strings.Contains(r.Stdout, "was scaled to 8 replicas by someone else during the update") {
		t.Errorf("the deploy did not say it kept the scaling:\n%s", r.Stdout)
	}
	assertSettled(t, cs, ns, 8, "nginx:1.28")
}
