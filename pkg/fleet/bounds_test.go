package fleet

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

func TestEachAsksAtMostMaxConcurrentAtOnce(t *testing.T) {
	var running, most atomic.Int32
	targets := make([]string, 10*MaxConcurrent)
	for i := range targets {
		targets[i] = fmt.Sprint(i)
	}
	results := Each(context.Background(), targets, time.Minute, func(ctx context.Context, target string) (string, error) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		return target, nil
	})
	if most.Load() > MaxConcurrent {
		t.Errorf("%d targets were asked at once, want at most %d", most.Load(), MaxConcurrent)
	}
	for i, r := range results {
		if r.Target != targets[i] || r.Value != targets[i] || r.Err != nil {
			t.Fatalf("result %d = %+v, want the answer of target %s in its place", i, r, targets[i])
		}
	}
}

// A cluster that refuses connections is told from one that does not
// answer: the row says refused, and names the address.
func TestARefusingClusterIsTold(t *testing.T) {
	srv := kubetest.Refusing(t)
	raw := clientcmdapi.Config{
		Clusters:  map[string]*clientcmdapi.Cluster{"down": {Server: srv.URL, InsecureSkipTLSVerify: true}},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{"u": {Token: "t"}},
		Contexts:  map[string]*clientcmdapi.Context{"down": {Cluster: "down", AuthInfo: "u", Namespace: "web"}},
	}
	rows := Environments(context.Background(), config.Default(), raw, "down", 5*time.Second, ContextClients(raw))
	if want := "refused: connection refused at " + srv.Addr; len(rows) != 1 || rows[0].Status != want {
		t.Errorf("rows %+v, want one whose status is %q", rows, want)
	}
}

// Thousands of unhealthy rows make one short line: the first few named,
// the rest counted by kind.
func TestHealthySummarizesThousandsOfRows(t *testing.T) {
	var rows []StatusRow
	for i := range 10_000 {
		state := "refused: connection refused at 127.0.0.1:1"
		if i%1000 == 999 {
			state = "unreachable: no answer within 5s"
		}
		rows = append(rows, StatusRow{Environment: fmt.Sprintf("e%05d", i), State: state})
	}
	err := Healthy(rows)
	want := "not every environment is steady and healthy: e00000 refused: connection refused at 127.0.0.1:1; e00001 refused: connection refused at 127.0.0.1:1; e00002 refused: connection refused at 127.0.0.1:1; and 9997 more (9987 refused, 10 unreachable)"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant\n%s", err, want)
	}
	if err != nil && strings.Count(err.Error(), "\n") > 0 {
		t.Error("the error is more than one line")
	}
}
