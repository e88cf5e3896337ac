package cluster

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Pods whose image names a failure fail on a real control plane the way a
// kubelet reports it, every other pod still becomes Ready, and a failing
// pod can be deleted: a deploy's fail-fast path is tested on these.
func TestPodsFailByImage(t *testing.T) {
	ctx := context.Background()
	binDir, err := Build(ctx, BuildOptions{Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Up(ctx, Options{Name: "fail", Nodes: 1, StateDir: t.TempDir(), BinDir: binDir, Log: testLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Down()
	client, err := c.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{
		"ok":        "registry.example/app:1",
		"backoff":   "registry.example/" + ImagePullBackOffWord + ":1",
		"notfound":  "registry.example/app:" + NotFoundWord,
		"crashloop": "registry.example/" + CrashLoopWord + ":1",
	}
	for name, image := range images {
		pod := map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": name},
			"spec": map[string]any{"containers": []map[string]any{
				{"name": "main", "image": image},
				// A second, healthy container: the failure is reported for
				// the container whose image names it, as a kubelet does.
				{"name": "sidecar", "image": "registry.example/sidecar:1"},
			}},
		}
		if err := c.do(ctx, client, http.MethodPost, "/api/v1/namespaces/default/pods", pod, nil); err != nil {
			t.Fatal(err)
		}
	}

	type want struct {
		phase, reason, message string
		ready                  bool
		restarts               bool
	}
	wants := map[string]want{
		"ok":        {phase: "Running", ready: true},
		"backoff":   {phase: "Pending", reason: "ImagePullBackOff", message: `Back-off pulling image "` + images["backoff"] + `"`},
		"notfound":  {phase: "Pending", reason: "ErrImagePull", message: "manifest for " + images["notfound"] + " not found"},
		"crashloop": {phase: "Running", reason: "CrashLoopBackOff", message: "restarting failed container=main pod=crashloop_default", restarts: true},
	}
	for name, w := range wants {
		p := waitPod(t, c, name, func(p podStatus) bool { return len(p.Status.ContainerStatuses) == 2 })
		if p.Status.Phase != w.phase {
			t.Errorf("pod %s (image %s): phase %s, want %s", name, images[name], p.Status.Phase, w.phase)
		}
		if got := p.ready(); got != w.ready {
			t.Errorf("pod %s: Ready %v, want %v", name, got, w.ready)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "sidecar" {
				if !cs.Ready || cs.State.Running == nil {
					t.Errorf("pod %s: the healthy sidecar should run and be ready: %+v", name, cs)
				}
				continue
			}
			if w.reason == "" {
				if !cs.Ready || cs.State.Running == nil {
					t.Errorf("pod %s: container should run and be ready: %+v", name, cs)
				}
				continue
			}
			if cs.State.Waiting == nil || cs.State.Waiting.Reason != w.reason || !strings.Contains(cs.State.Waiting.Message, w.message) {
				t.Errorf("pod %s: container state %+v, want waiting %s with a message containing %q", name, cs.State, w.reason, w.message)
			}
			if cs.Ready {
				t.Errorf("pod %s: failing container reported ready", name)
			}
			if w.restarts && (cs.RestartCount == 0 || cs.LastState.Terminated == nil || cs.LastState.Terminated.ExitCode == 0) {
				t.Errorf("pod %s: a crash loop needs restarts and a last terminated state with a non-zero exit code: restartCount %d, lastState %+v", name, cs.RestartCount, cs.LastState)
			}
		}
	}

	// A failing pod is deleted like any other (the updater deletes them).
	if err := c.do(ctx, client, http.MethodDelete, "/api/v1/namespaces/default/pods/backoff", nil, nil); err != nil {
		t.Fatal(err)
	}
	waitPod(t, c, "backoff", func(p podStatus) bool { return p.gone })
}

type podStatus struct {
	gone   bool
	Status struct {
		Phase      string `json:"phase"`
		Conditions []struct {
			Type, Status string
		} `json:"conditions"`
		ContainerStatuses []struct {
			Name         string `json:"name"`
			Ready        bool   `json:"ready"`
			RestartCount int    `json:"restartCount"`
			State        struct {
				Waiting *struct{ Reason, Message string } `json:"waiting"`
				Running *struct{}                         `json:"running"`
			} `json:"state"`
			LastState struct {
				Terminated *struct {
					ExitCode int    `json:"exitCode"`
					Reason   string `json:"reason"`
				} `json:"terminated"`
			} `json:"lastState"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

func (p podStatus) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// waitPod reads a pod until cond holds; a minute without it fails the test
// with the last status seen.
func waitPod(t *testing.T, c *Cluster, name string, cond func(podStatus) bool) podStatus {
	t.Helper()
	client, err := c.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var last podStatus
	var lastErr error
	for {
		var p podStatus
		lastErr = c.do(ctx, client, http.MethodGet, "/api/v1/namespaces/default/pods/"+name, nil, &p)
		if lastErr != nil && strings.Contains(lastErr.Error(), "404") {
			p.gone = true
			lastErr = nil
		}
		if lastErr == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pod %s: condition not reached; last status %+v, error %v; kwok log: %s", name, last, lastErr, c.process(Kwok).Log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// A cache whose stages lack pod-ready (or were never written) is refused
// with a line that says how to fix it, before kwok starts without them.
func TestWriteStagesRefusesAStockFileWithoutPodReady(t *testing.T) {
	bin := t.TempDir()
	if err := writeStages(bin, filepath.Join(t.TempDir(), "s.yaml")); err == nil || !strings.Contains(err.Error(), "run the build again") {
		t.Fatalf("missing stock stages: err = %v", err)
	}
	stock := "---\napiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: pod-delete\nspec: {}\n"
	if err := os.WriteFile(filepath.Join(bin, kwokStagesFile), []byte(stock), 0o644); err != nil {
		t.Fatal(err)
	}
	err := writeStages(bin, filepath.Join(t.TempDir(), "s.yaml"))
	if err == nil || !strings.Contains(err.Error(), "rebuild the cache") {
		t.Fatalf("stock stages without pod-ready: err = %v", err)
	}
}
