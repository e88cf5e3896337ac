package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/nodeagent"
	"github.com/envops/kubectl-envops/pkg/rbac"
)

// RBACOptions holds the flags of "kubectl envops rbac".
type RBACOptions struct {
	For            string
	ClusterWide    bool
	ServiceAccount string
	Apply          bool
	Output         string
	// Preset adds the ServiceAccount and ClusterRole of that preset's
	// agent (node-agent --preset) to the role of node-agent.
	Preset string

	// Resolved by Complete.
	Namespace string
	// NewClient builds the client --apply writes with.
	NewClient func() (kubernetes.Interface, error)

	print *outputFlags
	genericiooptions.IOStreams
}

var rbacLong = templates.LongDesc(`
	Print the least-privilege role a service account needs to run a command of
	the plugin, for CI: exactly the resources and verbs the command calls. In a
	namespace that is a Role and RoleBinding (and, for node-agent, a ClusterRole
	to count nodes); with --cluster-wide one ClusterRole and ClusterRoleBinding,
	for init-env --all-namespaces or lint --live -A. The ServiceAccount itself is
	included. With --apply the objects are written with server-side apply.

	--preset NAME (with --for node-agent) adds what a preset agent itself needs:
	the ServiceAccount its pods run as, a ClusterRole of what the agent reads
	(its node's kubelet, pods and their metadata) and the binding of the two.

	Every command checks these rules before it changes anything, and names the
	missing verb and resource when one is not granted.`)

var rbacExample = templates.Examples(`
	# Print the role that lets the service account "ci" deploy into namespace web
	kubectl envops rbac --for deploy -n web --service-account ci

	# Grant it
	kubectl envops rbac --for deploy -n web --service-account ci --apply

	# A role for declaring the environment in every namespace
	kubectl envops rbac --for init-env --cluster-wide -n ci

	# Running the Datadog agent: the role that runs node-agent, and the
	# agent's own ServiceAccount and ClusterRole
	kubectl envops rbac --for node-agent --preset datadog -n monitoring --apply`)

// NewCmdRBAC builds "kubectl envops rbac". runF, when set, replaces Run so
// tests can inspect the parsed options.
func NewCmdRBAC(g *Globals, runF func(*RBACOptions) error) *cobra.Command {
	o := &RBACOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "rbac [--for init-env|deploy|lint|node-agent|history|all] [--preset NAME] [-n NS | --cluster-wide] [--apply]",
		Short:   "Print or apply the least-privilege role that runs a command of the plugin",
		Long:    rbacLong,
		Example: rbacExample,
		Args:    noArgs("name the command with --for"),
		RunE:    runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.StringVar(&o.For, "for", string(rbac.All), "The command to grant: init-env, deploy, lint, node-agent, history or all")
	f.BoolVar(&o.ClusterWide, "cluster-wide", false, "Grant the rules in every namespace (a ClusterRole), for init-env --all-namespaces and lint --live -A")
	f.StringVar(&o.ServiceAccount, "service-account", "envops", "The ServiceAccount (in the namespace of -n) to bind the role to")
	f.BoolVar(&o.Apply, "apply", false, "Write the objects with server-side apply instead of printing them")
	f.StringVar(&o.Preset, "preset", "", "With --for node-agent: also the ServiceAccount a preset agent runs as (node-agent --preset) and the ClusterRole of what the agent reads: "+strings.Join(rbac.AgentPresets(), ", "))
	o.output().addFlags(cmd, "Output format of the objects; yaml prints one document per object")
	_ = cmd.RegisterFlagCompletionFunc("for", cobra.FixedCompletions(rbac.UseNames(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(rbac.AgentPresets(), cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func (o *RBACOptions) output() *outputFlags { return outputOf(&o.print, &o.Output, "yaml").withNames() }

// Complete reports a wrong command line before the
// kubeconfig is read, then resolves the namespace and the client.
func (o *RBACOptions) Complete(g *Globals, _ *cobra.Command, _ []string) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var err error
	if o.Namespace, _, err = g.namespace(); err != nil {
		return err
	}
	if errs := validation.IsDNS1123Label(o.Namespace); len(errs) > 0 {
		return usageError("invalid namespace %q: a namespace name is at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit; fix -n or the namespace of the context", o.Namespace)
	}
	o.NewClient = func() (kubernetes.Interface, error) { return g.Factory.KubernetesClientSet() }
	return nil
}

// Validate checks the command line.
func (o *RBACOptions) Validate() error {
	if _, err := rbac.ParseUse(o.For); err != nil {
		return usageError("--for: %v", err)
	}
	if errs := validation.IsDNS1123Subdomain(o.ServiceAccount); len(errs) > 0 {
		return usageError("invalid --service-account %q: %s", o.ServiceAccount, errs[0])
	}
	if o.Preset != "" {
		if use, _ := rbac.ParseUse(o.For); use != rbac.NodeAgent && use != rbac.All {
			return usageError("--preset adds a node agent's own role: use it with --for node-agent (or all)")
		}
		if _, err := nodeagent.LookupPreset(o.Preset); err != nil {
			return usageError("--preset: %v", err)
		}
		if _, err := rbac.AgentRules(o.Preset); err != nil {
			return usageError("--preset: %v", err)
		}
	}
	return o.output().validate()
}

// Run prints or applies the objects.
func (o *RBACOptions) Run(ctx context.Context) error {
	use, err := rbac.ParseUse(o.For)
	if err != nil {
		return usageError("--for: %v", err)
	}
	objs := rbac.Manifests(rbac.Options{Use: use, Namespace: o.Namespace, ClusterWide: o.ClusterWide, ServiceAccount: o.ServiceAccount})
	if o.Preset != "" {
		preset, err := nodeagent.LookupPreset(o.Preset)
		if err != nil {
			return usageError("--preset: %v", err)
		}
		agent, err := rbac.AgentManifests(rbac.AgentOptions{Preset: preset.Name, Namespace: o.Namespace, ServiceAccount: preset.ServiceAccount})
		if err != nil {
			return usageError("--preset: %v", err)
		}
		objs = append(objs, agent...)
	}
	if !o.Apply {
		if err := o.printObjects(objs); err != nil {
			return err
		}
	} else {
		client, err := o.NewClient()
		if err != nil {
			return fmt.Errorf("cannot create a client: %w", err)
		}
		refs, err := rbac.Apply(ctx, client, objs, audit.FieldManager)
		for _, ref := range refs {
			fmt.Fprintf(o.Out, "%s applied\n", ref)
		}
		if err != nil {
			return err
		}
	}
	for _, r := range rbac.Rules(use) {
		if r.Optional {
			// Namespaces are cluster-scoped objects themselves.
			where := " in all namespaces"
			if r.GroupResource() == "namespaces" {
				where = ""
			}
			fmt.Fprintf(o.ErrOut, "note: not granted: %s %s%s (without it the command works but cannot %s)\n", strings.Join(r.Verbs, ","), r.GroupResource(), where, r.Why)
		}
	}
	return nil
}

func (o *RBACOptions) printObjects(objs []runtime.Object) error {
	if !o.output().isOwn() {
		return o.output().printObjects(o.Out, objs)
	}
	// One document per object, so the output feeds "kubectl apply -f -".
	p := &printers.YAMLPrinter{}
	for _, obj := range objs {
		if err := p.PrintObj(obj, o.Out); err != nil {
			return err
		}
	}
	return nil
}
