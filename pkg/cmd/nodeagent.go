package cmd

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/nodeagent"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/rollout"
	"github.com/envops/kubectl-envops/pkg/transform"
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

	// Resolved by Complete.
	mode     nodeagent.Mode
	protocol corev1.Protocol
	dryRun   rollout.DryRun
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
	something else holds the host port on a node.`)

var nodeAgentExample = templates.Examples(`
	# Run the agent on every node, as a DaemonSet if the cluster has them
	kubectl envops node-agent datadog --image datadog/agent:7 --host-port 8125 --protocol UDP -n monitoring

	# Force the ReplicationController fallback and show what would be applied
	kubectl envops node-agent datadog --image datadog/agent:7 --host-port 8125 --mode replicationcontroller --dry-run=server -o yaml

	# Match the fallback's replicas to the nodes once, then keep them in step
	kubectl envops node-agent datadog --sync
	kubectl envops node-agent datadog --sync --watch

	# Which nodes have a Ready agent?
	kubectl envops node-agent status datadog`)

// NewCmdNodeAgent builds "kubectl envops node-agent" and its "status"
// subcommand. runF, when set, replaces Run so tests can inspect the parsed
// options.
func NewCmdNodeAgent(g *Globals, runF func(*NodeAgentOptions) error) *cobra.Command {
	o := &NodeAgentOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:     "node-agent NAME (--image IMAGE --host-port PORT | --sync [--watch])",
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
	f.BoolVar(&o.Watch, "watch", false, "With --sync, keep the replicas in step as nodes are added, removed or cordoned, until Ctrl-C")
	f.DurationVar(&o.Timeout, "timeout", rollout.DefaultTimeout, "How long to wait for the agent's pods (a rolling update: without progress) before failing")
	f.StringVar(&o.ChangeCause, "change-cause", "", "Why the agent is changed, recorded in its annotations (default: this command line, credentials redacted)")
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
	for _, name := range []string{"host-port", "protocol", "env-from-secret", "output"} {
		if o.shaping == "" && cmd.Flags().Changed(name) {
			o.shaping = name
		}
	}
	o.hostPortSet = cmd.Flags().Changed("host-port")
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
	return nil
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
		if !hostPort {
			return usageError("--host-port is required with --image: the agent claims that port on every node")
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
	kind := nodeagent.KindReplicationController
	if res.Mode == nodeagent.ModeDaemonSet {
		kind = nodeagent.KindDaemonSet
	}
	line := fmt.Sprintf("%s %s in namespace %q", nodeagent.Ref(kind, o.Name), res.Action, o.Namespace)
	if res.Mode == nodeagent.ModeReplicationController {
		line += fmt.Sprintf(" with %d replicas, one per schedulable node", res.Nodes.Count())
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
		printLine(o.Out, "%s scaled from %d to %d replicas: %d schedulable nodes%s", ref, res.From, res.To, res.Nodes.Count(), dryRunSuffix(o.dryRun))
	default:
		printLine(o.Out, "%s has %d replicas, one per schedulable node: nothing to change", ref, res.To)
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
	Name   string
	Output string

	Namespace string
	Client    kubernetes.Interface

	print *outputFlags
	genericiooptions.IOStreams
}

var nodeAgentStatusExample = templates.Examples(`
	# Which nodes have a Ready agent, and why the others do not
	kubectl envops node-agent status datadog -n monitoring

	# The same as JSON, for scripts
	kubectl envops node-agent status datadog -o json`)

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
	o.output().addFlags(cmd, "Output format, default a table")
	return cmd
}

func (o *NodeAgentStatusOptions) output() *outputFlags { return outputOf(&o.print, &o.Output) }

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
	return o.output().validate()
}

// Run reads and prints the agent's coverage of the nodes.
func (o *NodeAgentStatusOptions) Run(ctx context.Context) error {
	st, err := nodeagent.GetStatus(ctx, o.Client, o.Namespace, o.Name)
	if err != nil {
		return err
	}
	if !o.output().isOwn() {
		return o.output().printValue(o.Out, st)
	}
	rows := make([][]string, 0, len(st.Nodes))
	for _, n := range st.Nodes {
		rows = append(rows, []string{n.Node, fmt.Sprint(n.Ready), orNone(n.Pod), n.Reason})
	}
	if err := printTable(o.Out, []string{"NODE", "READY", "AGENT POD", "NOTE"}, rows); err != nil {
		return err
	}
	for _, p := range st.Unplaced {
		printLine(o.Out, "pod %s is not placed on any node: %s", p.Pod, strings.TrimSpace(p.Message))
	}
	if st.Updating != "" {
		printLine(o.Out, "an update is in progress through %s", st.Updating)
	}
	ready, total := st.Covered()
	summary := fmt.Sprintf("%s in namespace %q: %d of %d schedulable nodes have a Ready agent", nodeagent.Ref(st.Kind, st.Name), st.Namespace, ready, total)
	if missing := st.Missing(); len(missing) > 0 {
		summary += "; missing on " + strings.Join(missing, ", ")
	}
	printLine(o.Out, "%s", summary)
	return nil
}
