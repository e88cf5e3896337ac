package rbac

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// AgentRule is one thing a preset's agent itself reads from the API
// server: verbs on resources, or on non-resource URLs.
type AgentRule struct {
	Group           string
	Resources       []string
	NonResourceURLs []string
	Verbs           []string
	Why             string
}

// agentTable holds, by preset name (nodeagent's Presets), what the agent
// running on every node reads. It is granted cluster-wide to the agent's
// ServiceAccount, since an agent reads the pods of every namespace on its
// node. These are the agent's own calls, not the plugin's: the plugin only
// points the agent's pods at the ServiceAccount.
var agentTable = map[string][]AgentRule{
	"datadog": {
		{Resources: []string{"nodes/metrics", "nodes/spec", "nodes/proxy", "nodes/stats"}, Verbs: []string{"get"},
			Why: "read the kubelet of its node: the pods it runs and their containers' metrics"},
		{Resources: []string{"pods", "nodes", "namespaces", "services", "endpoints"}, Verbs: []string{"get", "list", "watch"},
			Why: "tag metrics and traces with the pod's labels, its node, namespace and services"},
		{NonResourceURLs: []string{"/version", "/healthz"}, Verbs: []string{"get"},
			Why: "learn the API server's version and health"},
	},
}

// AgentPresets are the presets that have agent rules, sorted.
func AgentPresets() []string {
	names := make([]string, 0, len(agentTable))
	for n := range agentTable {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AgentRules returns what a preset's agent reads, or an error naming the
// presets there are.
func AgentRules(preset string) ([]AgentRule, error) {
	rules, ok := agentTable[preset]
	if !ok {
		return nil, fmt.Errorf("no agent role for preset %q: pick one of %s", preset, strings.Join(AgentPresets(), ", "))
	}
	return slices.Clone(rules), nil
}

// AgentRoleName is the ClusterRole of a preset's agent.
func AgentRoleName(preset string) string { return "envops-agent-" + preset }

// AgentOptions says which agent's role to render, and for which account.
type AgentOptions struct {
	Preset string
	// Namespace is where the agent runs, and its ServiceAccount lives.
	Namespace string
	// ServiceAccount is the account the agent's pods run as.
	ServiceAccount string
}

// AgentManifests renders the agent's ServiceAccount, its ClusterRole and
// a ClusterRoleBinding of the two (named after the namespace, so that the
// agent can run in several).
func AgentManifests(o AgentOptions) ([]runtime.Object, error) {
	rules, err := AgentRules(o.Preset)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{ManagedByLabel: ManagedByValue, UseLabel: "agent-" + o.Preset}
	var policy []rbacv1.PolicyRule
	for _, r := range rules {
		pr := rbacv1.PolicyRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs}
		if len(r.Resources) > 0 {
			pr.APIGroups, pr.Resources = []string{r.Group}, r.Resources
		}
		policy = append(policy, pr)
	}
	name := AgentRoleName(o.Preset)
	return []runtime.Object{
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: o.ServiceAccount, Namespace: o.Namespace, Labels: labels},
		},
		&rbacv1.ClusterRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Rules:      policy,
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: name + ":" + o.Namespace, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: o.ServiceAccount, Namespace: o.Namespace}},
		},
	}, nil
}
