// Package rbac holds the one table of what each command of the plugin may
// do on a cluster, renders it as Roles and bindings, and checks a user's
// access against it before a command changes anything.
package rbac

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Use is a command, or family of commands, that needs its own role.
type Use string

// The uses a role can be printed for.
const (
	InitEnv   Use = "init-env"
	Deploy    Use = "deploy"
	Lint      Use = "lint"
	NodeAgent Use = "node-agent"
	History   Use = "history"
	// All is every use at once.
	All Use = "all"
)

// Uses are the single uses, in the order they are documented.
var Uses = []Use{InitEnv, Deploy, Lint, NodeAgent, History}

// ParseUse checks a --for value.
func ParseUse(s string) (Use, error) {
	u := Use(s)
	if u == All || slices.Contains(Uses, u) {
		return u, nil
	}
	return "", fmt.Errorf("unknown use %q: pick one of %s", s, strings.Join(UseNames(), ", "))
}

// UseNames are the values ParseUse accepts, All last.
func UseNames() []string {
	names := make([]string, 0, len(Uses)+1)
	for _, u := range Uses {
		names = append(names, string(u))
	}
	return append(names, string(All))
}

// Scope says where a rule is granted.
type Scope int

const (
	// Namespaced rules are granted in the namespace the command acts on
	// (a Role), or in every namespace when it acts on all of them.
	Namespaced Scope = iota
	// Cluster rules need a ClusterRole: the resource is cluster-scoped.
	Cluster
)

// Rule is one line of the table: verbs on one resource.
type Rule struct {
	Group    string
	Resource string
	Verbs    []string
	Scope    Scope
	// AllNamespaces marks a rule needed only when the command acts on every
	// namespace (init-env -A, lint --live -A).
	AllNamespaces bool
	// Optional marks a call whose refusal the command tolerates (it then
	// does a little less); optional rules are not granted.
	Optional bool
	// Why says which part of the command makes the calls.
	Why string
	// ResourceNames, when set, limits the rule to these objects.
	ResourceNames []string
}

// GroupResource is the rule's resource as kubectl spells it (pods,
// deployments.apps).
func (r Rule) GroupResource() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

var (
	rcVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	// A rolling update (deploy, and the node agent's ReplicationController)
	// deletes the old pods itself, in batches; the replication manager then
	// creates their replacements.
	deployPodVerbs = []string{"get", "list", "watch", "patch", "delete"}
)

// The cluster identity the environment Secret is bound to: init-env reads
// it to bind, the guard to compare. Only these two objects are readable;
// the ClusterProperty is optional since most clusters serve none.
var (
	identityNamespace = Rule{Resource: "namespaces", Verbs: []string{"get"}, Scope: Cluster, ResourceNames: []string{"kube-system"}, Why: "read the kube-system namespace's UID, the cluster identity the environment Secret is bound to"}
	identityProperty  = Rule{Group: "about.k8s.io", Resource: "clusterproperties", Verbs: []string{"get"}, Scope: Cluster, ResourceNames: []string{"cluster.clusterset.k8s.io"}, Optional: true, Why: "read the ClusterProperty that identifies the cluster, on clusters that serve one (without it the kube-system UID is used)"}
)

// targetNamespace is the guard's look at the namespace a command acts on,
// optional since a Role cannot grant it: a cluster-scoped object.
var targetNamespace = Rule{Resource: "namespaces", Verbs: []string{"get"}, Scope: Cluster, Optional: true, Why: "refuse at once a namespace that is being deleted or does not exist, rather than wait for pods that never come"}

// table is what each use calls. A unit test runs the commands against
// recording clients and fails when a call is missing here.
var table = map[Use][]Rule{
	InitEnv: {
		{Resource: "secrets", Verbs: []string{"get", "create", "update"}, Why: "read and write the environment Secret"},
		{Resource: "namespaces", Verbs: []string{"list", "watch"}, Scope: Cluster, AllNamespaces: true, Why: "find every namespace, and new ones with --watch-namespaces"},
		{Resource: "secrets", Verbs: []string{"list"}, Scope: Cluster, Optional: true, Why: "see which environment other namespaces declare"},
		identityNamespace, identityProperty,
		{Resource: "namespaces", Verbs: []string{"get", "create"}, Scope: Cluster, Optional: true, Why: "with --create-namespace, create the namespace of a new cluster (an administrator's act, not granted)"},
	},
	Deploy: {
		{Resource: "secrets", Verbs: []string{"get"}, Why: "read the environment Secret before changing anything"},
		{Resource: "replicationcontrollers", Verbs: rcVerbs, Why: "create, roll, rename and remove ReplicationControllers"},
		{Resource: "pods", Verbs: deployPodVerbs, Why: "wait for new pods to be Ready, label the pods an update adopts and delete the old ones"},
		{Group: "apps", Resource: "deployments", Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}, Why: "apply Deployments and wait for their rollout; prune those an overlay no longer renders"},
		{Group: "apps", Resource: "replicasets", Verbs: []string{"list", "watch"}, Why: "follow a Deployment's rollout and its history"},
		{Resource: "services", Verbs: []string{"get", "list", "create", "patch", "delete"}, Why: "apply the Services an app renders; find and prune those it no longer renders"},
		{Resource: "configmaps", Verbs: []string{"get", "list", "create", "patch", "delete"}, Why: "apply the ConfigMaps an app renders and the parent of the app's set (envops-applyset-APP); find and prune those it no longer renders"},
		{Resource: "events", Verbs: []string{"create"}, Why: "record who deployed what in the audit trail"},
		{Group: "coordination.k8s.io", Resource: "leases", Verbs: []string{"get", "create", "update"}, Why: "hold the app's deploy lock, a Lease, so two deploys of an app never interleave"},
		identityNamespace, identityProperty, targetNamespace,
		// --create-namespace sets up namespaces, which is a cluster
		// administrator's act: the deploy role does not grant it.
		{Resource: "namespaces", Verbs: []string{"get", "create"}, Scope: Cluster, Optional: true, Why: "with --create-namespace, find and create the namespaces apps go to"},
		{Resource: "secrets", Verbs: []string{"list"}, Scope: Cluster, Optional: true, Why: "with --create-namespace, check which environment the cluster declares before creating a namespace"},
		{Resource: "secrets", Verbs: []string{"create"}, Optional: true, Why: "with --create-namespace, write the environment Secret into a namespace it creates"},
	},
	Lint: {
		{Resource: "replicationcontrollers", Verbs: []string{"list"}, Why: "lint --live reads workloads"},
		{Group: "apps", Resource: "deployments", Verbs: []string{"list"}, Why: "lint --live reads workloads"},
		{Group: "apps", Resource: "daemonsets", Verbs: []string{"list"}, Why: "lint --live reads workloads"},
		{Group: "apps", Resource: "statefulsets", Verbs: []string{"list"}, Why: "lint --live reads workloads"},
		{Group: "apps", Resource: "replicasets", Verbs: []string{"list"}, Why: "lint --live reads workloads"},
		{Group: "batch", Resource: "jobs", Verbs: []string{"list"}, Why: "lint --live reads workloads"},
		{Group: "batch", Resource: "cronjobs", Verbs: []string{"list"}, Why: "lint --live reads workloads"},
		{Resource: "pods", Verbs: []string{"list"}, Why: "lint --live reads pods no controller owns"},
	},
	NodeAgent: {
		{Resource: "secrets", Verbs: []string{"get"}, Why: "check that the namespace declares the environment the agent mounts"},
		{Resource: "secrets", Verbs: []string{"get"}, Why: "check that a preset agent's API key Secret has its key (the value is never kept or shown)"},
		{Resource: "serviceaccounts", Verbs: []string{"get"}, Why: "check that a preset agent's ServiceAccount exists"},
		{Group: "apps", Resource: "daemonsets", Verbs: []string{"get", "list", "watch", "create", "patch"}, Why: "apply the agent as a DaemonSet and wait for it"},
		{Resource: "replicationcontrollers", Verbs: rcVerbs, Why: "apply, roll and resize the agent's ReplicationController"},
		{Resource: "pods", Verbs: deployPodVerbs, Why: "wait for agent pods, report those a taken host port blocks, and replace old ones one node at a time"},
		{Resource: "nodes", Verbs: []string{"list", "watch"}, Scope: Cluster, Why: "count the schedulable nodes"},
		{Resource: "pods", Verbs: []string{"list"}, Scope: Cluster, Optional: true, Why: "name the pod of another namespace that holds the host port"},
		// The agent is applied as every deploy is: one at a time, recorded,
		// in a set of its own.
		{Resource: "configmaps", Verbs: []string{"get", "list", "create", "patch"}, Why: "keep the agent as a set of its own (envops-applyset-NAME), as every deploy does"},
		{Group: "apps", Resource: "deployments", Verbs: []string{"get"}, Why: "refuse a ReplicationController agent beside a Deployment of its name, which would run a second set of pods"},
		{Resource: "events", Verbs: []string{"create"}, Why: "record who applied the agent in the audit trail"},
		{Group: "coordination.k8s.io", Resource: "leases", Verbs: []string{"get", "create", "update"}, Why: "hold the agent's deploy lock, a Lease, so two applies of one agent never interleave"},
		identityNamespace, identityProperty, targetNamespace,
	},
	History: {
		{Resource: "replicationcontrollers", Verbs: []string{"list"}, Why: "read the audit records on the app's controllers"},
		{Group: "apps", Resource: "deployments", Verbs: []string{"list"}, Why: "read the audit records on the app's Deployments"},
		{Group: "apps", Resource: "replicasets", Verbs: []string{"list"}, Why: "read a Deployment's older revisions"},
		{Resource: "events", Verbs: []string{"list"}, Why: "read the deploy Events that outlive replaced controllers"},
	},
}

// Implicit are calls every authenticated user may make (the built-in
// ClusterRoles system:basic-user and system:discovery grant them), so no
// role needs them: API discovery, and asking who one is and what one may do.
var Implicit = []Rule{
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews", Verbs: []string{"create"}, Scope: Cluster, Why: "learn the user's name for the audit trail"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews", Verbs: []string{"create"}, Scope: Cluster, Why: "check access before changing anything"},
}

// Rules returns the whole table of a use (All merges every use), optional
// rules included.
func Rules(u Use) []Rule {
	if u != All {
		return slices.Clone(table[u])
	}
	var out []Rule
	for _, one := range Uses {
		out = append(out, table[one]...)
	}
	return out
}

// Required returns the rules a role for u grants, merged so that each
// resource and scope appears once. allNamespaces adds the rules needed
// only when the command acts on every namespace.
func Required(u Use, allNamespaces bool) []Rule {
	type key struct {
		group, resource string
		scope           Scope
	}
	merged := map[key]*Rule{}
	var order []key
	for _, r := range Rules(u) {
		if r.Optional || (r.AllNamespaces && !allNamespaces) {
			continue
		}
		k := key{r.Group, r.Resource, r.Scope}
		m, ok := merged[k]
		if !ok {
			c := r
			c.Verbs = nil
			c.AllNamespaces = false
			merged[k] = &c
			order = append(order, k)
			m = &c
		}
		for _, v := range r.Verbs {
			if !slices.Contains(m.Verbs, v) {
				m.Verbs = append(m.Verbs, v)
			}
		}
	}
	out := make([]Rule, 0, len(order))
	for _, k := range order {
		r := *merged[k]
		sortVerbs(r.Verbs)
		out = append(out, r)
	}
	return out
}

// verbOrder sorts verbs the way kubectl prints them: reads, then writes.
var verbOrder = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

func sortVerbs(verbs []string) {
	sort.SliceStable(verbs, func(i, j int) bool {
		return slices.Index(verbOrder, verbs[i]) < slices.Index(verbOrder, verbs[j])
	})
}

// Call is one request a command makes, as authorization sees it.
type Call struct {
	Verb     string
	Group    string
	Resource string
	// AllNamespaces is true for a call that names no namespace: on a
	// cluster-scoped resource, or across every namespace.
	AllNamespaces bool
}

// Covers reports whether the table of u lists call, either granted or
// tolerated (optional), or implicit. clusterWide says the command ran
// across every namespace, so its role is a ClusterRole.
func Covers(u Use, call Call, clusterWide bool) bool {
	for _, r := range append(Rules(u), Implicit...) {
		if r.Group != call.Group || r.Resource != call.Resource || !slices.Contains(r.Verbs, call.Verb) {
			continue
		}
		if r.AllNamespaces && !clusterWide {
			continue
		}
		// A call without a namespace needs a ClusterRole: a cluster rule,
		// or any rule when the whole role is granted cluster-wide.
		if call.AllNamespaces && r.Scope == Namespaced && !clusterWide {
			continue
		}
		return true
	}
	return false
}
