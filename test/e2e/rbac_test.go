package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/audit"
)

// ciAccount is the ServiceAccount the role is printed for.
const ciAccount = "ci"

// granted is a ServiceAccount bound to the role "kubectl envops rbac"
// printed, and a kubeconfig that authenticates as it.
type granted struct {
	ns         string
	kubeconfig string
	// user is the account's name as the API server knows it.
	user   string
	client kubernetes.Interface
}

// grantPrinted prints the role for use in ns, applies exactly that output
// with kubectl, and returns a kubeconfig for the bound ServiceAccount. Its
// context is named like the dev context, so .envops.yaml maps it to dev.
func grantPrinted(t *testing.T, ns, use string, clusterWide bool) *granted {
	t.Helper()
	args := []string{"envops", "rbac", "--for", use, "-n", ns, "--service-account", ciAccount, "--context", devContext}
	if clusterWide {
		args = append(args, "--cluster-wide")
	}
	r := runKubectl(t, "", "", args...)
	if r.ExitCode != 0 {
		t.Fatalf("rbac --for %s:\n%s", use, r)
	}
	if a := runKubectl(t, "", r.Stdout, "apply", "--context", devContext, "-f", "-"); a.ExitCode != 0 {
		t.Fatalf("apply the printed role:\n%s\n%s", r.Stdout, a)
	}
	t.Cleanup(func() { deleteClusterObjects(t, use, ns, clusterWide) })

	admin := clientset(t, devContext)
	path := accountKubeconfig(t, ns, ciAccount)
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	g := &granted{ns: ns, kubeconfig: path, user: "system:serviceaccount:" + ns + ":" + ciAccount, client: client}
	if clusterWide {
		role, err := admin.RbacV1().ClusterRoles().Get(t.Context(), "envops-"+use, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the printed ClusterRole was not applied: %v", err)
		}
		g.waitAccess(t, role.Rules[0], "", true)
		return g
	}
	role, err := admin.RbacV1().Roles(ns).Get(t.Context(), "envops-"+use, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the printed role was not applied: %v", err)
	}
	g.waitAccess(t, role.Rules[0], ns, true)
	return g
}

// accountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount ns/account with a token from the TokenRequest API; its
// one context is named like the dev context, so .envops.yaml maps it to
// dev.
func accountKubeconfig(t *testing.T, ns, account string) string {
	t.Helper()
	tr, err := clientset(t, devContext).CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), account, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(3600))},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cluster := raw.Contexts[devContext].Cluster
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = raw.Clusters[cluster]
	cfg.AuthInfos[account] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[devContext] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: account, Namespace: ns}
	cfg.CurrentContext = devContext
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// deleteClusterObjects removes the cluster-scoped part of a printed role,
// which the namespace's deletion leaves behind.
func deleteClusterObjects(t *testing.T, use, ns string, clusterWide bool) {
	cs := clientset(t, devContext)
	name := "envops-" + use
	if !clusterWide {
		name += "-cluster"
	}
	_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), name+":"+ns+":"+ciAccount, metav1.DeleteOptions{})
	_ = cs.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
}

// waitAccess waits until the authorizer answers allowed for the first verb
// of rule, so that a run right after a role change sees that change.
func (g *granted) waitAccess(t *testing.T, rule rbacv1.PolicyRule, ns string, allowed bool) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("access to %s %v to be %v", rule.Verbs[0], rule.Resources, allowed), func() bool {
		// A rule limited to named objects grants access to those only.
		name := ""
		if len(rule.ResourceNames) > 0 {
			name = rule.ResourceNames[0]
		}
		review, err := g.client.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: rule.Verbs[0], Group: rule.APIGroups[0], Resource: rule.Resources[0], Name: name,
			}},
		}, metav1.CreateOptions{})
		return err == nil && review.Status.Allowed == allowed
	})
}

// roleRules reaches the rules of the Role, or of the cluster part, so
// that one can be removed and put back.
type roleRules struct {
	cluster bool
	get     func() ([]rbacv1.PolicyRule, error)
	set     func([]rbacv1.PolicyRule) error
}

func printedRoles(t *testing.T, use, ns string) []roleRules {
	cs := clientset(t, devContext)
	roles := cs.RbacV1().Roles(ns)
	clusterRoles := cs.RbacV1().ClusterRoles()
	out := []roleRules{{
		get: func() ([]rbacv1.PolicyRule, error) {
			r, err := roles.Get(context.Background(), "envops-"+use, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			return r.Rules, nil
		},
		set: func(rules []rbacv1.PolicyRule) error {
			r, err := roles.Get(context.Background(), "envops-"+use, metav1.GetOptions{})
			if err != nil {
				return err
			}
			r.Rules = rules
			_, err = roles.Update(context.Background(), r, metav1.UpdateOptions{})
			return err
		},
	}}
	name := "envops-" + use + "-cluster"
	if _, err := clusterRoles.Get(t.Context(), name, metav1.GetOptions{}); err == nil {
		out = append(out, roleRules{
			cluster: true,
			get: func() ([]rbacv1.PolicyRule, error) {
				r, err := clusterRoles.Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					return nil, err
				}
				return r.Rules, nil
			},
			set: func(rules []rbacv1.PolicyRule) error {
				r, err := clusterRoles.Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				r.Rules = rules
				_, err = clusterRoles.Update(context.Background(), r, metav1.UpdateOptions{})
				return err
			},
		})
	} else if !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return out
}

// rbacCase is one use: how to run it as the account, and how to tell that
// a refused run changed nothing.
type rbacCase struct {
	use string
	// prepare readies the namespace as an admin and returns the working
	// directory for the command ("" for any).
	prepare func(t *testing.T, ns string) string
	args    func(ns string) []string
	// okCodes are the exit codes of a successful run (lint exits 1 for findings).
	okCodes []int
	// untouched fails the test when a refused run left a change behind.
	untouched func(t *testing.T, ns string)
	// done checks the successful run's effect, audit record included.
	done func(t *testing.T, ns, user string)
	// update, when set, is a second run that changes what the first made
	// (a rolling update), which needs the rest of the role.
	update  func(ns string) []string
	updated func(t *testing.T, ns, user string)
	// check, when set, reads what the successful run printed.
	check func(t *testing.T, r result)
}

func TestRBACPrintedRoleIsEnoughAndEveryRuleIsNeeded(t *testing.T) {
	admin := clientset(t, devContext)
	cases := []rbacCase{
		{
			use:  "init-env",
			args: func(ns string) []string { return []string{"init-env", "dev", "-n", ns} },
			untouched: func(t *testing.T, ns string) {
				if v := envSecretValue(t, admin, ns); v != "" {
					t.Errorf("the refused run wrote environment %q", v)
				}
			},
			done: func(t *testing.T, ns, user string) {
				s, err := admin.CoreV1().Secrets(ns).Get(t.Context(), "environment", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkRecord(t, "Secret environment", s.Annotations, user, "dev", "")
			},
		},
		{
			use: "lint",
			prepare: func(t *testing.T, ns string) string {
				createLintRCs(t, devContext, ns)
				return ""
			},
			args:      func(ns string) []string { return []string{"lint", "--live", "-n", ns} },
			okCodes:   []int{1},
			untouched: func(*testing.T, string) {},
			done:      func(*testing.T, string, string) {},
		},
		{
			use: "node-agent",
			prepare: func(t *testing.T, ns string) string {
				declareDev(t, ns)
				return ""
			},
			args: func(ns string) []string {
				return []string{"node-agent", "rbac-agent", "--image", "registry.example.com/agent:1", "--host-port", "19311", "--mode", "replicationcontroller", "--timeout", "2m", "-n", ns}
			},
			untouched: func(t *testing.T, ns string) { noControllers(t, admin, ns) },
			done: func(t *testing.T, ns, user string) {
				rc, err := admin.CoreV1().ReplicationControllers(ns).Get(t.Context(), "rbac-agent", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkRecord(t, "ReplicationController rbac-agent", rc.Annotations, user, "dev", "registry.example.com/agent:1")
			},
			update: func(ns string) []string {
				return []string{"node-agent", "rbac-agent", "--image", "registry.example.com/agent:2", "--host-port", "19311", "--mode", "replicationcontroller", "--timeout", "2m", "-n", ns}
			},
			updated: func(t *testing.T, ns, user string) {
				rc, err := admin.CoreV1().ReplicationControllers(ns).Get(t.Context(), "rbac-agent", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkRecord(t, "ReplicationController rbac-agent", rc.Annotations, user, "dev", "registry.example.com/agent:2")
			},
		},
		{
			use: "history",
			prepare: func(t *testing.T, ns string) string {
				recordedDeployment(t, admin, ns, audit.Record{User: "alice", Time: time.Now(), Environment: "dev", Image: "registry.example.com/web:7", Cause: "release 7"})
				return ""
			},
			args:      func(ns string) []string { return []string{"history", "web", "-n", ns} },
			untouched: func(*testing.T, string) {},
			done:      func(*testing.T, string, string) {},
			check: func(t *testing.T, r result) {
				for _, want := range []string{"alice", "registry.example.com/web:7", "release 7", "Deployment/web"} {
					if !strings.Contains(r.Stdout, want) {
						t.Errorf("history as the account does not show %q:\n%s", want, r)
					}
				}
			},
		},
		{
			use: "deploy",
			prepare: func(t *testing.T, ns string) string {
				declareDev(t, ns)
				return generateProject(t)
			},
			args: func(ns string) []string {
				return []string{"deploy", "web", "--env", "dev", "--image", "registry.example.com/web:1.1", "--yes", "--timeout", "2m", "-n", ns}
			},
			untouched: func(t *testing.T, ns string) {
				noControllers(t, admin, ns)
				if list, err := admin.CoreV1().Services(ns).List(t.Context(), metav1.ListOptions{}); err != nil || len(list.Items) > 0 {
					t.Errorf("the refused run left Services (%v)", err)
				}
			},
			done: func(t *testing.T, ns, user string) {
				rc, err := admin.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkRecord(t, "ReplicationController web", rc.Annotations, user, "dev", "registry.example.com/web:1.1")
			},
			update: func(ns string) []string {
				return []string{"deploy", "web", "--env", "dev", "--image", "registry.example.com/web:1.2", "--yes", "--timeout", "2m", "-n", ns}
			},
			updated: func(t *testing.T, ns, user string) {
				rc, err := admin.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				checkRecord(t, "ReplicationController web", rc.Annotations, user, "dev", "registry.example.com/web:1.2")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.use, func(t *testing.T) {
			ns := newNamespace(t, devContext)
			dir := ""
			if tc.prepare != nil {
				dir = tc.prepare(t, ns)
			}
			g := grantPrinted(t, ns, tc.use, false)
			run := func() result {
				return runKubectl(t, dir, "", append(append([]string{"envops"}, tc.args(ns)...), "--kubeconfig", g.kubeconfig)...)
			}

			// Every rule is needed: without any one of them the run is
			// refused in one line naming the verb and resource, before it
			// changes anything.
			for _, part := range printedRoles(t, tc.use, ns) {
				all, err := part.get()
				if err != nil {
					t.Fatal(err)
				}
				ruleNS := ns
				if part.cluster {
					ruleNS = ""
				}
				for i, rule := range all {
					t.Run(fmt.Sprintf("without %s %s", strings.Join(rule.Verbs, ","), rule.Resources[0]), func(t *testing.T) {
						if err := part.set(slices.Delete(slices.Clone(all), i, i+1)); err != nil {
							t.Fatal(err)
						}
						g.waitAccess(t, rule, ruleNS, false)
						r := run()
						oneErrorLine(t, r, r.ExitCode, "cannot "+rule.Verbs[0], rule.Resources[0])
						if r.ExitCode == 0 || slices.Contains(tc.okCodes, r.ExitCode) {
							t.Errorf("the run succeeded without %v on %s:\n%s", rule.Verbs, rule.Resources[0], r)
						}
						tc.untouched(t, ns)
						if err := part.set(all); err != nil {
							t.Fatal(err)
						}
						g.waitAccess(t, rule, ruleNS, true)
					})
				}
			}

			// With the whole printed role the run succeeds.
			r := run()
			if r.ExitCode != 0 && !slices.Contains(tc.okCodes, r.ExitCode) {
				t.Fatalf("%s as %s with the printed role failed:\n%s", tc.use, g.user, r)
			}
			tc.done(t, ns, g.user)
			if tc.check != nil {
				tc.check(t, r)
			}
			if tc.update != nil {
				r := runKubectl(t, dir, "", append(append([]string{"envops"}, tc.update(ns)...), "--kubeconfig", g.kubeconfig)...)
				if r.ExitCode != 0 {
					t.Fatalf("the update as %s with the printed role failed:\n%s", g.user, r)
				}
				tc.updated(t, ns, g.user)
			}
		})
	}
}

func TestRBACClusterWideRoleCoversAllNamespaces(t *testing.T) {
	ns := newNamespace(t, devContext)
	other := newNamespace(t, devContext)
	createLintRCs(t, devContext, other)

	// A namespace role does not reach across namespaces.
	inOne := grantPrinted(t, ns, "lint", false)
	r := runKubectl(t, "", "", "envops", "lint", "--live", "-A", "--kubeconfig", inOne.kubeconfig)
	oneErrorLine(t, r, 2, "cannot list", "replicationcontrollers")

	// The cluster-wide role does, and lint reports the other namespace.
	g := grantPrinted(t, ns, "lint", true)
	r = runKubectl(t, "", "", "envops", "lint", "--live", "-A", "--kubeconfig", g.kubeconfig, "-o", "json")
	if r.ExitCode != 1 || !strings.Contains(r.Stdout, other) {
		t.Fatalf("lint --live -A with the cluster-wide role should report the findings in %s:\n%s", other, r)
	}
}

func TestRBACApplyWritesWhatItPrints(t *testing.T) {
	ns := newNamespace(t, devContext)
	t.Cleanup(func() { deleteClusterObjects(t, "node-agent", ns, false) })
	r := runKubectl(t, "", "", "envops", "rbac", "--for", "node-agent", "-n", ns, "--service-account", "agent-ci", "--apply", "--context", devContext)
	if r.ExitCode != 0 {
		t.Fatalf("rbac --apply:\n%s", r)
	}
	for _, want := range []string{"serviceaccount/agent-ci applied", "role.rbac.authorization.k8s.io/envops-node-agent applied", "clusterrole.rbac.authorization.k8s.io/envops-node-agent-cluster applied"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r)
		}
	}
	cs := clientset(t, devContext)
	role, err := cs.RbacV1().Roles(ns).Get(t.Context(), "envops-node-agent", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	printed := runKubectl(t, "", "", "envops", "rbac", "--for", "node-agent", "-n", ns, "--service-account", "agent-ci", "--context", devContext, "-o", "json")
	for _, rule := range role.Rules {
		if !strings.Contains(printed.Stdout, fmt.Sprintf("%q", rule.Resources[0])) {
			t.Errorf("applied rule on %s is not in the printed role", rule.Resources[0])
		}
	}
	managed := false
	for _, mf := range role.ManagedFields {
		managed = managed || mf.Manager == audit.FieldManager
	}
	if !managed {
		t.Errorf("the Role is not managed by %s: %+v", audit.FieldManager, role.ManagedFields)
	}
	// Applying again changes nothing and still succeeds.
	if again := runKubectl(t, "", "", "envops", "rbac", "--for", "node-agent", "-n", ns, "--service-account", "agent-ci", "--apply", "--context", devContext); again.ExitCode != 0 {
		t.Fatalf("second rbac --apply:\n%s", again)
	}
}

func TestRBACRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown use", args: []string{"--for", "delete-everything"}, want: `unknown use "delete-everything"`},
		{name: "unknown output", args: []string{"--for", "lint", "-o", "table"}, want: `unknown output format "table"`},
		{name: "invalid account name", args: []string{"--for", "lint", "--service-account", "CI_Bot"}, want: `invalid --service-account "CI_Bot"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runKubectl(t, "", "", append([]string{"envops", "rbac", "--context", devContext}, tt.args...)...)
			oneErrorLine(t, r, 2, tt.want)
		})
	}
}

// declareDev writes the environment Secret for dev into ns as an admin.
func declareDev(t *testing.T, ns string) {
	t.Helper()
	cs := clientset(t, devContext)
	// Bound to the cluster as init-env binds it, so the guard reads the
	// cluster's identity.
	_, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "environment", Annotations: boundTo(t, cs)},
		Data:       map[string][]byte{"environment": []byte("dev")},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// noControllers fails when ns holds any ReplicationController, Deployment
// or DaemonSet.
func noControllers(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	rcs, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deps, err := cs.AppsV1().Deployments(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dss, err := cs.AppsV1().DaemonSets(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rcs.Items) + len(deps.Items) + len(dss.Items); n > 0 {
		t.Errorf("the refused run left %d controllers in %s", n, ns)
	}
}

// checkRecord checks the audit annotations on an object the plugin wrote.
func checkRecord(t *testing.T, what string, annotations map[string]string, user, env, image string) {
	t.Helper()
	want := map[string]string{audit.DeployedBy: user, audit.Environment: env, audit.Image: image}
	for k, v := range want {
		if annotations[k] != v {
			t.Errorf("%s: annotation %s = %q, want %q", what, k, annotations[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339, annotations[audit.DeployedAt]); err != nil {
		t.Errorf("%s: annotation %s = %q is not a time: %v", what, audit.DeployedAt, annotations[audit.DeployedAt], err)
	}
	cause := annotations[audit.ChangeCause]
	if !strings.HasPrefix(cause, "kubectl envops ") || annotations[audit.KubeChangeCause] != cause {
		t.Errorf("%s: change cause %q (kubernetes.io/change-cause %q), want the command line", what, cause, annotations[audit.KubeChangeCause])
	}
}

// recordedDeployment creates the Deployment "web" with the audit record of
// a past deploy, as an admin.
func recordedDeployment(t *testing.T, cs kubernetes.Interface, ns string, r audit.Record) {
	t.Helper()
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(webDeployment(1, r.Image).Object, &d); err != nil {
		t.Fatal(err)
	}
	d.Annotations = r.Annotations()
	if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), &d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// quotedCommand is the first quoted "kubectl envops ..." command of an
// error line, as words.
func quotedCommand(t *testing.T, line string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(line, `"kubectl envops `)
	cmd, _, closed := strings.Cut(rest, `"`)
	if !ok || !closed {
		t.Fatalf("no quoted kubectl envops command in:\n%s", line)
	}
	return append([]string{"envops"}, strings.Fields(cmd)...)
}

// A deploy refused for a service account without its role names that
// account in the command it suggests, and that command, run by an admin,
// is exactly what lets the deploy through.
func TestRBACHintGrantsTheRefusedServiceAccount(t *testing.T) {
	ns := newNamespace(t, devContext)
	admin := clientset(t, devContext)
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: ciAccount}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteClusterObjects(t, "deploy", ns, false) })
	dir := deployProject(t, ns, ns, 1)
	kc := accountKubeconfig(t, ns, ciAccount)

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kubeconfig", kc)
	oneErrorLine(t, r, 1, `as "system:serviceaccount:`+ns+`:ci"`, "--service-account ci")
	noControllers(t, admin, ns)

	hint := quotedCommand(t, r.Stderr)
	if !slices.Contains(hint, "--apply") {
		t.Fatalf("the hint does not grant: %v", hint)
	}
	if g := runKubectl(t, dir, "", append(hint, "--context", devContext)...); g.ExitCode != 0 {
		t.Fatalf("the suggested command failed:\n%s", g)
	}
	var last result
	if !poll(t, 30*time.Second, func() bool {
		last = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kubeconfig", kc)
		return last.ExitCode == 0
	}) {
		t.Fatalf("the deploy is still refused after the suggested command:\n%s", last)
	}
}
