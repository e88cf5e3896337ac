package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// historyEntry is one line of "kubectl envops history -o json".
type historyEntry struct {
	User        string `json:"user"`
	Time        string `json:"time"`
	Environment string `json:"environment"`
	Image       string `json:"image"`
	Cause       string `json:"cause"`
	Controller  string `json:"controller"`
	Revision    string `json:"revision"`
}

// adminUser is who the admin context authenticates as.
func adminUser(t *testing.T) string {
	t.Helper()
	review, err := clientset(t, devContext).AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return review.Status.UserInfo.Username
}

// historyProject scaffolds app web of kind in dev, with one replica.
func historyProject(t *testing.T, kind string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".envops.yaml"), []byte("environments:\n  dev: {context: "+devContext+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runKubectl(t, dir, "", "envops", "new", "web", "--tier", "frontend", "--role", "server", "--kind", kind,
		"--image", "registry.example.com/web:1.0", "--replicas", "dev=1")
	if r.ExitCode != 0 {
		t.Fatalf("kubectl envops new failed:\n%s", r)
	}
	return dir
}

func TestHistoryListsDeploysNewestFirst(t *testing.T) {
	user := adminUser(t)
	for _, kind := range []string{"ReplicationController", "Deployment"} {
		t.Run(kind, func(t *testing.T) {
			ns := newNamespace(t, devContext)
			declareDev(t, ns)
			project := historyProject(t, kind)
			deploy := func(image string, extra ...string) {
				t.Helper()
				args := append([]string{"envops", "deploy", "web", "--env", "dev", "-n", ns, "--image", image, "--yes", "--timeout", "2m"}, extra...)
				if r := runKubectl(t, project, "", args...); r.ExitCode != 0 {
					t.Fatalf("deploy %s:\n%s", image, r)
				}
			}
			deploy("registry.example.com/web:1.0", "--change-cause", "first release")
			deploy("registry.example.com/web:2.0")

			r := runKubectl(t, "", "", "envops", "history", "web", "--context", devContext, "-n", ns, "-o", "json")
			var entries []historyEntry
			if err := json.Unmarshal([]byte(r.Stdout), &entries); r.ExitCode != 0 || err != nil {
				t.Fatalf("history -o json (%v):\n%s", err, r)
			}
			if len(entries) != 2 {
				t.Fatalf("want the 2 deploys, got %d:\n%s", len(entries), r.Stdout)
			}
			newest, oldest := entries[0], entries[1]
			if newest.Image != "registry.example.com/web:2.0" || oldest.Image != "registry.example.com/web:1.0" {
				t.Errorf("images %s, %s; want web:2.0 then web:1.0", newest.Image, oldest.Image)
			}
			for _, e := range entries {
				if e.User != user || e.Environment != "dev" || e.Controller != kind+"/web" {
					t.Errorf("entry %+v, want user %s, environment dev, controller %s/web", e, user, kind)
				}
			}
			if oldest.Cause != "first release" {
				t.Errorf("the first deploy's cause is %q, want the --change-cause given", oldest.Cause)
			}
			if !strings.HasPrefix(newest.Cause, "kubectl envops deploy web") || !strings.Contains(newest.Cause, "--image=registry.example.com/web:2.0") {
				t.Errorf("the second deploy's cause is %q, want its command line", newest.Cause)
			}
			if kind == "Deployment" && (newest.Revision != "2" || oldest.Revision != "1") {
				t.Errorf("revisions %q, %q; want 2 then 1", newest.Revision, oldest.Revision)
			}

			text := runKubectl(t, "", "", "envops", "history", "web", "--context", devContext, "-n", ns)
			lines := strings.Split(strings.TrimSpace(text.Stdout), "\n")
			if text.ExitCode != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "DEPLOYED AT") ||
				!strings.Contains(lines[1], "web:2.0") || !strings.Contains(lines[2], "first release") {
				t.Errorf("want a header and the two deploys, newest first:\n%s", text)
			}
		})
	}
}

func TestHistoryOfAnAppNeverDeployed(t *testing.T) {
	ns := newNamespace(t, devContext)
	r := runKubectl(t, "", "", "envops", "history", "nothing-here", "--context", devContext, "-n", ns)
	if r.ExitCode != 0 || r.Stdout != "" || !strings.Contains(r.Stderr, `no deploys of app "nothing-here" recorded in namespace "`+ns+`"`) {
		t.Errorf("want a note and no table:\n%s", r)
	}
	r = runKubectl(t, "", "", "envops", "history", "nothing-here", "--context", devContext, "-n", ns, "-o", "json")
	var entries []historyEntry
	if err := json.Unmarshal([]byte(r.Stdout), &entries); r.ExitCode != 0 || err != nil || len(entries) != 0 {
		t.Errorf("want an empty JSON list (%v):\n%s", err, r)
	}
}

func TestAuditRecordsWhoChangedWhatAndWhy(t *testing.T) {
	user := adminUser(t)
	cs := clientset(t, devContext)
	managedBy := func(fields []metav1.ManagedFieldsEntry) bool {
		for _, f := range fields {
			if f.Manager == audit.FieldManager {
				return true
			}
		}
		return false
	}

	t.Run("init-env", func(t *testing.T) {
		ns := newNamespace(t, devContext)
		r := runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", ns, "--change-cause", "bootstrap the dev cluster")
		if r.ExitCode != 0 {
			t.Fatalf("init-env:\n%s", r)
		}
		s, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "environment", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Annotations[audit.DeployedBy] != user || s.Annotations[audit.Environment] != "dev" || s.Annotations[audit.ChangeCause] != "bootstrap the dev cluster" || !managedBy(s.ManagedFields) {
			t.Errorf("the Secret's record is %v (managed by %s: %v)", s.Annotations, audit.FieldManager, managedBy(s.ManagedFields))
		}
		// A second run changes nothing, the record included.
		again := runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", ns)
		if again.ExitCode != 0 || !strings.Contains(again.Stdout, "unchanged") {
			t.Fatalf("second init-env:\n%s", again)
		}
		after, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "environment", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != s.ResourceVersion {
			t.Errorf("an unchanged run rewrote the Secret")
		}
	})

	t.Run("node-agent", func(t *testing.T) {
		ns := newNamespace(t, devContext)
		declareDev(t, ns)
		args := []string{"envops", "node-agent", "audit-agent", "--image", "registry.example.com/agent:1", "--host-port", "19312", "--context", devContext, "-n", ns, "--timeout", "2m"}
		if r := runKubectl(t, "", "", args...); r.ExitCode != 0 {
			t.Fatalf("node-agent:\n%s", r)
		}
		ds, err := cs.AppsV1().DaemonSets(ns).Get(t.Context(), "audit-agent", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkRecord(t, "DaemonSet audit-agent", ds.Annotations, user, "dev", "registry.example.com/agent:1")
		if !managedBy(ds.ManagedFields) {
			t.Errorf("the DaemonSet is not managed by %s", audit.FieldManager)
		}
		again := runKubectl(t, "", "", args...)
		if again.ExitCode != 0 || !strings.Contains(again.Stdout, "unchanged") {
			t.Errorf("applying the same agent again should change nothing:\n%s", again)
		}
	})
}

// Every path that changes a controller writes one record, with the image
// it rolled out: a canary, its continue, and two rollbacks are four rows,
// and status and the change cause agree with the newest. A deploy with
// nothing to do writes no row and nothing at all.
func TestHistoryRecordsEveryPathWithTheImageRolledOut(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	declareDev(t, ns)
	project := t.TempDir()
	writeProjectFile(t, filepath.Join(project, ".envops.yaml"), "environments:\n  dev: {context: "+devContext+"}\n")
	if r := runKubectl(t, project, "", "envops", "new", "web", "--tier", "frontend", "--role", "server", "--image", "registry.example.com/web:1.0", "--replicas", "dev=4"); r.ExitCode != 0 {
		t.Fatalf("new:\n%s", r)
	}
	run := func(args ...string) result {
		t.Helper()
		r := runKubectl(t, project, "", append([]string{"envops", "deploy", "web", "--env", "dev", "-n", ns, "--yes"}, args...)...)
		if r.ExitCode != 0 {
			t.Fatalf("deploy %v:\n%s", args, r)
		}
		// Records are kept to the second, as Events are.
		time.Sleep(1100 * time.Millisecond)
		return r
	}
	run()
	run("--image", "registry.example.com/web:1.6", "--pause-after", "2", "--max-surge", "1", "--max-unavailable", "0")
	run("--continue")
	run("--rollback")
	run("--rollback")

	r := runKubectl(t, "", "", "envops", "history", "web", "--context", devContext, "-n", ns, "-o", "json")
	var entries []historyEntry
	if err := json.Unmarshal([]byte(r.Stdout), &entries); r.ExitCode != 0 || err != nil {
		t.Fatalf("history -o json (%v):\n%s", err, r)
	}
	want := []struct{ image, cause string }{
		{"registry.example.com/web:1.6", "--rollback"},
		{"registry.example.com/web:1.0", "--rollback"},
		{"registry.example.com/web:1.6", "--continue"},
		{"registry.example.com/web:1.6", "--pause-after=2"},
		{"registry.example.com/web:1.0", "kubectl envops deploy web"},
	}
	if len(entries) != len(want) {
		t.Fatalf("history has %d rows, want %d (the first deploy, the canary, continue and two rollbacks):\n%s", len(entries), len(want), r.Stdout)
	}
	for i, w := range want {
		if entries[i].Image != w.image || !strings.Contains(entries[i].Cause, w.cause) {
			t.Errorf("row %d: %s, %q; want %s and a cause with %q", i, entries[i].Image, entries[i].Cause, w.image, w.cause)
		}
	}
	rc := getRC(t, cs, ns)
	if got := rc.Annotations["kubernetes.io/change-cause"]; got != entries[0].Cause {
		t.Errorf("the controller's change cause %q is not the newest row's %q", got, entries[0].Cause)
	}
	st := runKubectl(t, project, "", "envops", "status", "web", "-n", ns, "-o", "json")
	var rows []struct {
		DeployedAt time.Time `json:"deployedAt"`
		Images     []string  `json:"images"`
	}
	if err := json.Unmarshal([]byte(st.Stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("status -o json (%v):\n%s", err, st)
	}
	if newest, err := time.Parse(time.RFC3339, entries[0].Time); err != nil || !rows[0].DeployedAt.Equal(newest) || rows[0].Images[0] != entries[0].Image {
		t.Errorf("status says last deployed %s at %s, history's newest row %s at %s", rows[0].Images[0], rows[0].DeployedAt, entries[0].Image, entries[0].Time)
	}

	// Nothing to do: unchanged, no write, no row.
	before := rc.ResourceVersion
	r = run("--image", "registry.example.com/web:1.6")
	if !strings.Contains(r.Stdout, "ReplicationController/web unchanged") {
		t.Errorf("deploying what runs should say unchanged:\n%s", r)
	}
	if after := getRC(t, cs, ns).ResourceVersion; after != before {
		t.Errorf("a deploy with nothing to do wrote the controller (resourceVersion %s -> %s)", before, after)
	}
	r = runKubectl(t, "", "", "envops", "history", "web", "--context", devContext, "-n", ns, "-o", "json")
	if err := json.Unmarshal([]byte(r.Stdout), &entries); err != nil || len(entries) != len(want) {
		t.Errorf("a deploy with nothing to do added a row (%v):\n%s", err, r.Stdout)
	}
}
