package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// envSecretValue returns the environment a namespace's Secret declares, or
// "" when there is no Secret.
func envSecretValue(t *testing.T, cs kubernetes.Interface, ns string) string {
	t.Helper()
	s, err := cs.CoreV1().Secrets(ns).Get(t.Context(), "environment", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatalf("read Secret in %s: %v", ns, err)
	}
	return string(s.Data["environment"])
}

// oneErrorLine checks the shape every user error must have: a non-zero
// exit and exactly one line on stderr, saying each of want.
func oneErrorLine(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.ExitCode != code {
		t.Errorf("exit %d, want %d:\n%s", r.ExitCode, code, r)
	}
	if lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") {
		t.Errorf("want one \"error: ...\" line on stderr:\n%s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r)
		}
	}
}

func TestInitEnvDeclaresEachClusterAndPodsMountIt(t *testing.T) {
	devNS := newNamespace(t, devContext)
	prodNS := newNamespace(t, prodContext)
	dev, prod := clientset(t, devContext), clientset(t, prodContext)

	r := runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", devNS)
	if r.ExitCode != 0 || r.Stdout != `secret/environment created in namespace "`+devNS+`" (environment "dev")`+"\n" {
		t.Fatalf("init-env dev on the dev cluster:\n%s", r)
	}
	r = runKubectl(t, "", "", "envops", "init-env", "prod", "--context", prodContext, "-n", prodNS)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, `created in namespace "`+prodNS+`" (environment "prod")`) {
		t.Fatalf("init-env prod on the prod cluster:\n%s", r)
	}

	for _, c := range []struct {
		cs   kubernetes.Interface
		ns   string
		want string
	}{{dev, devNS, "dev"}, {prod, prodNS, "prod"}} {
		s, err := c.cs.CoreV1().Secrets(c.ns).Get(t.Context(), "environment", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the Secret was not created in %s: %v", c.ns, err)
		}
		if len(s.Data) != 1 || string(s.Data["environment"]) != c.want || s.Labels["app.kubernetes.io/managed-by"] != "kubectl-envops" {
			t.Errorf("Secret in %s: data %v labels %v; want only environment=%s and the managed-by label", c.ns, s.Data, s.Labels, c.want)
		}
	}

	// A second run changes nothing and says so.
	before, _ := dev.CoreV1().Secrets(devNS).Get(t.Context(), "environment", metav1.GetOptions{})
	r = runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", devNS)
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "unchanged") || !strings.Contains(r.Stdout, "nothing to change") {
		t.Errorf("second init-env dev:\n%s", r)
	}
	after, _ := dev.CoreV1().Secrets(devNS).Get(t.Context(), "environment", metav1.GetOptions{})
	if before.ResourceVersion != after.ResourceVersion {
		t.Errorf("the second run wrote the Secret (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}

	// The pod shape the design promises: the Secret mounted at /etc/secrets,
	// read by the start command. The API must accept it as written.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:         "web",
				Image:        "busybox:1.37",
				Command:      []string{"sh", "-c", "ENVIRONMENT=$(cat /etc/secrets/environment) ./run.sh"},
				VolumeMounts: []corev1.VolumeMount{{Name: "environment", MountPath: "/etc/secrets", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "environment", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "environment"}}}},
		},
	}
	created, err := prod.CoreV1().Pods(prodNS).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the API refused a pod mounting the environment Secret: %v", err)
	}
	vol := created.Spec.Volumes[0]
	mount := created.Spec.Containers[0].VolumeMounts[0]
	if vol.Secret == nil || vol.Secret.SecretName != "environment" || mount.MountPath != "/etc/secrets" {
		t.Errorf("stored pod lost the mount: volume %+v mount %+v", vol, mount)
	}
	// What the pod reads at /etc/secrets/environment is the Secret's key.
	if got := envSecretValue(t, prod, prodNS); got != "prod" {
		t.Errorf("/etc/secrets/environment in %s would read %q, want prod", prodNS, got)
	}
}

func TestInitEnvRefusesTheWrongCluster(t *testing.T) {
	dev := clientset(t, devContext)
	declared := newNamespace(t, devContext)
	fresh := newNamespace(t, devContext)
	// Leave the dev cluster declaring only dev for the tests that follow.
	t.Cleanup(func() {
		_ = dev.CoreV1().Secrets(fresh).Delete(context.Background(), "environment", metav1.DeleteOptions{})
	})
	if r := runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", declared); r.ExitCode != 0 {
		t.Fatalf("init-env dev:\n%s", r)
	}

	// Into a namespace that already says dev, and into a fresh one of the
	// same cluster: both refused, naming context, namespace and "dev".
	for _, ns := range []string{declared, fresh} {
		r := runKubectl(t, "", "", "envops", "init-env", "prod", "--context", devContext, "-n", ns)
		oneErrorLine(t, r, 1, `context "envops-dev"`, `namespace "`+ns+`"`, `already declares "dev"`, "--force")
		if r.Stdout != "" {
			t.Errorf("a refused run printed on stdout:\n%s", r)
		}
	}
	if got := envSecretValue(t, dev, declared); got != "dev" {
		t.Errorf("refused run changed %s to %q", declared, got)
	}
	if got := envSecretValue(t, dev, fresh); got != "" {
		t.Errorf("refused run created a Secret in %s declaring %q", fresh, got)
	}

	r := runKubectl(t, "", "", "envops", "init-env", "prod", "--context", devContext, "-n", fresh, "--force")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, `created in namespace "`+fresh+`" (environment "prod")`) {
		t.Fatalf("init-env --force:\n%s", r)
	}
	if got := envSecretValue(t, dev, fresh); got != "prod" {
		t.Errorf("after --force %s declares %q, want prod", fresh, got)
	}
}

func TestInitEnvDryRunWritesNothing(t *testing.T) {
	ns := newNamespace(t, devContext)
	dev := clientset(t, devContext)
	for _, mode := range []string{"client", "server"} {
		t.Run(mode, func(t *testing.T) {
			r := runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", ns, "--dry-run="+mode, "-o", "yaml")
			if r.ExitCode != 0 {
				t.Fatalf("dry run:\n%s", r)
			}
			var s corev1.Secret
			if err := yaml.Unmarshal([]byte(r.Stdout), &s); err != nil {
				t.Fatalf("output is not a Secret: %v\n%s", err, r.Stdout)
			}
			if s.Kind != "Secret" || s.Namespace != ns || string(s.Data["environment"]) != "dev" || s.Labels["app.kubernetes.io/managed-by"] != "kubectl-envops" {
				t.Errorf("printed Secret: %+v", s)
			}
			if got := envSecretValue(t, dev, ns); got != "" {
				t.Errorf("--dry-run=%s created the Secret", mode)
			}
		})
	}
}

// limitedKubeconfig writes a kubeconfig whose context "limited" is a
// ServiceAccount allowed only to get Secrets in ns, authenticated by a
// token from the TokenRequest API.
func limitedKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	cs := clientset(t, devContext)
	ctx := t.Context()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "get-secrets"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "reader-get-secrets"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "get-secrets"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "reader", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}

	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	raw.AuthInfos["reader"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	raw.Contexts["limited"] = &clientcmdapi.Context{Cluster: raw.Contexts[devContext].Cluster, AuthInfo: "reader", Namespace: ns}
	raw.CurrentContext = "limited"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*raw, path); err != nil {
		t.Fatal(err)
	}
	// Wait until the authorizer has seen the binding, so a denial below is
	// about the missing verbs and not a cache delay.
	waitFor(t, 30*time.Second, "the reader's RoleBinding to take effect", func() bool {
		r := runKubectl(t, "", "", "auth", "can-i", "get", "secrets", "--kubeconfig", path, "-n", ns)
		return strings.TrimSpace(r.Stdout) == "yes"
	})
	return path
}

func TestInitEnvUserErrorsChangeNothing(t *testing.T) {
	ns := newNamespace(t, devContext)
	dev := clientset(t, devContext)
	limited := limitedKubeconfig(t, ns)

	project := t.TempDir()
	if err := os.WriteFile(filepath.Join(project, ".envops.yaml"), []byte("environments:\n  dev:\n    context: envops-dev\n    confirm: sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(project, "apps", "web")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		dir  string
		args []string
		code int
		want []string
	}{
		{name: "invalid environment name", args: []string{"Prod_1", "--context", devContext, "-n", ns}, code: 2,
			want: []string{`invalid environment name "Prod_1"`}},
		{name: "missing namespace", args: []string{"dev", "--context", devContext, "-n", "no-such-namespace"}, code: 1,
			want: []string{`namespaces "no-such-namespace" not found`, "kubectl create namespace no-such-namespace"}},
		{name: "malformed .envops.yaml found from a subdirectory", dir: sub, args: []string{"dev", "--context", devContext, "-n", ns}, code: 2,
			want: []string{filepath.Join(project, ".envops.yaml") + `:4: wrong type: expected true or false, found a string "sometimes"`}},
		{name: "RBAC denial for a user with only get on secrets", args: []string{"dev", "--kubeconfig", limited, "-n", ns}, code: 1,
			want: []string{`context "limited"`, "forbidden", `cannot create resource "secrets"`}},
		{name: "RBAC denial across all namespaces", args: []string{"dev", "--kubeconfig", limited, "-A"}, code: 1,
			want: []string{`context "limited"`, "forbidden", "namespaces"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runKubectl(t, tt.dir, "", append([]string{"envops", "init-env"}, tt.args...)...)
			oneErrorLine(t, r, tt.code, tt.want...)
			if got := envSecretValue(t, dev, ns); got != "" {
				t.Errorf("the failed command created a Secret declaring %q", got)
			}
		})
	}

	// The same user can still read what the cluster declares, or learn
	// that it declares nothing, in one line.
	r := runKubectl(t, "", "", "envops", "env", "--kubeconfig", limited)
	oneErrorLine(t, r, 1, `context "limited" declares no environment`, "init-env")
}

// envRunning is a plugin process started in the background.
type envRunning struct {
	cmd            *exec.Cmd
	stdout, stderr *envOutput
	done           chan error
}

// envOutput collects a background process's output safely.
type envOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *envOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *envOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

func startKubectl(t *testing.T, args ...string) *envRunning {
	t.Helper()
	cmd := exec.Command(filepath.Join(pathDir, "kubectl"), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = commandEnv()
	p := &envRunning{cmd: cmd, stdout: &envOutput{}, stderr: &envOutput{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return p
}

var createdLine = regexp.MustCompile(`secret/environment created in namespace "([^"]+)"`)

func TestInitEnvWatchNamespaces(t *testing.T) {
	prod := clientset(t, prodContext)
	existing := newNamespace(t, prodContext)

	p := startKubectl(t, "envops", "init-env", "prod", "--context", prodContext, "--watch-namespaces")
	// Remove what the command wrote outside this test's namespaces, so the
	// cluster is as the other tests expect it.
	t.Cleanup(func() {
		for _, m := range createdLine.FindAllStringSubmatch(p.stdout.String(), -1) {
			_ = prod.CoreV1().Secrets(m[1]).Delete(context.Background(), "environment", metav1.DeleteOptions{})
		}
	})
	// The command writes the existing namespaces before it watches; the
	// watch lists namespaces before it follows them, so one created from
	// now on is seen either way.
	waitFor(t, 60*time.Second, "the Secret in the existing namespace", func() bool {
		return envSecretValue(t, prod, existing) == "prod"
	})
	if got := envSecretValue(t, prod, existing); got != "prod" {
		t.Errorf("existing namespace %s declares %q, want prod", existing, got)
	}
	if got := envSecretValue(t, prod, "kube-system"); got != "" {
		t.Errorf("kube-system was given the Secret")
	}

	later := newNamespace(t, prodContext)
	waitFor(t, 60*time.Second, "the Secret in the namespace created later", func() bool {
		return envSecretValue(t, prod, later) == "prod"
	})
	waitFor(t, 30*time.Second, "the watch to report it", func() bool {
		return strings.Contains(p.stdout.String(), `created in namespace "`+later+`"`)
	})

	// Ctrl-C ends the watch cleanly.
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("after Ctrl-C the watch exited with %v:\nstdout:\n%s\nstderr:\n%s", err, p.stdout, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the watch did not stop after Ctrl-C:\n%s", p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "stopped watching namespaces") || strings.Contains(p.stderr.String(), "error:") {
		t.Errorf("stderr after Ctrl-C:\n%s", p.stderr)
	}
}

// silentServer accepts connections and never answers, like a cluster
// behind a black-holing firewall.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "https://" + l.Addr().String()
}

// closedPort returns an address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

func TestEnvAllContexts(t *testing.T) {
	devNS := newNamespace(t, devContext)
	prodNS := newNamespace(t, prodContext)
	for _, c := range []struct{ env, ctx, ns string }{{"dev", devContext, devNS}, {"prod", prodContext, prodNS}} {
		if r := runKubectl(t, "", "", "envops", "init-env", c.env, "--context", c.ctx, "-n", c.ns); r.ExitCode != 0 {
			t.Fatalf("init-env %s:\n%s", c.env, r)
		}
	}

	// A kubeconfig with both clusters (each context pointed at its test
	// namespace), one whose server refuses connections and one that never
	// answers.
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	raw.Contexts[devContext].Namespace = devNS
	raw.Contexts[prodContext].Namespace = prodNS
	raw.Clusters["refused"] = &clientcmdapi.Cluster{Server: closedPort(t), InsecureSkipTLSVerify: true}
	raw.Clusters["blackhole"] = &clientcmdapi.Cluster{Server: silentServer(t), InsecureSkipTLSVerify: true}
	raw.Contexts["old-staging"] = &clientcmdapi.Context{Cluster: "refused", AuthInfo: raw.Contexts[devContext].AuthInfo}
	raw.Contexts["far-away"] = &clientcmdapi.Context{Cluster: "blackhole", AuthInfo: raw.Contexts[devContext].AuthInfo}
	raw.CurrentContext = prodContext
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*raw, path); err != nil {
		t.Fatal(err)
	}

	r := runKubectl(t, "", "", "envops", "env", "--all-contexts", "--timeout", "3s", "--kubeconfig", path, "-o", "json")
	if r.ExitCode != 0 {
		t.Fatalf("unreachable contexts must not fail the command:\n%s", r)
	}
	var rows []struct {
		Current     bool   `json:"current"`
		Context     string `json:"context"`
		Cluster     string `json:"cluster"`
		Environment string `json:"environment"`
		Namespace   string `json:"namespace"`
		Status      string `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rows); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, r.Stdout)
	}
	got := map[string]string{}
	for _, row := range rows {
		got[row.Context] = row.Environment + " | " + row.Status
		if row.Current != (row.Context == prodContext) {
			t.Errorf("row %s: current=%v", row.Context, row.Current)
		}
	}
	want := map[string]*regexp.Regexp{
		devContext:    regexp.MustCompile(`^dev \| ok$`),
		prodContext:   regexp.MustCompile(`^prod \| ok$`),
		"old-staging": regexp.MustCompile(`^ \| refused: connection refused at 127\.0\.0\.1:\d+$`),
		"far-away":    regexp.MustCompile(`^ \| unreachable: no answer within 3s$`),
	}
	if len(got) != len(want) {
		t.Errorf("got rows for %v, want the four contexts", got)
	}
	for ctx, re := range want {
		if !re.MatchString(got[ctx]) {
			t.Errorf("context %s: %q, want %s", ctx, got[ctx], re)
		}
	}

	// The table a person reads says the same.
	r = runKubectl(t, "", "", "envops", "env", "--all-contexts", "--timeout", "3s", "--kubeconfig", path)
	if r.ExitCode != 0 {
		t.Fatalf("table:\n%s", r)
	}
	for _, w := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^CURRENT\s+CONTEXT\s+CLUSTER\s+ENVIRONMENT\s+NAMESPACE\s+STATUS$`),
		regexp.MustCompile(`(?m)^\s+envops-dev\s+envops-dev\s+dev\s+` + devNS + `\s+ok$`),
		regexp.MustCompile(`(?m)^\*\s+envops-prod\s+envops-prod\s+prod\s+` + prodNS + `\s+ok$`),
		regexp.MustCompile(`(?m)^\s+old-staging\s+refused\s+-\s+default\s+refused: connection refused at `),
	} {
		if !w.MatchString(r.Stdout) {
			t.Errorf("table lacks %s:\n%s", w, r.Stdout)
		}
	}
}

func TestEnvCurrentContext(t *testing.T) {
	ns := newNamespace(t, devContext)
	if r := runKubectl(t, "", "", "envops", "init-env", "dev", "--context", devContext, "-n", ns); r.ExitCode != 0 {
		t.Fatalf("init-env:\n%s", r)
	}
	r := runKubectl(t, "", "", "envops", "env", "--context", devContext, "-n", ns)
	if r.ExitCode != 0 {
		t.Fatalf("env:\n%s", r)
	}
	for _, w := range []string{"environment:   dev\n", "context:       envops-dev (cluster envops-dev)\n",
		`read from:     Secret ` + ns + `/environment, key "environment"`} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("env output lacks %q:\n%s", w, r.Stdout)
		}
	}

	r = runKubectl(t, "", "", "envops", "env", "--context", devContext, "-n", ns, "-o", "yaml")
	var view map[string]any
	if err := yaml.Unmarshal([]byte(r.Stdout), &view); err != nil || r.ExitCode != 0 {
		t.Fatalf("env -o yaml: %v\n%s", err, r)
	}
	if view["environment"] != "dev" || view["namespace"] != ns || view["source"] != ns {
		t.Errorf("env -o yaml = %v", view)
	}
	// Only the environment value of the Secret is ever printed.
	if strings.Contains(r.Stdout, base64.StdEncoding.EncodeToString([]byte("dev"))) {
		t.Errorf("env printed encoded Secret data:\n%s", r.Stdout)
	}
}
