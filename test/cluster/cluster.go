package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options describes one cluster to start.
type Options struct {
	// Name is the environment the cluster serves, e.g. "dev"; its kube
	// context is "envops-<name>".
	Name string
	// Nodes is the number of kwok nodes to register (default 3).
	Nodes int
	// StateDir holds every cluster's state; the cluster uses StateDir/Name.
	StateDir string
	// BinDir holds the binaries returned by Build.
	BinDir string
	// ReadyTimeout bounds each component's wait for readiness (default 2m).
	ReadyTimeout time.Duration
	// NoMetrics starts the cluster without metrics-server and kwok's
	// emulated resource usage, as a cluster that serves no metrics API.
	NoMetrics bool
	// ControllerQPS, when above zero, is the request rate of each
	// controller of kube-controller-manager (--kube-api-qps, with a burst
	// of twice as much); zero keeps its default of 20.
	ControllerQPS int
	// Log receives one line per step.
	Log io.Writer
	// StopWithParent kills every component when the process that started
	// it ends, however it ends (SIGKILL, a test binary's timeout panic):
	// tests set it so that no control plane outlives them. Clusters meant
	// to outlive the command, as "envops-cluster up" starts, leave it off.
	StopWithParent bool
}

// Process is one running component.
type Process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	Log  string `json:"log"`
	Port int    `json:"port"`
	// Args are the command-line arguments, kept so the component can be
	// restarted as it was (fault tests stop the API server for a while).
	Args []string `json:"args"`
}

// Cluster is a running control plane. Its state is saved in Dir/state.json
// so that a later "down" or "status" from another process can find it.
type Cluster struct {
	Name       string    `json:"name"`
	Context    string    `json:"context"`
	Dir        string    `json:"dir"`
	Server     string    `json:"server"`
	Kubeconfig string    `json:"kubeconfig"`
	Nodes      []string  `json:"nodes"`
	Processes  []Process `json:"processes"`
	BinDir     string    `json:"binDir"`
	// Metrics tells whether the cluster serves the metrics API.
	Metrics bool `json:"metrics"`

	pki pki
	// stopWithParent: see Options.StopWithParent; components restarted
	// through StartComponent inherit it.
	stopWithParent bool
}

// ContextName is the kube context of the cluster serving an environment.
func ContextName(name string) string { return "envops-" + name }

// DefaultStateDir is where the command-line tool keeps running clusters.
func DefaultStateDir() string {
	if d := os.Getenv("ENVOPS_CLUSTER_STATE"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "kubectl-envops-clusters")
}

// Up starts a cluster and waits until its nodes are Ready and pods can be
// created. On failure it stops whatever it started.
func Up(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir()
	}
	if o.Name == "" {
		return nil, errors.New("cluster name is empty")
	}
	dir := filepath.Join(o.StateDir, o.Name)
	if prev, lerr := Load(o.StateDir, o.Name); lerr == nil {
		if len(prev.running()) > 0 {
			return nil, fmt.Errorf("cluster %q is already running from %s (pids %v): run down first, or use another state directory", o.Name, dir, prev.running())
		}
		_ = os.RemoveAll(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c = &Cluster{Name: o.Name, Context: ContextName(o.Name), Dir: dir, BinDir: o.BinDir, Kubeconfig: filepath.Join(dir, "kubeconfig"),
		Metrics: !o.NoMetrics, stopWithParent: o.StopWithParent}
	defer func() {
		if err != nil {
			// Keep the directory: the error names a log file in it.
			_ = c.Stop()
		}
	}()
	if c.pki, err = generatePKI(filepath.Join(dir, "pki")); err != nil {
		return c, fmt.Errorf("generate PKI: %w", err)
	}
	ports, err := freePorts(7)
	if err != nil {
		return c, err
	}
	etcdPort, etcdPeer, apiPort, kcmPort, schedPort, kwokPort, metricsPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5], ports[6]
	c.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	deadline := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, o.ReadyTimeout) }

	fmt.Fprintf(o.Log, "[%s] starting etcd on 127.0.0.1:%d\n", o.Name, etcdPort)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.start(Etcd, etcdPort, "--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync=true", "--log-level=warn"); err != nil {
		return c, err
	}
	wctx, cancel := deadline()
	err = c.waitHTTP(wctx, Etcd, http.DefaultClient, etcdURL+"/health")
	cancel()
	if err != nil {
		return c, err
	}

	fmt.Fprintf(o.Log, "[%s] starting kube-apiserver on %s\n", o.Name, c.Server)
	apiArgs := append([]string{"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(apiPort),
		"--client-ca-file=" + c.pki.path("ca.crt"),
		"--tls-cert-file=" + c.pki.path("apiserver.crt"), "--tls-private-key-file=" + c.pki.path("apiserver.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + c.pki.path("sa.pub"), "--service-account-signing-key-file=" + c.pki.path("sa.key"),
		"--authorization-mode=Node,RBAC", "--service-cluster-ip-range=10.0.0.0/24",
		"--endpoint-reconciler-type=none", "--profiling=false", "--cert-dir=" + filepath.Join(dir, "apiserver-certs")},
		c.aggregationArgs()...)
	if err := c.start(KubeAPIServer, apiPort, apiArgs...); err != nil {
		return c, err
	}
	client, err := c.httpClient()
	if err != nil {
		return c, err
	}
	wctx, cancel = deadline()
	err = c.waitHTTP(wctx, KubeAPIServer, client, c.Server+"/readyz")
	cancel()
	if err != nil {
		return c, err
	}
	if err := c.writeKubeconfig(); err != nil {
		return c, err
	}

	fmt.Fprintf(o.Log, "[%s] starting kube-controller-manager and kube-scheduler\n", o.Name)
	kc := "--kubeconfig=" + c.Kubeconfig
	kcm := []string{kc, "--authentication-kubeconfig=" + c.Kubeconfig, "--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(kcmPort),
		"--service-account-private-key-file=" + c.pki.path("sa.key"), "--root-ca-file=" + c.pki.path("ca.crt"),
		"--use-service-account-credentials=true", "--leader-elect=false", "--controllers=*,-nodeipam",
		// kwok's nodes cannot renew their leases while a test stops the API
		// server; on a loaded machine its restart can outlast the default
		// grace, and the nodes' pods would be marked not Ready by the
		// cluster rather than by what the test exercises.
		"--node-monitor-grace-period=5m",
		"--cert-dir=" + filepath.Join(dir, "kcm-certs")}
	if o.ControllerQPS > 0 {
		kcm = append(kcm, "--kube-api-qps="+strconv.Itoa(o.ControllerQPS), "--kube-api-burst="+strconv.Itoa(2*o.ControllerQPS))
	}
	if err := c.start(ControllerManager, kcmPort, kcm...); err != nil {
		return c, err
	}
	if err := c.start(Scheduler, schedPort, kc, "--authentication-kubeconfig="+c.Kubeconfig, "--authorization-kubeconfig="+c.Kubeconfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort), "--leader-elect=false",
		"--cert-dir="+filepath.Join(dir, "scheduler-certs")); err != nil {
		return c, err
	}
	fmt.Fprintf(o.Log, "[%s] starting kwok\n", o.Name)
	stages := filepath.Join(dir, kwokStagesFile)
	if err := writeStages(o.BinDir, stages); err != nil {
		return c, err
	}
	kwokArgs := []string{kc, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--manage-nodes-with-label-selector=",
		"--server-address=127.0.0.1:" + strconv.Itoa(kwokPort), "--config=" + stages}
	if c.Metrics {
		wctx, cancel = deadline()
		err = c.registerKwokUsage(wctx)
		cancel()
		if err != nil {
			return c, err
		}
		kwokArgs = append(kwokArgs, c.kwokMetricsArgs(kwokPort)...)
	}
	if err := c.start(Kwok, kwokPort, kwokArgs...); err != nil {
		return c, err
	}

	// Pods cannot be created before the namespace's default ServiceAccount exists.
	wctx, cancel = deadline()
	err = c.waitHTTP(wctx, ControllerManager, client, c.Server+"/api/v1/namespaces/default/serviceaccounts/default")
	cancel()
	if err != nil {
		return c, fmt.Errorf("%w (the default ServiceAccount never appeared)", err)
	}
	names := make([]string, o.Nodes)
	for i := range names {
		names[i] = fmt.Sprintf("%s-node-%d", o.Name, i+1)
	}
	fmt.Fprintf(o.Log, "[%s] registering %d kwok nodes\n", o.Name, o.Nodes)
	wctx, cancel = deadline()
	err = c.AddNodes(wctx, names...)
	cancel()
	if err != nil {
		return c, err
	}
	if c.Metrics {
		fmt.Fprintf(o.Log, "[%s] starting metrics-server on 127.0.0.1:%d\n", o.Name, metricsPort)
		wctx, cancel = deadline()
		err = c.startMetricsServer(wctx, metricsPort)
		cancel()
		if err != nil {
			return c, err
		}
	}
	if err := c.save(); err != nil {
		return c, err
	}
	fmt.Fprintf(o.Log, "[%s] ready: context %s, server %s\n", o.Name, c.Context, c.Server)
	return c, nil
}

// start launches one component in its own process group, logging to a file.
func (c *Cluster) start(name string, port int, args ...string) error {
	if err := portFree(port); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	logPath := filepath.Join(c.Dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(c.BinDir, name), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.Dir
	// Its own process group: an interrupt of the test run must not kill the
	// component before Down has a chance to, and Down can stop it alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := cmd.Start
	if c.stopWithParent {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
		start = func() error { return startOnLockedThread(cmd) }
	}
	if err := start(); err != nil {
		return fmt.Errorf("starting %s failed: %w; log: %s", name, err, logPath)
	}
	p := Process{Name: name, PID: cmd.Process.Pid, Log: logPath, Port: port, Args: args}
	if old := c.process(name); old != nil {
		*old = p
	} else {
		c.Processes = append(c.Processes, p)
	}
	// Reap it when it exits, so an early death is seen as "not running".
	go func() { _ = cmd.Wait() }()
	return c.save()
}

// waitHTTP polls url until it answers 200, the component dies, or ctx ends.
func (c *Cluster) waitHTTP(ctx context.Context, name string, client *http.Client, url string) error {
	p := c.process(name)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p != nil && !alive(p.PID) {
			return fmt.Errorf("%s exited before it was ready%s; log: %s", name, hint(p.Log), p.Log)
		}
		select {
		case <-ctx.Done():
			log := ""
			if p != nil {
				log = "; log: " + p.Log
			}
			return fmt.Errorf("%s was not ready at %s in time%s", name, url, log)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// hint picks a well-known cause out of a component's log.
func hint(logPath string) string {
	b, err := os.ReadFile(logPath)
	if err != nil {
		return ""
	}
	if bytes.Contains(b, []byte("address already in use")) {
		return " (a port it needs is already in use)"
	}
	return ""
}

func (c *Cluster) process(name string) *Process {
	for i := range c.Processes {
		if c.Processes[i].Name == name {
			return &c.Processes[i]
		}
	}
	return nil
}

func (c *Cluster) httpClient() (*http.Client, error) {
	if c.pki.dir == "" {
		c.pki = pki{dir: filepath.Join(c.Dir, "pki")}
	}
	cert, err := tls.LoadX509KeyPair(c.pki.path("admin.crt"), c.pki.path("admin.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(c.pki.path("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}},
	}, nil
}

// AddNodes registers kwok-managed nodes and waits until each is Ready and
// free of the not-ready taint, so pods can be scheduled on it.
func (c *Cluster) AddNodes(ctx context.Context, names ...string) error {
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	for _, n := range names {
		node := map[string]any{
			"apiVersion": "v1", "kind": "Node",
			"metadata": map[string]any{
				"name": n,
				// kwok serves every node's resource metrics on one port, each
				// under its own path, which metrics-server reads here.
				"annotations": map[string]string{"kwok.x-k8s.io/node": "fake", "metrics.k8s.io/resource-metrics-path": "/metrics/nodes/" + n + "/metrics/resource"},
				"labels":      map[string]string{"kubernetes.io/hostname": n, "kubernetes.io/os": "linux", "type": "kwok"},
			},
		}
		if err := c.do(ctx, client, http.MethodPost, "/api/v1/nodes", node, nil); err != nil {
			return fmt.Errorf("register node %s: %w", n, err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	sort.Strings(c.Nodes)
	for _, n := range names {
		for {
			var node struct {
				Spec struct {
					Taints []struct{ Key string } `json:"taints"`
				} `json:"spec"`
				Status struct {
					Conditions []struct{ Type, Status string } `json:"conditions"`
				} `json:"status"`
			}
			err := c.do(ctx, client, http.MethodGet, "/api/v1/nodes/"+n, nil, &node)
			ready := false
			if err == nil {
				for _, cond := range node.Status.Conditions {
					if cond.Type == "Ready" && cond.Status == "True" {
						ready = true
					}
				}
				for _, t := range node.Spec.Taints {
					if strings.HasPrefix(t.Key, "node.kubernetes.io/") {
						ready = false
					}
				}
			}
			if ready {
				break
			}
			select {
			case <-ctx.Done():
				log := ""
				if p := c.process(Kwok); p != nil {
					log = "; log: " + p.Log
				}
				return fmt.Errorf("node %s did not become Ready and untainted in time (kwok or kube-controller-manager not working)%s", n, log)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return c.save()
}

// StopComponent stops one component (e.g. KubeAPIServer) and keeps its
// arguments, so StartComponent can bring it back as it was.
func (c *Cluster) StopComponent(name string) error {
	p := c.process(name)
	if p == nil {
		return fmt.Errorf("cluster %s has no component %s", c.Name, name)
	}
	if err := stop(*p, c.BinDir); err != nil {
		return err
	}
	return waitPortFree(p.Port, 10*time.Second)
}

// StartComponent starts a stopped component again with its old arguments
// and, for the API server, waits until it is ready.
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	p := c.process(name)
	if p == nil {
		return fmt.Errorf("cluster %s has no component %s", c.Name, name)
	}
	if len(p.Args) == 0 {
		return fmt.Errorf("cluster %s was started by an older harness that did not record the arguments of %s: run down and up again", c.Name, name)
	}
	if err := c.start(name, p.Port, p.Args...); err != nil {
		return err
	}
	if name == KubeAPIServer {
		client, err := c.httpClient()
		if err != nil {
			return err
		}
		return c.waitHTTP(ctx, name, client, c.Server+"/readyz")
	}
	return nil
}

// RemoveNode deletes a node object.
func (c *Cluster) RemoveNode(ctx context.Context, name string) error {
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	if err := c.do(ctx, client, http.MethodDelete, "/api/v1/nodes/"+name, nil, nil); err != nil {
		return fmt.Errorf("remove node %s: %w", name, err)
	}
	kept := c.Nodes[:0]
	for _, n := range c.Nodes {
		if n != name {
			kept = append(kept, n)
		}
	}
	c.Nodes = kept
	return c.save()
}

func (c *Cluster) do(ctx context.Context, client *http.Client, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Down stops the cluster's own processes, by PID, and removes its state.
func (c *Cluster) Down() error {
	if err := c.Stop(); err != nil {
		return err
	}
	return os.RemoveAll(c.Dir)
}

// Stop stops the cluster's own processes, by PID, and keeps its state and
// logs for inspection.
func (c *Cluster) Stop() error {
	var errs []error
	// Reverse order: clients of the apiserver first, etcd last.
	for i := len(c.Processes) - 1; i >= 0; i-- {
		if err := stop(c.Processes[i], c.BinDir); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range c.Processes {
		if err := waitPortFree(p.Port, 10*time.Second); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// stop ends a process if, and only if, it still runs our binary: a PID
// reused by an unrelated process is left alone.
func stop(p Process, binDir string) error {
	if !ownedBy(p.PID, filepath.Join(binDir, p.Name)) {
		return nil
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(p.PID) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(p.PID, syscall.SIGKILL)
	for i := 0; i < 50 && alive(p.PID); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(p.PID) {
		return fmt.Errorf("%s (pid %d) did not stop", p.Name, p.PID)
	}
	return nil
}

// alive reports whether pid runs and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return true
}

func ownedBy(pid int, exe string) bool {
	if !alive(pid) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	return argv0 == exe
}

// running lists the PIDs of this cluster's processes that are still alive.
func (c *Cluster) running() []int {
	var pids []int
	for _, p := range c.Processes {
		if ownedBy(p.PID, filepath.Join(c.BinDir, p.Name)) {
			pids = append(pids, p.PID)
		}
	}
	return pids
}

// Status describes each component: running or not.
func (c *Cluster) Status() map[string]bool {
	st := map[string]bool{}
	for _, p := range c.Processes {
		st[p.Name] = ownedBy(p.PID, filepath.Join(c.BinDir, p.Name))
	}
	return st
}

func (c *Cluster) save() error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "state.json"), b, 0o644)
}

// Load reads a cluster's saved state.
func Load(stateDir, name string) (*Cluster, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, name, "state.json"))
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("read state of cluster %q: %w", name, err)
	}
	c.pki = pki{dir: filepath.Join(c.Dir, "pki")}
	return c, nil
}

// List returns every cluster saved under stateDir.
func List(stateDir string) ([]*Cluster, error) {
	entries, err := os.ReadDir(stateDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Cluster
	for _, e := range entries {
		if c, err := Load(stateDir, e.Name()); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// Healthy reports whether the API server answers /readyz.
func (c *Cluster) Healthy(ctx context.Context) bool {
	client, err := c.httpClient()
	if err != nil {
		return false
	}
	return c.do(ctx, client, http.MethodGet, "/readyz", nil, nil) == nil
}

func (c *Cluster) writeKubeconfig() error {
	return WriteKubeconfig(c.Kubeconfig, c)
}

// WriteKubeconfig writes one kubeconfig holding a context per cluster, the
// first one current, with credentials embedded so it can be copied.
func WriteKubeconfig(path string, clusters ...*Cluster) error {
	if len(clusters) == 0 {
		return errors.New("no clusters")
	}
	var b strings.Builder
	enc := func(p string) (string, error) {
		d, err := os.ReadFile(p)
		return base64.StdEncoding.EncodeToString(d), err
	}
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	for _, c := range clusters {
		ca, err := enc(filepath.Join(c.Dir, "pki", "ca.crt"))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n", c.Context, c.Server, ca)
	}
	b.WriteString("users:\n")
	for _, c := range clusters {
		crt, err := enc(filepath.Join(c.Dir, "pki", "admin.crt"))
		if err != nil {
			return err
		}
		key, err := enc(filepath.Join(c.Dir, "pki", "admin.key"))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "- name: %s-admin\n  user:\n    client-certificate-data: %s\n    client-key-data: %s\n", c.Context, crt, key)
	}
	b.WriteString("contexts:\n")
	for _, c := range clusters {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: %s\n    user: %s-admin\n    namespace: default\n", c.Context, c.Context, c.Context)
	}
	fmt.Fprintf(&b, "current-context: %s\n", clusters[0].Context)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("port 127.0.0.1:%d is in use by another process: stop it or retry (ports are picked at random)", port)
	}
	return l.Close()
}

func waitPortFree(port int, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("port %d still answers after stopping", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
