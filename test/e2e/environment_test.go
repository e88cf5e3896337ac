package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// envApp is one app of an environment project: its tier, the apps it
// needs and the image its dev overlay renders.
type envApp struct {
	name, tier, image string
	replicas          int
	extra             string // more resources of the overlay, YAML documents
}

// envProject writes a project whose dev environment is namespace ns of the
// dev cluster, with apps and needs; it returns the project directory.
func envProject(t *testing.T, ns string, needs string, apps ...envApp) string {
	t.Helper()
	dir := t.TempDir()
	writeProjectFile(t, filepath.Join(dir, ".envops.yaml"), fmt.Sprintf("environments:\n  dev: {context: %s, namespace: %s}\n%s", devContext, ns, needs))
	for _, a := range apps {
		setEnvApp(t, dir, a)
	}
	return dir
}

// setEnvApp writes (or rewrites) one app of an environment project.
func setEnvApp(t *testing.T, dir string, a envApp) {
	t.Helper()
	if a.replicas == 0 {
		a.replicas = 2
	}
	base := filepath.Join(dir, "apps", a.name, "base")
	writeProjectFile(t, filepath.Join(base, "kustomization.yaml"), fmt.Sprintf("resources:\n- rc.yaml\nlabels:\n- pairs: {app: %s, tier: %s, role: server}\n  includeTemplates: true\n", a.name, a.tier))
	writeProjectFile(t, filepath.Join(base, "rc.yaml"), fmt.Sprintf("apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: %s\nspec:\n  replicas: %d\n  template:\n    spec:\n      containers:\n      - name: %s\n        image: nginx:1.27\n", a.name, a.replicas, a.name))
	overlay := filepath.Join(dir, "apps", a.name, "overlays", "dev")
	resources := "resources:\n- ../../base\n"
	if a.extra != "" {
		resources += "- extra.yaml\n"
		writeProjectFile(t, filepath.Join(overlay, "extra.yaml"), a.extra)
	}
	writeProjectFile(t, filepath.Join(overlay, "kustomization.yaml"), resources+fmt.Sprintf("images:\n- name: nginx\n  newName: %s\n", strings.Split(a.image, ":")[0])+
		fmt.Sprintf("  newTag: %q\n", strings.Split(a.image, ":")[1]))
}

// appLines are the per-app results of a deploy run with -o jsonl.
func appLines(t *testing.T, r result) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil || m["type"] != "app" {
			continue
		}
		out[m["app"].(string)] = m
	}
	return out
}

func rcImage(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		return "none"
	}
	return rc.Spec.Template.Spec.Containers[0].Image
}

// resourceVersions are the resourceVersions of every ReplicationController,
// ConfigMap, Secret, Lease and Event of the namespace, by kind and name.
func resourceVersions(t *testing.T, cs kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	rcs, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rcs.Items {
		out["rc/"+o.Name] = o.ResourceVersion
	}
	cms, _ := cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{})
	for _, o := range cms.Items {
		out["cm/"+o.Name] = o.ResourceVersion
	}
	secrets, _ := cs.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
	for _, o := range secrets.Items {
		out["secret/"+o.Name] = o.ResourceVersion
	}
	leases, _ := cs.CoordinationV1().Leases(ns).List(t.Context(), metav1.ListOptions{})
	for _, o := range leases.Items {
		out["lease/"+o.Name] = o.ResourceVersion
	}
	events, _ := cs.CoreV1().Events(ns).List(t.Context(), metav1.ListOptions{FieldSelector: "reason=Deployed"})
	out["deploy events"] = fmt.Sprint(len(events.Items))
	return out
}

// The environment as the unit: every app of a project deployed in the
// order of its needs; a failing app stops the apps that need it and
// nothing else; an interrupted run finishes on the next; a run with
// nothing to do writes nothing; -l chooses apps by their labels.
func TestDeployAllOrdersAppsAndStopsWhatNeedsAFailure(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	declareEnvironment(t, devContext, ns, "dev")
	needs := "needs:\n  web: [api]\n  api: [db]\n"
	apps := []envApp{
		{name: "db", tier: "backend", image: "nginx:1.27"},
		{name: "api", tier: "backend", image: "nginx:1.27"},
		{name: "web", tier: "frontend", image: "nginx:1.27"},
		{name: "cache", tier: "backend", image: "nginx:1.27"},
		{name: "front", tier: "frontend", image: "nginx:1.27"},
	}
	dir := envProject(t, ns, needs, apps...)

	r := runKubectl(t, dir, "", "envops", "deploy", "--all", "--env", "dev", "-o", "jsonl")
	if r.ExitCode != 0 {
		t.Fatalf("the first deploy of every app should succeed:\n%s", r)
	}
	for _, a := range apps {
		if got := appLines(t, r)[a.name]; got == nil || got["result"] != "deployed" {
			t.Errorf("app %s: %v, want deployed", a.name, got)
		}
	}

	// api's new image does not exist: api fails and rolls back, web (which
	// needs api) is not started, the others finish.
	for i := range apps {
		apps[i].image = "nginx:1.28"
	}
	apps[1].image = "registry.example.com/notfound:1"
	for _, a := range apps {
		setEnvApp(t, dir, a)
	}
	webBefore := resourceVersions(t, cs, ns)["rc/web"]
	r = runKubectl(t, dir, "", "envops", "deploy", "--all", "--env", "dev", "--failure-grace", "5s")
	if r.ExitCode != 1 {
		t.Fatalf("a failed app rolled back should exit 1:\n%s", r)
	}
	for _, want := range []string{
		"api     failed, rolled back",
		"web     not started",
		"needs api, which failed",
		"db      deployed",
		"cache   deployed",
		"front   deployed",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("the summary lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, "1 of 5 apps failed (api), 1 not started (web)") {
		t.Errorf("the error line should name the failed and the not started apps:\n%s", r.Stderr)
	}
	for app, want := range map[string]string{"api": "nginx:1.27", "web": "nginx:1.27", "db": "nginx:1.28", "cache": "nginx:1.28", "front": "nginx:1.28"} {
		if got := rcImage(t, cs, ns, app); got != want {
			t.Errorf("%s runs %s, want %s", app, got, want)
		}
	}
	if got := resourceVersions(t, cs, ns)["rc/web"]; got != webBefore {
		t.Errorf("web was written (resourceVersion %s -> %s) although it was not started", webBefore, got)
	}

	// api fixed, and slow to roll: the run is killed in the middle of api's
	// update; the same command run again finishes api, then web.
	apps[1].image, apps[1].replicas = "nginx:1.28", 6
	setEnvApp(t, dir, apps[1])
	cmd := exec.Command(filepath.Join(pathDir, "kubectl"), "envops", "deploy", "--all", "--env", "dev", "--update-period", "1s", "--max-surge", "1", "--max-unavailable", "0")
	cmd.Dir, cmd.Env = dir, commandEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "api's update to be under way", func() bool {
		rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "api", metav1.GetOptions{})
		return err == nil && rc.Annotations[annUpdate] != "" && rc.Status.Replicas > 2
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	t.Logf("killed:\n%s", out.String())
	if rcImage(t, cs, ns, "web") != "nginx:1.27" {
		t.Fatal("web started before api's update finished")
	}
	r = runKubectl(t, dir, "", "envops", "deploy", "--all", "--env", "dev", "-o", "jsonl")
	if r.ExitCode != 0 {
		t.Fatalf("the same command after kill -9 should finish what was left:\n%s", r)
	}
	lines := appLines(t, r)
	for app, want := range map[string]string{"api": "deployed", "web": "deployed", "db": "unchanged", "cache": "unchanged", "front": "unchanged"} {
		if lines[app] == nil || lines[app]["result"] != want {
			t.Errorf("after the kill, app %s: %v, want %s", app, lines[app], want)
		}
	}
	for _, a := range []string{"db", "api", "web", "cache", "front"} {
		if got := rcImage(t, cs, ns, a); got != "nginx:1.28" {
			t.Errorf("%s runs %s after the resumed deploy, want nginx:1.28", a, got)
		}
	}

	// Nothing to do: every app unchanged, and nothing in the namespace
	// written (controllers, set parents, Secret, Leases, deploy Events).
	before := resourceVersions(t, cs, ns)
	r = runKubectl(t, dir, "", "envops", "deploy", "--all", "--env", "dev", "-o", "jsonl")
	if r.ExitCode != 0 {
		t.Fatalf("a deploy with nothing to do should succeed:\n%s", r)
	}
	for app, line := range appLines(t, r) {
		if line["result"] != "unchanged" {
			t.Errorf("app %s: %v, want unchanged", app, line)
		}
	}
	if after := resourceVersions(t, cs, ns); !maps.Equal(before, after) {
		t.Errorf("a deploy with nothing to do wrote to the cluster:\nbefore %v\nafter  %v", before, after)
	}

	// -l chooses exactly the apps whose overlays render tier=backend.
	r = runKubectl(t, dir, "", "envops", "deploy", "-l", "tier=backend", "--env", "dev", "-o", "jsonl")
	chosen := slices.Sorted(maps.Keys(appLines(t, r)))
	if r.ExitCode != 0 || !slices.Equal(chosen, []string{"api", "cache", "db"}) {
		t.Errorf("-l tier=backend deployed %v, want api, cache and db:\n%s", chosen, r)
	}
}

// What an app's overlay no longer renders is deleted after the app's next
// successful rollout, and only then; --prune=false keeps it; what is not
// in the app's set is never touched.
func TestDeployPrunesWhatLeftTheOverlay(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	declareEnvironment(t, devContext, ns, "dev")
	extra := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-extra\ndata:\n  a: \"1\"\n"
	web := envApp{name: "web", tier: "frontend", image: "nginx:1.27", extra: extra}
	dir := envProject(t, ns, "", web)
	// Not the app's: a ConfigMap made by hand beside it.
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "by-hand"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	r := runKubectl(t, dir, "", "get", "--context", devContext, "-n", ns, "configmap", "envops-applyset-web",
		"-o", `jsonpath={.metadata.labels.applyset\.kubernetes\.io/id} {.metadata.annotations.applyset\.kubernetes\.io/contains-group-kinds}`)
	if r.ExitCode != 0 || !strings.HasPrefix(r.Stdout, "applyset-") || !strings.HasSuffix(r.Stdout, " ConfigMap,ReplicationController") {
		t.Fatalf("kubectl get of the set's parent should show its id and its kinds:\n%s", r)
	}
	r = runKubectl(t, dir, "", "get", "--context", devContext, "-n", ns, "configmap,replicationcontroller", "-l", "applyset.kubernetes.io/part-of", "-o", "name")
	if r.Stdout != "configmap/web-extra\nreplicationcontroller/web\n" {
		t.Errorf("kubectl finds these members of the set:\n%s", r)
	}

	exists := func(name string) bool {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	// The ConfigMap leaves the overlay together with a broken image: the
	// rollout fails and is rolled back, and nothing is pruned.
	web.extra, web.image = "", "registry.example.com/notfound:1"
	setEnvApp(t, dir, web)
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--failure-grace", "5s")
	if r.ExitCode != 1 || strings.Contains(r.Stdout, "pruned") || !exists("web-extra") {
		t.Fatalf("a failed rollout must prune nothing:\n%s", r)
	}
	// Fixed, but with --prune=false: the ConfigMap stays.
	web.image = "nginx:1.28"
	setEnvApp(t, dir, web)
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--prune=false")
	if r.ExitCode != 0 || !exists("web-extra") {
		t.Fatalf("--prune=false should keep what left the overlay:\n%s", r)
	}
	// --dry-run and --diff show the deletion, and change nothing.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--dry-run")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ConfigMap/web-extra would be pruned (dry run)") || !exists("web-extra") {
		t.Fatalf("--dry-run should say what it would prune:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--diff")
	if r.ExitCode != 1 || !strings.Contains(r.Stdout, "-  name: web-extra") || !exists("web-extra") {
		t.Fatalf("--diff should show the ConfigMap going and exit 1:\n%s", r)
	}
	// The next deploy prunes it, after the rollout (here: none needed).
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ConfigMap/web-extra pruned") || exists("web-extra") {
		t.Fatalf("the deploy should prune what left the overlay:\n%s", r)
	}
	if !exists("by-hand") {
		t.Error("a ConfigMap outside the set was deleted")
	}
	if _, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "environment", metav1.GetOptions{}); err != nil {
		t.Errorf("the environment Secret is gone: %v", err)
	}
	r = runKubectl(t, dir, "", "get", "--context", devContext, "-n", ns, "configmap", "envops-applyset-web", "-o", `jsonpath={.metadata.annotations.applyset\.kubernetes\.io/contains-group-kinds}`)
	if r.Stdout != "ReplicationController" {
		t.Errorf("after the prune the set's parent should list only ReplicationController:\n%s", r)
	}
}

// status compares what runs with what the overlays render: a change made
// by hand is drift until the next deploy.
func TestStatusShowsDriftUntilTheNextDeploy(t *testing.T) {
	ns := newNamespace(t, devContext)
	declareEnvironment(t, devContext, ns, "dev")
	dir := envProject(t, ns, "", envApp{name: "web", tier: "frontend", image: "nginx:1.27"})
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28"); r.ExitCode != 0 {
		t.Fatalf("deploy:\n%s", r)
	}
	r := runKubectl(t, dir, "", "envops", "status", "web")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "DRIFT") || !strings.Contains(r.Stdout, "in sync") {
		t.Fatalf("right after a deploy (of an image given with --image) status should say in sync and exit 0:\n%s", r)
	}
	for _, args := range [][]string{{"scale", "rc", "web", "--replicas", "3"}, {"label", "rc", "web", "tier=oops", "--overwrite"}} {
		if k := runKubectl(t, dir, "", append([]string{"--context", devContext, "-n", ns}, args...)...); k.ExitCode != 0 {
			t.Fatal(k)
		}
	}
	r = runKubectl(t, dir, "", "envops", "status", "web")
	if r.ExitCode != 1 || !strings.Contains(r.Stdout, "labels.tier oops (want frontend)") || !strings.Contains(r.Stdout, "replicas 3 (want 2)") {
		t.Fatalf("after kubectl scale and label, status should show the drift and exit 1:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "status", "web", "--diff")
	if !strings.Contains(r.Stdout, "metadata.labels.tier: oops, overlay frontend") || !strings.Contains(r.Stdout, "spec.replicas: 3, overlay 2") {
		t.Errorf("status --diff should list each differing field:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "status", "web", "-o", "json")
	if rows := parseStatus(t, r); len(rows) != 1 || rows[0].Drift == "in sync" || rows[0].OK {
		t.Errorf("status -o json should carry the drift: %+v", rows)
	}
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28"); r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web updated") {
		t.Fatalf("deploy should put back what the overlay says:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "status", "web")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "in sync") {
		t.Fatalf("after deploy, status should say in sync and exit 0:\n%s", r)
	}
}

// A new cluster: init-env declares it, then one deploy brings every app
// up, namespaces included.
func TestNewEnvironmentFromNothing(t *testing.T) {
	cs := clientset(t, prodContext)
	suffix := strings.ToLower(fmt.Sprintf("%x", time.Now().UnixNano()))[8:]
	shop, jobs := "fresh-"+suffix, "fresh-jobs-"+suffix
	t.Cleanup(func() {
		for _, n := range []string{shop, jobs} {
			_ = cs.CoreV1().Namespaces().Delete(t.Context(), n, metav1.DeleteOptions{})
		}
	})
	dir := t.TempDir()
	writeProjectFile(t, filepath.Join(dir, ".envops.yaml"), fmt.Sprintf("environments:\n  prod: {context: %s, namespace: %s, confirm: true}\nneeds:\n  worker: [web]\n", prodContext, shop))
	writeProjectFile(t, filepath.Join(dir, "apps/web/base/kustomization.yaml"), "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: server}\n  includeTemplates: true\n")
	writeProjectFile(t, filepath.Join(dir, "apps/web/base/rc.yaml"), "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n")
	writeProjectFile(t, filepath.Join(dir, "apps/web/overlays/prod/kustomization.yaml"), "resources:\n- ../../base\n")
	// worker lives in a namespace of its own, which does not exist yet.
	writeProjectFile(t, filepath.Join(dir, "apps/worker/base/kustomization.yaml"), "resources:\n- rc.yaml\nlabels:\n- pairs: {app: worker, tier: backend, role: worker}\n  includeTemplates: true\n")
	writeProjectFile(t, filepath.Join(dir, "apps/worker/base/rc.yaml"), fmt.Sprintf("apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: worker\n  namespace: %s\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: worker\n        image: nginx:1.27\n", jobs))
	writeProjectFile(t, filepath.Join(dir, "apps/worker/overlays/prod/kustomization.yaml"), "resources:\n- ../../base\n")

	r := runKubectl(t, dir, "", "envops", "deploy", "--all", "--env", "prod", "--yes")
	if r.ExitCode != 2 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, `namespace "`+shop+`" not found`) ||
		!strings.Contains(r.Stderr, "kubectl envops init-env prod --create-namespace") || strings.Contains(r.Stdout, "starting") {
		t.Fatalf("deploy to a cluster not yet declared should stop before any app, in one line naming the namespace:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "init-env", "prod", "--create-namespace")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "namespace/"+shop+" created") {
		t.Fatalf("init-env --create-namespace should create the environment's namespace and declare it:\n%s", r)
	}
	r = runKubectl(t, dir, "", "envops", "deploy", "--all", "--env", "prod", "--create-namespace", "--yes")
	if r.ExitCode != 0 {
		t.Fatalf("deploy --all --create-namespace should bring every app up:\n%s", r)
	}
	if got := envSecretValue(t, cs, jobs); got != "prod" {
		t.Errorf("the namespace created for worker declares %q, want prod", got)
	}
	for name, ns := range map[string]string{"web": shop, "worker": jobs} {
		if got := rcImage(t, cs, ns, name); got != "nginx:1.27" {
			t.Errorf("%s in %s runs %s", name, ns, got)
		}
	}
}

// promote -n runs every step and every gate in that namespace, and passes
// the rollout flags to each deploy.
func TestPromoteHonoursTheNamespaceAndRolloutFlags(t *testing.T) {
	devCS, prodCS := clientset(t, devContext), clientset(t, prodContext)
	ns := newNamespace(t, devContext)
	prodNS, err := prodCS.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prodCS.CoreV1().Namespaces().Delete(t.Context(), prodNS.Name, metav1.DeleteOptions{}) })
	declareEnvironment(t, devContext, ns, "dev")
	declareEnvironment(t, prodContext, ns, "prod")
	dir := t.TempDir()
	// The project maps both environments to a namespace that -n overrides.
	writeProjectFile(t, filepath.Join(dir, ".envops.yaml"), fmt.Sprintf("environments:\n  dev: {context: %s, namespace: elsewhere}\n  prod: {context: %s, namespace: elsewhere, confirm: true}\n", devContext, prodContext))
	writeProjectFile(t, filepath.Join(dir, "apps/web/base/kustomization.yaml"), "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: server}\n  includeTemplates: true\n")
	writeProjectFile(t, filepath.Join(dir, "apps/web/base/rc.yaml"), "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: web\nspec:\n  replicas: 4\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n")
	for _, env := range []string{"dev", "prod"} {
		writeProjectFile(t, filepath.Join(dir, "apps/web/overlays", env, "kustomization.yaml"), "resources:\n- ../../base\n")
		if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", env, "-n", ns, "--yes"); r.ExitCode != 0 {
			t.Fatalf("deploy to %s:\n%s", env, r)
		}
	}
	r := runKubectl(t, dir, "", "envops", "promote", "web", "-n", ns, "--image", "nginx:1.28", "--yes", "--max-surge", "2", "--max-unavailable", "0")
	if r.ExitCode != 0 {
		t.Fatalf("promote -n should deploy and gate in that namespace of each cluster:\n%s", r)
	}
	if n := strings.Count(r.Stdout, "max surge 2, max unavailable 0"); n != 2 {
		t.Errorf("--max-surge 2 --max-unavailable 0 reached %d of the 2 deploys:\n%s", n, r.Stdout)
	}
	for env, cs := range map[string]kubernetes.Interface{"dev": devCS, "prod": prodCS} {
		if got := rcImage(t, cs, ns, "web"); got != "nginx:1.28" {
			t.Errorf("%s runs %s after the promotion, want nginx:1.28", env, got)
		}
	}
}
