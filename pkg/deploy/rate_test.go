package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/kube"
)

const rateKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: c
  context: {cluster: c, user: u, namespace: web}
users:
- name: u
  user: {token: t}
current-context: c
`

func qps(t *testing.T, c kubernetes.Interface) float32 {
	t.Helper()
	return c.CoreV1().RESTClient().GetRateLimiter().QPS()
}

func TestWidenGivesEveryAppItsShareOfRequests(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(rateKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := kube.NewConfigFlags()
	flags.KubeConfig = &path
	target := &environment.Target{Env: "dev"}
	if err := target.Bind(flags); err != nil {
		t.Fatal(err)
	}
	one := qps(t, target.Client)
	if one <= 0 {
		t.Fatalf("one command's client is not rate limited (QPS %v)", one)
	}

	d := &Deployer{Target: target}
	d.widen(1)
	if got := qps(t, d.kube()); got != one {
		t.Errorf("a deploy of one app: QPS %v, want %v", got, one)
	}
	d.widen(8)
	if got := qps(t, d.kube()); got != 8*one {
		t.Errorf("a deploy of 8 apps at once: QPS %v, want %v", got, 8*one)
	}
	if got := qps(t, target.Client); got != one {
		t.Errorf("the target's own client changed: QPS %v, want %v", got, one)
	}
	dyn, _, err := d.dynamicClients()
	if err != nil {
		t.Fatal(err)
	}
	if dyn != d.dyn {
		t.Error("objects of other kinds are not reached through the widened dynamic client")
	}
}
