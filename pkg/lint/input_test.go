package lint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/config"
)

// One context that cannot be read is reported after the others; when none
// can be read, nothing is.
func TestLintTargets(t *testing.T) {
	bad := labelsOf("", "cart", "backend", "")
	target := func(name string, denied bool) LiveTarget {
		c := fakeCluster(liveObject("v1", "ReplicationController", "shop", "cart", bad, ""))
		if denied {
			c.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "replicationcontrollers"}, "", errors.New("no"))
			})
		}
		return LiveTarget{Context: name, Namespace: "shop", Client: c}
	}
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		targets  []LiveTarget
		wantRead int
		wantErr  string
	}{
		{"every context read", []LiveTarget{target("a", false), target("b", false)}, 2, ""},
		{"one denied", []LiveTarget{target("a", true), target("b", false)}, 1, `context "a": access denied`},
		{"all denied", []LiveTarget{target("a", true), target("b", true)}, 0, "(and 1 more contexts that could not be read)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rep Report
			read, err := l.LintTargets(context.Background(), tt.targets, 0, &rep)
			if read != tt.wantRead || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("read %d, err %v; want %d and %q", read, err, tt.wantRead, tt.wantErr)
			}
			if got := len(rep.Sources); got != tt.wantRead {
				t.Errorf("report holds %d sources, want %d", got, tt.wantRead)
			}
		})
	}
}

func TestContextTargets(t *testing.T) {
	raw := clientcmdapi.Config{
		Clusters:  map[string]*clientcmdapi.Cluster{"c": {Server: "https://127.0.0.1:1"}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{"u": {Token: "t"}},
		Contexts:  map[string]*clientcmdapi.Context{"prod": {Cluster: "c", AuthInfo: "u", Namespace: "web"}, "dev": {Cluster: "c", AuthInfo: "u"}},
	}
	targets, err := ContextTargets(raw, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 || targets[0].Context != "dev" || targets[0].Namespace != "default" || targets[1].Namespace != "web" || targets[1].Client == nil {
		t.Errorf("targets %+v, want dev/default then prod/web, each with a client", targets)
	}
	if all, _ := ContextTargets(raw, nil, true); all[1].Namespace != "" {
		t.Errorf("every namespace: target %+v, want namespace \"\"", all[1])
	}
	if _, err := ContextTargets(clientcmdapi.Config{}, nil, false); err == nil || !strings.Contains(err.Error(), "no contexts") {
		t.Errorf("a kubeconfig without contexts: %v", err)
	}
}

// An explicit file that holds nothing is an error unless allowed; a
// document that cannot be read is named with its line.
func TestLintPathsEmptyAndBrokenInput(t *testing.T) {
	dir := t.TempDir()
	empty, broken := filepath.Join(dir, "empty.yaml"), filepath.Join(dir, "broken.yaml")
	for f, c := range map[string]string{empty: "# nothing\n", broken: "kind: [\n"} {
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	p := Project{Config: config.Default()}
	if err := l.LintPaths(context.Background(), p, []string{empty}, nil, false, &Report{}); err == nil || !strings.Contains(err.Error(), "holds no objects") {
		t.Errorf("an empty file: %v, want \"holds no objects\"", err)
	}
	if err := l.LintPaths(context.Background(), p, []string{empty}, nil, true, &Report{}); err != nil {
		t.Errorf("an empty file with allowEmpty: %v", err)
	}
	var rep Report
	if err := l.LintPaths(context.Background(), p, []string{broken}, nil, false, &rep); err != nil {
		t.Fatal(err)
	}
	if err := rep.InvalidDocumentsError(); err == nil || !strings.HasPrefix(err.Error(), broken+":1: ") {
		t.Errorf("InvalidDocumentsError = %v, want it to name %s:1", err, broken)
	}
	if err := (&Report{}).InvalidDocumentsError(); err != nil {
		t.Errorf("a clean report: %v", err)
	}
}
