package rbac

import (
	"errors"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestManifests(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		// want lists kind/name and, for roles, the resources they grant.
		want []string
	}{
		{name: "init-env in a namespace: secrets, and the cluster identity cluster-wide",
			opts: Options{Use: InitEnv, Namespace: "web", ServiceAccount: "ci"},
			want: []string{"ServiceAccount/ci", "Role/envops-init-env secrets", "RoleBinding/envops-init-env:ci",
				"ClusterRole/envops-init-env-cluster namespaces", "ClusterRoleBinding/envops-init-env-cluster:web:ci"}},
		{name: "init-env cluster-wide adds namespaces",
			opts: Options{Use: InitEnv, Namespace: "ci", ClusterWide: true, ServiceAccount: "bot"},
			want: []string{"ServiceAccount/bot", "ClusterRole/envops-init-env secrets,namespaces", "ClusterRoleBinding/envops-init-env:ci:bot"}},
		{name: "deploy in a namespace: one Role, the deploy lock's Lease included",
			opts: Options{Use: Deploy, Namespace: "web", ServiceAccount: "ci"},
			want: []string{"ServiceAccount/ci", "Role/envops-deploy secrets,replicationcontrollers,pods,deployments,replicasets,services,configmaps,events,leases", "RoleBinding/envops-deploy:ci",
				"ClusterRole/envops-deploy-cluster namespaces", "ClusterRoleBinding/envops-deploy-cluster:web:ci"}},
		{name: "node-agent needs a ClusterRole for nodes",
			opts: Options{Use: NodeAgent, Namespace: "mon", ServiceAccount: "ci"},
			want: []string{"ServiceAccount/ci", "Role/envops-node-agent secrets,serviceaccounts,daemonsets,replicationcontrollers,pods,configmaps,deployments,events,leases", "RoleBinding/envops-node-agent:ci",
				"ClusterRole/envops-node-agent-cluster nodes,namespaces", "ClusterRoleBinding/envops-node-agent-cluster:mon:ci"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, obj := range Manifests(tt.opts) {
				if cr, ok := obj.(*rbacv1.ClusterRole); ok {
					for _, r := range cr.Rules {
						if r.Resources[0] == "namespaces" && len(r.Verbs) == 1 && r.Verbs[0] == "get" && strings.Join(r.ResourceNames, ",") != "kube-system" {
							t.Errorf("%s grants get on namespaces %v, want only kube-system", cr.Name, r.ResourceNames)
						}
					}
				}
				switch o := obj.(type) {
				case *rbacv1.Role:
					got = append(got, "Role/"+o.Name+" "+resources(o.Rules))
				case *rbacv1.ClusterRole:
					got = append(got, "ClusterRole/"+o.Name+" "+resources(o.Rules))
				case *rbacv1.RoleBinding:
					got = append(got, "RoleBinding/"+o.Name)
					if o.Subjects[0].Namespace != tt.opts.Namespace || o.Subjects[0].Name != tt.opts.ServiceAccount {
						t.Errorf("binding subject %+v", o.Subjects[0])
					}
				case *rbacv1.ClusterRoleBinding:
					got = append(got, "ClusterRoleBinding/"+o.Name)
				default:
					got = append(got, obj.GetObjectKind().GroupVersionKind().Kind+"/"+tt.opts.ServiceAccount)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func resources(rules []rbacv1.PolicyRule) string {
	var out []string
	for _, r := range rules {
		out = append(out, r.Resources...)
	}
	return strings.Join(out, ",")
}

func TestRoleVerbs(t *testing.T) {
	tests := []struct {
		name  string
		use   Use
		group string
		res   string
		verbs string // the verbs the role grants on the resource
	}{
		{name: "deploy holds its lock on a Lease", use: Deploy, group: "coordination.k8s.io", res: "leases", verbs: "get,create,update"},
		{name: "deploy deletes old pods during an update", use: Deploy, res: "pods", verbs: "get,list,watch,patch,delete"},
		{name: "node-agent replaces its old pods, as deploy does", use: NodeAgent, res: "pods", verbs: "get,list,watch,patch,delete"},
		{name: "node-agent takes the agent's deploy lock, as every deploy does", use: NodeAgent, group: "coordination.k8s.io", res: "leases", verbs: "get,create,update"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, obj := range Manifests(Options{Use: tt.use, Namespace: "web", ServiceAccount: "ci"}) {
				role, ok := obj.(*rbacv1.Role)
				if !ok {
					continue
				}
				for _, r := range role.Rules {
					if slices.Contains(r.APIGroups, tt.group) && slices.Contains(r.Resources, tt.res) {
						got = append(got, r.Verbs...)
					}
				}
			}
			if strings.Join(got, ",") != tt.verbs {
				t.Errorf("role %s grants %q on %s, want %q", RoleName(tt.use), strings.Join(got, ","), tt.res, tt.verbs)
			}
		})
	}
}

// A verb only an optional rule lists is never granted.
func TestRequiredLeavesOutOptionalRules(t *testing.T) {
	for _, u := range Uses {
		required := Required(u, true)
		for _, opt := range Rules(u) {
			if !opt.Optional {
				continue
			}
			for _, verb := range opt.Verbs {
				grantedElsewhere := false
				for _, r := range Rules(u) {
					if !r.Optional && r.Group == opt.Group && r.Resource == opt.Resource && r.Scope == opt.Scope && slices.Contains(r.Verbs, verb) {
						grantedElsewhere = true
					}
				}
				if grantedElsewhere {
					continue
				}
				for _, r := range required {
					if r.Group == opt.Group && r.Resource == opt.Resource && r.Scope == opt.Scope && slices.Contains(r.Verbs, verb) {
						t.Errorf("%s: optional %s %s is granted", u, verb, opt.GroupResource())
					}
				}
			}
		}
	}
}

func TestCheckNamesTheFirstMissingVerb(t *testing.T) {
	tests := []struct {
		name   string
		denied string // "verb resource" the fake cluster refuses
		ns     string
		all    bool
		want   string
	}{
		{name: "everything granted", want: ""},
		{name: "no create on replicationcontrollers", denied: "create replicationcontrollers", ns: "web",
			want: `forbidden: cannot create resource "replicationcontrollers" in namespace "web" as "ci"; ask an admin to create the roles with "kubectl envops rbac --for deploy -n web --apply" and bind them to user "ci" with "kubectl create rolebinding envops-deploy:ci -n web --role envops-deploy --user ci" and "kubectl create clusterrolebinding envops-deploy-cluster:ci --clusterrole envops-deploy-cluster --user ci"`},
		{name: "no patch on deployments.apps", denied: "patch deployments", ns: "web",
			want: `forbidden: cannot patch resource "deployments.apps" in namespace "web" as "ci"`},
		{name: "no update on the deploy lock's Lease", denied: "update leases", ns: "web",
			want: `forbidden: cannot update resource "leases.coordination.k8s.io" in namespace "web" as "ci"; ask an admin to create the roles with "kubectl envops rbac --for deploy -n web --apply" and bind them to user "ci" with "kubectl create rolebinding envops-deploy:ci -n web --role envops-deploy --user ci" and "kubectl create clusterrolebinding envops-deploy-cluster:ci --clusterrole envops-deploy-cluster --user ci"`},
		{name: "no delete on pods", denied: "delete pods", ns: "web",
			want: `forbidden: cannot delete resource "pods" in namespace "web" as "ci"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
				r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
				attrs := r.Spec.ResourceAttributes
				r.Status.Allowed = attrs.Verb+" "+attrs.Resource != tt.denied
				return true, r, nil
			})
			err := Check(t.Context(), client, Deploy, tt.ns, tt.all, "ci")
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var denied *DeniedError
			if !errors.As(err, &denied) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

// A role granted on the kube-system namespace by name passes the check: the
// check asks about that object, not about every namespace.
func TestCheckAsksAboutNamedObjects(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		attrs := r.Spec.ResourceAttributes
		r.Status.Allowed = attrs.Resource != "namespaces" || attrs.Name == "kube-system"
		return true, r, nil
	})
	if err := Check(t.Context(), client, Deploy, "web", false, "ci"); err != nil {
		t.Fatalf("a role with get on namespaces/kube-system was refused: %v", err)
	}
}

// A preset's agent gets its own ServiceAccount, a ClusterRole of what the
// agent reads, and a binding named after its namespace.
func TestAgentManifests(t *testing.T) {
	objs, err := AgentManifests(AgentOptions{Preset: "datadog", Namespace: "monitoring", ServiceAccount: "datadog-agent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("%d objects", len(objs))
	}
	sa, role, binding := objs[0].(*corev1.ServiceAccount), objs[1].(*rbacv1.ClusterRole), objs[2].(*rbacv1.ClusterRoleBinding)
	if sa.Name != "datadog-agent" || sa.Namespace != "monitoring" {
		t.Errorf("service account %s/%s", sa.Namespace, sa.Name)
	}
	if role.Name != "envops-agent-datadog" || binding.Name != "envops-agent-datadog:monitoring" || binding.RoleRef.Name != role.Name ||
		binding.Subjects[0].Name != "datadog-agent" || binding.Subjects[0].Namespace != "monitoring" {
		t.Errorf("role %s, binding %+v", role.Name, binding)
	}
	var kubelet, urls bool
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			if res == "nodes/metrics" && slices.Equal(r.Verbs, []string{"get"}) {
				kubelet = true
			}
			if slices.ContainsFunc(r.Verbs, func(v string) bool { return v == "create" || v == "update" || v == "patch" || v == "delete" }) {
				t.Errorf("the agent may write %s", res)
			}
		}
		if len(r.NonResourceURLs) > 0 && (len(r.Resources) > 0 || len(r.APIGroups) > 0) {
			t.Errorf("a rule mixes resources and URLs: %+v", r)
		}
		urls = urls || slices.Contains(r.NonResourceURLs, "/version")
	}
	if !kubelet || !urls {
		t.Errorf("rules %+v lack kubelet access or /version", role.Rules)
	}
	if _, err := AgentManifests(AgentOptions{Preset: "newrelic"}); err == nil || !strings.Contains(err.Error(), "datadog") {
		t.Errorf("unknown preset: %v", err)
	}
}
