package cluster

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Images whose name contains one of these words give pods that fail the way
// a kubelet reports it (see stages/pods.yaml), so tests can prove how a
// deploy reacts to failing pods on a real control plane.
const (
	ImagePullBackOffWord = "imagepullbackoff"
	NotFoundWord         = "notfound"
	CrashLoopWord        = "crashloop"
)

//go:embed stages/pods.yaml
var failureStages string

// readyExclusion keeps kwok's stock pod-ready stage off the pods that a
// failure stage owns; without it the two stages race for the same pod.
const readyExclusion = `    - key: '[.spec.containers[].image | test("` + ImagePullBackOffWord + `|` + NotFoundWord + `|` + CrashLoopWord + `")] | any'
      operator: 'NotIn'
      values:
      - 'true'
`

// writeStages writes the kwok configuration of one cluster: the stock
// stages kept in the binary cache, pod-ready narrowed, plus the failure
// stages. It is written at every start rather than at build time, so a
// cache built by an older harness gets the failure stages too.
func writeStages(binDir, dst string) error {
	stock, err := os.ReadFile(filepath.Join(binDir, kwokStagesFile))
	if err != nil {
		return fmt.Errorf("read kwok stages: %w (run the build again)", err)
	}
	docs := strings.Split(string(stock), "\n---")
	patched := false
	for i, d := range docs {
		if !strings.Contains(d, "\n  name: pod-ready\n") {
			continue
		}
		const anchor = "    matchExpressions:\n"
		at := strings.Index(d, anchor)
		if at < 0 {
			return fmt.Errorf("kwok's pod-ready stage in %s has no matchExpressions to extend: rebuild the cache (remove %s)", binDir, binDir)
		}
		at += len(anchor)
		docs[i] = d[:at] + readyExclusion + d[at:]
		patched = true
	}
	if !patched {
		return fmt.Errorf("no pod-ready stage in %s: rebuild the cache (remove %s)", filepath.Join(binDir, kwokStagesFile), binDir)
	}
	out := strings.Join(docs, "\n---") + "\n---\n" + failureStages
	return os.WriteFile(dst, []byte(out), 0o644)
}
