package cmd

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/nodeagent"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/rollout"
	"github.com/envops/kubectl-envops/pkg/text"
	"github.com/envops/kubectl-envops/pkg/transform"
	"github.com/envops/kubectl-envops/pkg/version"
)

// NodeAgentOptions holds the flags and resolved state of "kubectl envops node-agent".
type NodeAgentOptions struct {
	Name          string
	Image         string
	HostPort      int
	Protocol      string
	EnvFromSecret bool
	Tier          string
	Role          string
	Mode          string
	Output        string
	Sync          bool
	Watch         bool
	Timeout       time.Duration
	ChangeCause   string
	// Preset names a known agent (--preset); APIKeySecret is its
	// --api-key-secret NAME[/KEY].
	Preset       string
	APIKeySecret string

	// Resolved by Complete.
	preset       *nodeagent.Preset
	apiKeySecret nodeagent.SecretKeyRef
	mode         nodeagent.Mode
	protocol     corev1.Protocol
	dryRun       rollout.DryRun
	// shaping is the first flag given that shapes the agent --image applies.
	shaping     string
	hostPortSet bool
	print       *outputFlags
	// Guard, when set, checks access before anything is changed and returns
	// who the user is; Cause is the change cause recorded on the agent.
	Guard     func(ctx context.Context, namespace string, allNamespaces bool) (string, error)
	Cause     string
	Namespace string
	Config    *config.Config
	Client    kubernetes.Interface
	Discovery discovery.DiscoveryInterface
	// deployer is the deploy an agent is applied through, for the
	// environment the namespace declares; a dry run needs none.
	deployer func(env string) *deploy.Deployer

	genericiooptions.IOStreams
}

var nodeAgentLong = templates.LongDesc(`
	Run a monitoring agent exactly once on every node.

	The agent is rendered with the label convention (tier "monitoring" and role
	"agent", or --tier and --role), the environment Secret mounted read-only, and a container port
	that claims --host-port on its node. It is applied as a DaemonSet where the
	cluster serves apps/v1 daemonsets (--mode auto, the default), or else as a
	ReplicationController whose replicas equal the number of schedulable nodes:
	the host port lets the scheduler place at most one agent per node. A new
	--image rolls the ReplicationController one node at a time (max surge 0,
	since two agents cannot share the host port).

	Nodes come and go, so the ReplicationController goes stale: --sync sets its
	replicas to the number of schedulable nodes now (cordoned nodes and nodes
	with taints the agent does not tolerate are not counted), and --watch keeps
	them in step until Ctrl-C. Both report agent pods left Pending because
	something else holds the host port on a node.

	--preset runs a known agent as data describes it. --preset datadog runs the
	Datadog agent (image datadog/agent:7 unless --image says otherwise) with
	DogStatsD on host port 8125/UDP and traces on 8126/TCP, the convention's
	labels of .envops.yaml as pod tags (DD_KUBERNETES_POD_LABELS_AS_TAGS), its
	env tag (DD_ENV) read from the environment Secret's key, and its API key
	(DD_API_KEY) read from the Secret that --api-key-secret NAME[/KEY] names
	(key "api-key" by default): the key itself is never read into a manifest,
	an annotation, an Event or the output. Its pods run as the ServiceAccount
	datadog-agent, which "kubectl envops rbac --for node-agent --preset datadog
	--apply" creates with the role the agent needs.`)

var nodeAgentExample = templates.Examples(`
	# Run the agent on every node, as a DaemonSet if the cluster has them
	kubectl envops node-agent datadog --image datadog/agent:7 --host-port 8125 --protocol UDP -n monitoring

	# Force the ReplicationController fallback and show what would be applied
	kubectl envops node-agent datadog --image datadog/agent:7 --host-port 8125 --mode replicationcontroller --dry-run=server -o yaml

	# Match the fallback's replicas to the nodes once, then keep them in step
	kubectl envops node-agent datadog --sync
	kubectl envops node-agent datadog --sync --watch

	# Which nodes have a Ready agent?
	kubectl envops node-agent status datadog

	# The Datadog agent, its API key in the Secret "datadog" (key api-key)
	kubectl envops rbac --for node-agent --preset datadog -n monitoring --apply
	kubectl envops node-agent datadog --preset datadog --api-key-secret datadog -n monitoring

	# Exactly what it would apply, as the ReplicationController fallback
	kubectl envops node-agent datadog --preset datadog --api-key-secret datadog/api-key --mode replicationcontroller --dry-run -o yaml`)

// NewCmdNodeAgent builds "kubectl envops node-agent" and its "status"
// subcommand. runF, when set, replaces Run so tests can inspect the parsed
// options.
func NewCmdNodeAgent(g *Globals, runF func(*NodeAgentOptions) error) *cobra.Command {
	o := &NodeAgentOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "node-agent NAME (--image IMAGE --host-port PORT | --preset NAME [--api-key-secret NAME[/KEY]] | --sync [--watch])",
		Short:   "Run an agent once per node: a DaemonSet, or a ReplicationController kept at one replica per node",
		Long:    nodeAgentLong,
		Example: nodeAgentExample,
		Args:    exactArgs(1, "one agent name"),
		RunE:    runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", "", "Image of the agent; creates or updates it (a new image rolls it one node at a time)")
	f.IntVar(&o.HostPort, "host-port", 0, "Port the agent claims on every node (1-65535); required with --image")
	f.StringVar(&o.Protocol, "protocol", "TCP", "Protocol of the host port: TCP or UDP")
	f.StringVar(&o.Tier, "tier", nodeagent.Tier, "Tier label of the agent; must be allowed by labels.allowed.tier of .envops.yaml")
	f.StringVar(&o.Role, "role", nodeagent.Role, "Role label of the agent; must be allowed by labels.allowed.role of .envops.yaml (it is part of the name label, so keep it once the agent runs)")
	f.BoolVar(&o.EnvFromSecret, "env-from-secret", false, "Also expose the environment Secret's keys to the agent as environment variables")
	f.StringVar(&o.Mode, "mode", string(nodeagent.ModeAuto), "Controller to run the agent: auto (a DaemonSet when the cluster serves apps/v1 daemonsets), daemonset or replicationcontroller")
	o.output().addFlags(cmd, "Print the applied controller in this format instead of a summary")
	addDryRunFlag(cmd, `Must be "none", "client" or "server": client only prints what would be applied, server has the API server validate it without persisting it`)
	f.BoolVar(&o.Sync, "sync", false, "Set the ReplicationController's replicas to the number of schedulable nodes, and report agent pods Pending for a taken host port")
	f.BoolVarP(&o.Watch, "watch", "w", false, "With --sync, keep the replicas in step as nodes are added, removed or cordoned, until Ctrl-C")
	f.DurationVar(&o.Timeout, "timeout", rollout.DefaultTimeout, "How long to wait for the agent's pods (a rolling update: without progress) before failing")
	f.StringVar(&o.ChangeCause, "change-cause", "", "Why the agent is changed, recorded in its annotations (default: this command line, credentials redacted)")
	f.StringVar(&o.Preset, "preset", "", "Run a known agent with its image, ports and settings: "+strings.Join(nodeagent.PresetNames(), ", "))
	f.StringVar(&o.APIKeySecret, "api-key-secret", "", "With --preset: the Secret (in the agent's namespace) holding the agent's API key, as NAME or NAME/KEY; only this reference is ever written")
	_ = cmd.RegisterFlagCompletionFunc("preset", cobra.FixedCompletions(nodeagent.PresetNames(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"auto", "daemonset", "replicationcontroller"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions([]string{"TCP", "UDP"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.AddCommand(NewCmdNodeAgentStatus(g, nil))
	return cmd
}

func (o *NodeAgentOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output, "").withNames()
}

// Complete parses the flags, reports a wrong command line before the
// kubeconfig is read, then loads the project file and resolves namespace
// and clients.
func (o *NodeAgentOptions) Complete(g *Globals, cmd *cobra.Command, args []string) error {
	o.Name = args[0]
	var err error
	if o.mode, err = nodeagent.ParseMode(o.Mode); err != nil {
		return usageError("%v", err)
	}
	if o.protocol, err = nodeagent.ParseProtocol(o.Protocol); err != nil {
		return usageError("%v", err)
	}
	if o.dryRun, err = rolloutDryRun(cmd); err != nil {
		return err
	}
	for _, name := range []string{"host-port", "protocol", "env-from-secret", "output", "api-key-secret"} {
		if o.shaping == "" && cmd.Flags().Changed(name) {
			o.shaping = name
		}
	}
	o.hostPortSet = cmd.Flags().Changed("host-port")
	if err := o.completePreset(cmd); err != nil {
		return err
	}
	o.Sync = o.Sync || o.Watch
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Config, err = g.LoadConfig(); err != nil {
		return err
	}
	if o.Namespace, o.Client, err = g.currentTarget(); err != nil {
		return err
	}
	if o.Discovery, err = g.Factory.ToDiscoveryClient(); err != nil {
		return fmt.Errorf("cannot create a discovery client: %w", err)
	}
	o.Guard = rbac.NewGuard(o.Client, rbac.NodeAgent).Check
	o.Cause = changeCause(cmd, args, o.ChangeCause)
	var kubeContext string
	if _, err := g.kubeconfig(&kubeContext); err != nil {
		return err
	}
	// The agent is applied as every deploy is, through the one entry
	// point: the guard of the node-agent role, the lock, the record.
	o.deployer = func(env string) *deploy.Deployer {
		d := &deploy.Deployer{
			Target:  &Target{Env: env, Context: kubeContext, Namespace: o.Namespace, Config: o.Config, Client: o.Client, Warn: o.ErrOut},
			Tooling: "kubectl-envops/" + version.Get().Version,
			Guard:   o.Guard,
			Warn:    func(app string, err error) { printLine(o.ErrOut, "warning: %s: %v", app, err) },
		}
		d.Dynamic, _ = g.Factory.DynamicClient()
		d.Mapper, _ = g.Factory.ToRESTMapper()
		return d
	}
	return nil
}

// completePreset resolves --preset (its image, unless --image is given)
// and --api-key-secret.
func (o *NodeAgentOptions) completePreset(cmd *cobra.Command) error {
	if o.Preset == "" {
		if o.APIKeySecret != "" {
			return usageError("--api-key-secret names the API key of a preset agent: pass --preset too (%s)", strings.Join(nodeagent.PresetNames(), ", "))
		}
		return nil
	}
	p, err := nodeagent.LookupPreset(o.Preset)
	if err != nil {
		return usageError("--preset: %v", err)
	}
	o.preset = &p
	for _, name := range []string{"host-port", "protocol"} {
		if cmd.Flags().Changed(name) {
			return usageError("--preset %s claims its own host ports (%s): drop --%s", p.Name, presetPorts(p), name)
		}
	}
	if o.Image == "" {
		o.Image = p.Image
	}
	if o.APIKeySecret != "" {
		if o.apiKeySecret, err = nodeagent.ParseSecretKeyRef(o.APIKeySecret, p.APIKeyKey); err != nil {
			return usageError("%v", err)
		}
	}
	return nil
}

func presetPorts(p nodeagent.Preset) string {
	parts := make([]string, len(p.Ports))
	for i, port := range p.Ports {
		parts[i] = fmt.Sprintf("%d/%s", port.Port, port.Protocol)
	}
	return strings.Join(parts, ", ")
}

// Validate checks the command line.
func (o *NodeAgentOptions) Validate() error {
	if err := nodeagent.ValidateName(o.Name); err != nil {
		return usageError("%v", err)
	}
	if err := o.output().validate(); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return usageError("invalid --timeout %s: use a positive duration such as 5m", o.Timeout)
	}
	// A port given as 0 is invalid rather than missing.
	hostPort := o.HostPort != 0 || o.hostPortSet
	if hostPort {
		if err := nodeagent.ValidateHostPort(o.HostPort); err != nil {
			return usageError("%v", err)
		}
	}
	if o.Image == "" {
		if o.shaping != "" {
			return usageError("--%s shapes the agent that --image applies: pass --image too, or leave --%s out", o.shaping, o.shaping)
		}
		if !o.Sync && !o.Watch {
			return usageError("nothing to do for agent %q: pass --image and --host-port to create or update it, or --sync to match its replicas to the nodes", o.Name)
		}
	} else {
		if err := transform.ValidateImage(o.Image); err != nil {
			return usageError("%v", err)
		}
		if !hostPort && o.preset == nil {
			return usageError("--host-port is required with --image: the agent claims that port on every node")
		}
		if o.preset != nil && o.preset.APIKeyVar != "" && o.apiKeySecret.Name == "" {
			return usageError("--preset %s needs the agent's API key: pass --api-key-secret NAME[/KEY], the Secret in the agent's namespace that holds it (key %q by default)", o.preset.Name, o.preset.APIKeyKey)
		}
	}
	if o.Watch && (o.dryRun != rollout.DryRunNone || o.Output != "") {
		return usageError("--watch keeps changing the replicas as nodes change: it cannot be combined with --dry-run or --output")
	}
	if (o.Sync || o.Watch) && o.mode == nodeagent.ModeDaemonSet {
		return usageError("--sync and --watch keep a ReplicationController at one replica per node, and --mode daemonset asks for a DaemonSet, which does that by itself: drop one of them")
	}
	return nil
}

// Run applies the agent and then syncs or watches, as asked.
func (o *NodeAgentOptions) Run(ctx context.Context) error {
	ctx, stop := untilInterrupted(ctx)
	defer stop()
	spec := nodeagent.Spec{
		Name: o.Name, Namespace: o.Namespace, Image: o.Image,
		HostPort: int32(o.HostPort), Protocol: o.protocol, EnvFromSecret: o.EnvFromSecret,
		Tier: o.Tier, Role: o.Role,
		Secret: o.Config.Secret, Labels: o.Config.Labels, Record: &audit.Record{Time: time.Now(), Cause: o.Cause},
		Preset: o.preset, APIKeySecret: o.apiKeySecret,
	}
	if err := spec.Validate(); o.Image != "" && err != nil {
		return usageError("%v", err)
	}
	// With -o, stdout holds only the object; progress goes to stderr.
	progress := o.Out
	if !o.output().isOwn() {
		progress = o.ErrOut
	}
	say := func(format string, a ...any) { printLine(progress, format, a...) }
	job := &nodeagent.Job{Client: o.Client, Discovery: o.Discovery, Spec: spec, Sync: o.Sync, Watch: o.Watch, Guard: o.Guard,
		Install: nodeagent.InstallOptions{Mode: o.mode, DryRun: o.dryRun, Timeout: o.Timeout},
		Events: func(e rollout.Event) {
			if e.Message != "" && e.Type != rollout.EventDone {
				say("%s: %s", e.Type, e.Message)
			}
		},
		Installed: func(res *nodeagent.InstallResult) error { return o.printInstall(res, say) },
		Deploy:    o.deploy(say),
		Synced:    o.printSync,
		Note:      func(line string) { printLine(o.ErrOut, "%s", line) },
	}
	return job.Run(ctx)
}

// printInstall prints the applied object as -o asks, and a summary line.
func (o *NodeAgentOptions) printInstall(res *nodeagent.InstallResult, say func(string, ...any)) error {
	if err := o.output().printObjects(o.Out, []runtime.Object{printable(res.Object)}); err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	kind := nodeagent.KindReplicationController
	if res.Mode == nodeagent.ModeDaemonSet {
		kind = nodeagent.KindDaemonSet
	}
	line := fmt.Sprintf("%s %s in namespace %q", nodeagent.Ref(kind, o.Name), res.Action, o.Namespace)
	if res.Mode == nodeagent.ModeReplicationController {
		line += fmt.Sprintf(" with %s, one per schedulable node", text.Count(res.Nodes.Count(), "replica"))
	}
	line += fmt.Sprintf(" (%s: %s)", res.Mode, res.Why)
	say("%s%s", line, dryRunSuffix(o.dryRun))
	for _, e := range res.Nodes.Excluded {
		say("  not counted: node %s (%s)", e.Node, e.Reason)
	}
	return nil
}

// printSync prints one sync result: the replicas, the nodes left out, and
// the pods waiting for a host port.
func (o *NodeAgentOptions) printSync(res *nodeagent.SyncResult) {
	ref := nodeagent.Ref(nodeagent.KindReplicationController, res.Name)
	switch {
	case res.Gone:
		printLine(o.Out, "%s is gone from namespace %q; waiting for it to be created again", ref, res.Namespace)
		return
	case res.Updating != "":
		printLine(o.Out, "%s is being updated through %s; its replicas are left to the update", ref, res.Updating)
	case res.Scaled():
		printLine(o.Out, "%s scaled from %d to %s: %s%s", ref, res.From, text.Count(res.To, "replica"), text.Count(res.Nodes.Count(), "schedulable node"), dryRunSuffix(o.dryRun))
	default:
		printLine(o.Out, "%s has %s, one per schedulable node: nothing to change", ref, text.Count(res.To, "replica"))
	}
	for _, e := range res.Nodes.Excluded {
		printLine(o.Out, "  not counted: node %s (%s)", e.Node, e.Reason)
	}
	for _, c := range res.Conflicts {
		printLine(o.ErrOut, "warning: %s", c.Describe())
	}
}

// NodeAgentStatusOptions holds the flags of "kubectl envops node-agent status".
type NodeAgentStatusOptions struct {
	Name string
	// Selector limits the table to the nodes whose labels it selects.
	Selector  string
	Output    string
	NoHeaders bool

	Namespace string
	Client    kubernetes.Interface

	print *outputFlags
	genericiooptions.IOStreams
}

var nodeAgentStatusExample = templates.Examples(`
	# Which nodes have a Ready agent, and why the others do not
	kubectl envops node-agent status datadog -n monitoring

	# The same as JSON, for scripts
	kubectl envops node-agent status datadog -o json

	# Only the nodes of one zone, and whether each must have an agent
	kubectl envops node-agent status datadog -l topology.kubernetes.io/zone=a -o wide`)

// NewCmdNodeAgentStatus builds "kubectl envops node-agent status". runF,
// when set, replaces Run so tests can inspect the parsed options.
func NewCmdNodeAgentStatus(g *Globals, runF func(*NodeAgentStatusOptions) error) *cobra.Command {
	o := &NodeAgentStatusOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "status NAME",
		Short:   "Show which nodes have a Ready agent and which do not",
		Example: nodeAgentStatusExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError("node-agent status takes exactly one agent name; see 'kubectl envops node-agent status --help'")
			}
			return nil
		},
		RunE: runOptions(g, o, runF),
	}
	addSelectorFlag(cmd, &o.Selector, "the nodes to show, by their labels")
	o.output().addFlags(cmd, "Output format, default a table")
	return cmd
}

func (o *NodeAgentStatusOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output).withTable(&o.NoHeaders)
}

// Complete reports a wrong command line before the kubeconfig is read,
// then resolves the namespace and the client.
func (o *NodeAgentStatusOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	o.Name = args[0]
	if err := o.Validate(); err != nil {
		return err
	}
	var err error
	o.Namespace, o.Client, err = g.currentTarget()
	return err
}

// Validate checks the command line.
func (o *NodeAgentStatusOptions) Validate() error {
	if err := nodeagent.ValidateName(o.Name); err != nil {
		return usageError("%v", err)
	}
	if _, err := parseSelector(o.Selector); err != nil {
		return err
	}
	return o.output().validate()
}

// Run reads and prints the agent's coverage of the nodes.
func (o *NodeAgentStatusOptions) Run(ctx context.Context) error {
	st, err := nodeagent.GetStatus(ctx, o.Client, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	if o.Selector != "" {
		if err := o.selectNodes(ctx, st); err != nil {
			return err
		}
	}
	if !o.output().isOwn() {
		return o.output().printValue(o.Out, st)
	}
	rows := make([][]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		rows = append(rows, []string{n.Node, fmt.Sprint(n.Ready), fmt.Sprint(n.Schedulable), orNone(n.Pod), n.Reason})
	}
	if err := o.output().printTable(o.Out, agentNodeColumns, rows); err != nil {
		return err
	}
	for _, p := range st.Unplaced {
		printLine(o.Out, "pod %s is not placed on any node: %s", p.Pod, strings.TrimSpace(p.Message))
	}
	if st.Updating != "" {
		printLine(o.Out, "an update is in progress through %s", st.Updating)
	}
	ready, total := st.Covered()
	nodes := "schedulable nodes"
	if o.Selector != "" {
		nodes = fmt.Sprintf("schedulable nodes selected by %s", o.Selector)
	}
	summary := fmt.Sprintf("%s in namespace %q: %d of %d %s have a Ready agent", nodeagent.Ref(st.Kind, st.Name), st.Namespace, ready, total, nodes)
	if missing := st.Missing(); len(missing) > 0 {
		summary += "; missing on " + strings.Join(missing, ", ")
	}
	printLine(o.Out, "%s", summary)
	return nil
}

// agentNodeColumns are the columns of node-agent status: one row per node;
// the wide ones show with -o wide.
var agentNodeColumns = []column{{Name: "NODE"}, {Name: "READY"}, {Name: "SCHEDULABLE", Wide: true}, {Name: "AGENT POD"}, {Name: "NOTE"}}

// selectNodes keeps the nodes of st whose labels -l selects, so that the
// table and the count speak of those nodes only.
func (o *NodeAgentStatusOptions) selectNodes(ctx context.Context, st *nodeagent.Status) error {
	list, err := o.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
	if err != nil {
		return fmt.Errorf("cannot list the nodes selected by %s: %w", o.Selector, err)
	}
	chosen := map[string]bool{}
	for _, n := range list.Items {
		chosen[n.Name] = true
	}
	st.Nodes = slices.DeleteFunc(st.Nodes, func(n nodeagent.NodeStatus) bool { return !chosen[n.Node] })
	return nil
}

// deploy applies a rendered agent through the deploy entry point, or nil
// when the options were built without it.
func (o *NodeAgentOptions) deploy(say func(string, ...any)) func(ctx context.Context, env string, obj *unstructured.Unstructured, ro rollout.Options) (rollout.Result, error) {
	if o.deployer == nil {
		return nil
	}
	return func(ctx context.Context, env string, obj *unstructured.Unstructured, ro rollout.Options) (rollout.Result, error) {
		d := o.deployer(env)
		d.Events = func(e rollout.Event) {
			if e.Message != "" && e.Type != rollout.EventDone {
				say("%s: %s", e.Type, e.Message)
			}
		}
		res := d.Deploy(ctx, deploy.Request{App: o.Name, Plan: &deploy.Plan{Controllers: []*unstructured.Unstructured{obj}}, Options: ro, Cause: o.Cause})
		if res.Err != nil {
			return rollout.Result{}, res.Err
		}
		for _, r := range res.Objects {
			if r.Kind == obj.GetKind() {
				return r.Result, nil
			}
		}
		return rollout.Result{Kind: obj.GetKind(), Name: obj.GetName(), Action: rollout.ActionUnchanged}, nil
	}
}
