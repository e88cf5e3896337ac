package cmd

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/lint"
	"github.com/envops/kubectl-envops/pkg/version"
)

// LintOptions holds the flags and resolved state of "kubectl envops lint".
type LintOptions struct {
	// Paths are files and directories to read ("-" is standard input),
	// from the arguments and -f.
	Paths         []string
	Kustomization string
	App           string
	Env           string
	Live          bool
	AllNamespaces bool
	AllContexts   bool
	// Selector limits --live to the objects whose labels it selects.
	Selector string
	// LiveTimeout bounds the reading of each live cluster.
	LiveTimeout time.Duration
	Output      string
	FailOn      string
	Disable     []string
	Remote      remoteResourcesFlag
	// AllowEmpty accepts explicit inputs that hold no objects.
	AllowEmpty bool

	// Resolved by Complete.
	Config *config.Config
	// Targets are the live namespaces to read, one per context.
	Targets []lint.LiveTarget
	Color   bool

	files []string
	print *outputFlags
	genericiooptions.IOStreams
}

var lintLong = templates.LongDesc(`
	Check the label convention where it is written and where it runs: every
	controller and pod template carries the required labels with allowed values,
	the name label follows the pattern, controller and template labels agree,
	selectors select the template, label syntax is valid, and every pod template
	mounts the environment Secret. The convention comes from .envops.yaml.

	Inputs: files and directories of YAML or JSON (multi-document, List kinds;
	"-" reads standard input), a kustomization (-k), an app's overlay for an
	environment (--app --env), or the workloads of a live cluster (--live):
	ReplicationControllers, Deployments, DaemonSets, StatefulSets, ReplicaSets,
	Jobs, CronJobs and bare Pods of the current namespace, all namespaces (-A),
	or every context of the kubeconfig (--all-contexts).

	An object opts out of rules with the annotation
	envops.io/lint-ignore: RULE[,RULE]. Rules: ` + strings.Join(lint.RuleIDs(), ", ") + `.

	Exit status: 0 when nothing at or above --fail-on was found, 1 when
	something was, 2 when lint could not check: a bad command line, input
	that cannot be read, or a cluster that cannot be read (access denied,
	unreachable).`)

var lintExample = templates.Examples(`
	# Lint the manifests in a directory
	kubectl envops lint deploy/

	# Lint what kustomize renders, and what an app's prod overlay renders
	kubectl envops lint -k overlays/prod
	kubectl envops lint --app web --env prod

	# Lint generated output on standard input
	kubectl envops generate web --env dev | kubectl envops lint -

	# Lint the workloads running in every namespace of the current cluster
	kubectl envops lint --live -A

	# Only the frontend's workloads
	kubectl envops lint --live -A -l tier=frontend

	# Upload findings to code scanning, failing on warnings too
	kubectl envops lint deploy/ -o sarif --fail-on warning > lint.sarif`)

// NewCmdLint builds "kubectl envops lint". runF, when set, replaces Run so
// tests can inspect the parsed options.
func NewCmdLint(g *Globals, runF func(*LintOptions) error) *cobra.Command {
	o := &LintOptions{IOStreams: g.Streams, FailOn: lint.SeverityError.String()}
	cmd := &cobra.Command{
		Use:     "lint [PATH... | -f FILE | -k DIR | --app APP --env ENV | --live [-A | --all-contexts]]",
		Short:   "Check the label convention on files, overlays and live clusters",
		Long:    lintLong,
		Example: lintExample,
		RunE:    runOptions(g, o, runF),
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "File or directory to lint (repeatable; \"-\" reads standard input)")
	f.StringVarP(&o.Kustomization, "kustomize", "k", "", "Lint what this kustomization directory renders (an overlay of the project's apps as deploy sends it)")
	f.StringVar(&o.App, "app", "", "Lint this app's overlay for --env, as deploy would send it")
	f.StringVar(&o.Env, "env", "", "Environment whose overlay --app renders")
	f.BoolVar(&o.Live, "live", false, "Lint the workloads of the cluster instead of files")
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "With --live, read every namespace")
	f.BoolVar(&o.AllContexts, "all-contexts", false, "With --live, read every context of the kubeconfig")
	addSelectorFlag(cmd, &o.Selector, "with --live, the workloads to read, by their labels")
	f.DurationVar(&o.LiveTimeout, "timeout", lint.DefaultLiveTimeout, "With --live, how long to wait for each cluster")
	o.output().addFlags(cmd, "Output format; templates see the json report.")
	f.StringVar(&o.FailOn, "fail-on", o.FailOn, "Exit 1 when a finding has at least this severity: error, warning, info or none")
	f.StringSliceVar(&o.Disable, "disable", nil, "Rules to turn off, comma-separated")
	addRemoteResourcesFlag(f, &o.Remote)
	f.BoolVar(&o.AllowEmpty, "allow-empty", false, "Accept a file or standard input that holds no objects (by default an error: an empty pipe usually means the command before it failed)")
	_ = cmd.MarkFlagDirname("kustomize")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"error", "warning", "info", "none"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("disable", cobra.FixedCompletions(lint.RuleIDs(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("app", appNameCompletion(g))
	_ = cmd.RegisterFlagCompletionFunc("env", environmentNameCompletion(g))
	return cmd
}

// output is -o: lint's own formats, and templates over the json report.
func (o *LintOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output, lint.Formats()...).templatesOnly()
}

// Complete loads the project file and, for --live, resolves the clusters
// to read. The command line is checked first, so that a typo is reported
// as such rather than as a project file or kubeconfig that cannot be read.
func (o *LintOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	o.Paths = append(append([]string{}, args...), o.files...)
	if err := o.Validate(); err != nil {
		return err
	}
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.Config = cfg
	o.Color = o.Output == lint.FormatText && printers.AllowsColorOutput(o.Out)
	if o.Live {
		if err = g.checkKubeconfig(); err != nil {
			return err
		}
		o.Targets, err = lint.LiveTargets(g.ConfigFlags, g.Factory, o.AllNamespaces, o.AllContexts)
		for i := range o.Targets {
			o.Targets[i].Selector = o.Selector
		}
	}
	return inputError(err)
}

// Validate checks the command line without reading anything.
func (o *LintOptions) Validate() error {
	inputs := 0
	for _, set := range []bool{len(o.Paths) > 0, o.Kustomization != "", o.App != "" || o.Env != "", o.Live} {
		if set {
			inputs++
		}
	}
	switch {
	case inputs == 0:
		return usageError("nothing to lint: give files or directories, -k DIR, --app APP --env ENV, or --live")
	case inputs > 1:
		return usageError("choose one input: files and directories, -k DIR, --app/--env, or --live")
	case (o.App == "") != (o.Env == ""):
		return usageError("--app and --env go together: lint an app's overlay with --app APP --env ENV")
	case (o.AllNamespaces || o.AllContexts) && !o.Live:
		return usageError("-A and --all-contexts read live clusters: add --live")
	case o.Selector != "" && !o.Live:
		return usageError("-l selects live objects by their labels: add --live (files and overlays are linted whole)")
	}
	if _, err := parseSelector(o.Selector); err != nil {
		return err
	}
	if err := o.output().validate(); err != nil {
		return err
	}
	if _, err := lint.ParseSeverity(o.FailOn); err != nil && o.FailOn != "none" {
		return usageError("unknown severity %q for --fail-on: use error, warning, info or none", o.FailOn)
	}
	if _, err := lint.New(config.Default(), o.Disable...); err != nil {
		return usageError("--disable: %w", err)
	}
	return nil
}

// Run lints the input, prints the report and sets the exit code.
func (o *LintOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	linter, err := lint.New(o.Config, o.Disable...)
	if err != nil {
		return usageError("--disable: %w", err)
	}
	linter.RecordObjects(o.Output == lint.FormatJUnit)
	p := lint.Project{Config: o.Config, Render: o.Remote.renderOptions(o.Config, "")}
	rep := &lint.Report{}
	liveErr, err := linter.Lint(ctx, p, lint.Request{Paths: o.Paths, Stdin: o.In, AllowEmpty: o.AllowEmpty, Kustomization: o.Kustomization,
		App: o.App, Env: o.Env, Live: o.Live, Targets: o.Targets, LiveTimeout: o.LiveTimeout}, rep)
	if err != nil && o.Live {
		return &UncheckedError{Err: err}
	}
	if err != nil {
		return inputError(err)
	}
	failOn, _ := lint.ParseSeverity(o.FailOn)
	if err := o.write(rep, failOn); err != nil {
		return err
	}
	if liveErr != nil {
		// Exit 1 would read as findings: a CI gate must tell "the
		// convention is broken" from "lint could not look".
		return &UncheckedError{Err: liveErr}
	}
	if err := rep.InvalidDocumentsError(); err != nil {
		return inputError(err)
	}
	if n := rep.Count(failOn); failOn > 0 && n > 0 {
		return &FindingsError{Count: n, FailOn: failOn.String()}
	}
	return nil
}

// write prints the report in lint's own format, or through a template over
// its json form.
func (o *LintOptions) write(rep *lint.Report, failOn lint.Severity) error {
	if o.output().isOwn() {
		return lint.Write(o.Out, rep, lint.WriteOptions{Format: o.Output, Color: o.Color, FailOn: failOn, ToolVersion: version.Get().Version})
	}
	report, err := lint.JSONValue(rep)
	if err != nil {
		return err
	}
	return o.output().printValue(o.Out, report)
}
