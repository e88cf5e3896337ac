package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envops/kubectl-envops/test/cluster"
)

// exitResumable is deploy's exit code for an update left in place that a
// second run resumes.
const exitResumable = 3

// startDeploy runs "kubectl envops deploy" in the background and returns a
// function that waits for it to end.
func startDeploy(t *testing.T, dir string, args ...string) func() result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, filepath.Join(pathDir, "kubectl"), append([]string{"envops", "deploy"}, args...)...)
	cmd.Dir = dir
	cmd.Env = commandEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var once sync.Once
	var res result
	wait := func() result {
		once.Do(func() {
			defer cancel()
			err := cmd.Wait()
			res = result{Stdout: out.String(), Stderr: errb.String()}
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				res.ExitCode = ee.ExitCode()
			case err != nil:
				t.Errorf("deploy: %v", err)
				res.ExitCode = -1
			}
		})
		return res
	}
	t.Cleanup(func() { wait() })
	return wait
}

func TestFaultAPIServerOutageDuringRollingUpdate(t *testing.T) {
	// The test's own watch vouches for the floor only if it saw every
	// change of the pods. When the API server comes back it nearly always
	// watches again first (it retries every 50ms, the deploy's watches
	// every second); an attempt where it did not proves nothing either way,
	// so it is made again.
	const attempts = 3
	for i := 1; i <= attempts; i++ {
		unseen := outageDuringUpdate(t)
		if unseen == 0 {
			return
		}
		t.Logf("attempt %d: %d pod changes happened while the test's watch was down, so the floor is unproven; trying again", i, unseen)
	}
	t.Fatalf("in %d attempts, the test's watch never saw every pod change across the outage", attempts)
}

// outageDuringUpdate stops the API server in the middle of a rolling
// update, checks what the update left and that the Ready pods never fell
// below the floor while the test watched, and returns how many pod changes
// the test's watch missed.
func outageDuringUpdate(t *testing.T) int {
	t.Helper()
	cp := controlPlane(t, devContext)
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	declareDev(t, ns)
	const replicas = 12 // --max-unavailable 1 below: many steps, so the outage lands mid-update
	project := faultProject(t, replicas)
	deployArgs := func(image string) []string {
		return []string{"web", "--env", "dev", "-n", ns, "--image", image, "--yes", "--max-surge", "1", "--max-unavailable", "1",
			"--timeout", "2m", "--request-timeout", "20s"}
	}
	if r := runKubectl(t, project, "", append([]string{"envops", "deploy"}, deployArgs("registry.example.com/web:1.0")...)...); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}
	floor := watchReadySelector(t, cs, ns, "app=web")
	floor.start()
	if got := floor.min(); got != replicas {
		t.Fatalf("%d Ready pods before the update, want %d", got, replicas)
	}

	wait := startDeploy(t, project, deployArgs("registry.example.com/web:2.0")...)
	// Stop the API server once the update has written the new template
	// and a new pod exists.
	waitFor(t, 60*time.Second, "the update to start", func() bool {
		list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false
		}
		for _, p := range list.Items {
			if p.Spec.Containers[0].Image == "registry.example.com/web:2.0" {
				return true
			}
		}
		return false
	})
	if err := cp.StopComponent(cluster.KubeAPIServer); err != nil {
		t.Fatalf("stop the API server: %v", err)
	}
	time.Sleep(5 * time.Second)
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cp.StartComponent(sctx, cluster.KubeAPIServer); err != nil {
		t.Fatalf("start the API server again: %v", err)
	}

	r := wait()
	t.Logf("the deploy across the outage:\n%s", r)
	switch r.ExitCode {
	case 0:
		// The deploy told of the outage: as it began if a wait lived
		// through it, and as it ended in any case, with how long it lasted.
		lost := strings.Index(r.Stdout, "cannot reach the API server")
		back := strings.Index(r.Stdout, "the API server answers again after ")
		if back < 0 || back < lost {
			t.Errorf("the deploy did not tell of the outage:\n%s", r)
		}
	case exitResumable:
		t.Logf("the deploy stopped with the resume code; running it again:\n%s", r)
		if again := runKubectl(t, project, "", append([]string{"envops", "deploy"}, deployArgs("registry.example.com/web:2.0")...)...); again.ExitCode != 0 {
			t.Fatalf("the second run did not complete the update:\n%s", again)
		}
	default:
		t.Fatalf("the deploy neither completed nor stopped resumably across the outage:\n%s", r)
	}

	// One controller is left, with the original name, the new image and
	// every replica; nothing of the update is left behind.
	waitFor(t, 60*time.Second, "the app to settle", func() bool {
		list, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			return false
		}
		rc := list.Items[0]
		return rc.Name == "web" && rc.Spec.Template.Spec.Containers[0].Image == "registry.example.com/web:2.0" &&
			rc.Status.ReadyReplicas == replicas
	})
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range append([]string{annUpdate}, previousAnnotations...) {
		if v, ok := rc.Annotations[k]; ok {
			t.Errorf("the finished controller still carries %s=%q", k, v)
		}
	}
	if v, ok := rc.Spec.Selector[previousSelectorKey]; ok {
		t.Errorf("the selector holds %s=%s", previousSelectorKey, v)
	}
	pods, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.Name != "web" {
			t.Errorf("pod %s is not owned by the controller web (%v)", p.Name, ref)
		}
	}
	if got := floor.min(); got < replicas-1 {
		t.Errorf("Ready pods fell to %d during the update, below %d desired - 1 unavailable; %s", got, replicas, floor.story())
	}
	return floor.unseenChanges()
}

// faultProject is the project of generateProject with app web at
// replicas in dev: more pods mean more steps, so the outage lands in the
// middle of the update.
func faultProject(t *testing.T, replicas int) string {
	t.Helper()
	dir := t.TempDir()
	cfg := "environments:\n  dev: {context: " + devContext + "}\n"
	if err := os.WriteFile(filepath.Join(dir, ".envops.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runKubectl(t, dir, "", "envops", "new", "web", "--tier", "frontend", "--role", "server",
		"--image", "registry.example.com/web:1.0", "--replicas", fmt.Sprintf("dev=%d", replicas))
	if r.ExitCode != 0 {
		t.Fatalf("kubectl envops new failed:\n%s", r)
	}
	return dir
}
