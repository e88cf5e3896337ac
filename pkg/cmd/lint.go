package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/fleet"
	"github.com/envops/kubectl-envops/pkg/lint"
	"github.com/envops/kubectl-envops/pkg/render"
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

	failOn     lint.Severity
	loadConfig func() (*config.Config, error)
	// newTargets resolves the live targets; tests replace it.
	newTargets func() ([]lint.LiveTarget, error)

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
	something was, 2 for a bad command line or input that cannot be read.`)

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

	# Upload findings to code scanning, failing on warnings too
	kubectl envops lint deploy/ -o sarif --fail-on warning > lint.sarif`)

// NewCmdLint builds "kubectl envops lint". runF, when set, replaces Run so
// tests can inspect the parsed options.
func NewCmdLint(g *Globals, runF func(*LintOptions) error) *cobra.Command {
	o := &LintOptions{IOStreams: g.Streams, loadConfig: g.LoadConfig, FailOn: lint.SeverityError.String()}
	o.newTargets = func() ([]lint.LiveTarget, error) { return o.liveTargets(g) }
	var files []string
	cmd := &cobra.Command{
		Use:     "lint [PATH... | -f FILE | -k DIR | --app APP --env ENV | --live [-A | --all-contexts]]",
		Short:   "Check the label convention on files, overlays and live clusters",
		Long:    lintLong,
		Example: lintExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Paths = append(append([]string{}, args...), files...)
			// The command line is checked before the project file and the
			// kubeconfig are read, so a typo is reported as such.
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.Complete(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&files, "filename", "f", nil, "File or directory to lint (repeatable; \"-\" reads standard input)")
	f.StringVarP(&o.Kustomization, "kustomize", "k", "", "Lint what this kustomization directory renders")
	f.StringVar(&o.App, "app", "", "Lint this app's overlay for --env, as deploy would send it")
	f.StringVar(&o.Env, "env", "", "Environment whose overlay --app renders")
	f.BoolVar(&o.Live, "live", false, "Lint the workloads of the cluster instead of files")
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "With --live, read every namespace")
	f.BoolVar(&o.AllContexts, "all-contexts", false, "With --live, read every context of the kubeconfig")
	f.DurationVar(&o.LiveTimeout, "timeout", defaultLiveTimeout, "With --live, how long to wait for each cluster")
	f.StringVarP(&o.Output, "output", "o", lint.FormatText, "Output format: one of "+strings.Join(lint.Formats(), "|"))
	f.StringVar(&o.FailOn, "fail-on", o.FailOn, "Exit 1 when a finding has at least this severity: error, warning, info or none")
	f.StringSliceVar(&o.Disable, "disable", nil, "Rules to turn off, comma-separated")
	addRemoteResourcesFlag(f, &o.Remote)
	f.BoolVar(&o.AllowEmpty, "allow-empty", false, "Accept a file or standard input that holds no objects (by default an error: an empty pipe usually means the command before it failed)")
	_ = cmd.MarkFlagDirname("kustomize")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(lint.Formats(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cobra.FixedCompletions([]string{"error", "warning", "info", "none"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("disable", cobra.FixedCompletions(lint.RuleIDs(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("app", appNameCompletion(g))
	_ = cmd.RegisterFlagCompletionFunc("env", environmentNameCompletion(g))
	return cmd
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
	}
	if !slices.Contains(lint.Formats(), o.Output) {
		return usageError("unknown output format %q for --output: use one of %s", o.Output, strings.Join(lint.Formats(), ", "))
	}
	if o.FailOn == "none" {
		o.failOn = 0
	} else {
		s, err := lint.ParseSeverity(o.FailOn)
		if err != nil {
			return usageError("unknown severity %q for --fail-on: use error, warning, info or none", o.FailOn)
		}
		o.failOn = s
	}
	if _, err := lint.New(config.Default(), o.Disable...); err != nil {
		return usageError("--disable: %w", err)
	}
	return nil
}

// Complete loads the project file and, for --live, resolves the clusters to read.
func (o *LintOptions) Complete() error {
	cfg, err := o.loadConfig()
	if err != nil {
		return inputError(err)
	}
	o.Config = cfg
	o.Color = o.Output == lint.FormatText && printers.AllowsColorOutput(o.Out)
	if o.Live {
		o.Targets, err = o.newTargets()
		if err != nil {
			return inputError(err)
		}
	}
	return nil
}

// liveTargets resolves the current context's namespace, or every context.
func (o *LintOptions) liveTargets(g *Globals) ([]lint.LiveTarget, error) {
	loader := g.ConfigFlags.ToRawKubeConfigLoader()
	raw, err := loader.RawConfig()
	if err != nil {
		return nil, inputError(fmt.Errorf("cannot load kubeconfig: %w", err))
	}
	if !o.AllContexts {
		name := *g.ConfigFlags.Context
		if name == "" {
			name = raw.CurrentContext
		}
		if name == "" {
			return nil, inputError(errors.New("no current context in your kubeconfig: pass --context, or set one with \"kubectl config use-context\""))
		}
		ns, _, err := loader.Namespace()
		if err != nil {
			return nil, inputError(fmt.Errorf("cannot determine the namespace: %w", err))
		}
		// The factory honours every global flag (--as, --token, --server, ...).
		client, err := g.Factory.DynamicClient()
		if err != nil {
			return nil, fmt.Errorf("cannot reach context %q: %w", name, err)
		}
		if o.AllNamespaces {
			ns = ""
		}
		return []lint.LiveTarget{{Context: name, Namespace: ns, Client: client}}, nil
	}
	if len(raw.Contexts) == 0 {
		return nil, inputError(errors.New("your kubeconfig has no contexts: add one, or point --kubeconfig at another file"))
	}
	names := make([]string, 0, len(raw.Contexts))
	for name := range raw.Contexts {
		names = append(names, name)
	}
	sort.Strings(names)
	// Every context gets the bound and the retries of the factory's clients.
	overrides := &clientcmd.ConfigOverrides{Timeout: *g.ConfigFlags.Timeout}
	if ns := *g.ConfigFlags.Namespace; ns != "" {
		overrides.Context = clientcmdapi.Context{Namespace: ns}
	}
	if as := g.ConfigFlags.Impersonate; as != nil && *as != "" {
		overrides.AuthInfo.Impersonate = *as
	}
	targets := make([]lint.LiveTarget, 0, len(names))
	for _, name := range names {
		cc := clientcmd.NewNonInteractiveClientConfig(raw, name, overrides, nil)
		rc, err := cc.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("context %q: %w", name, err)
		}
		ns, _, err := cc.Namespace()
		if err != nil {
			return nil, inputError(fmt.Errorf("context %q: cannot determine the namespace: %w", name, err))
		}
		client, err := dynamic.NewForConfig(withTransientRetries(rc))
		if err != nil {
			return nil, fmt.Errorf("context %q: %w", name, err)
		}
		if o.AllNamespaces {
			ns = ""
		}
		targets = append(targets, lint.LiveTarget{Context: name, Namespace: ns, Client: client})
	}
	return targets, nil
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
	rep := &lint.Report{}
	var inputErr error
	switch {
	case len(o.Paths) > 0:
		if err := o.lintPaths(ctx, linter, rep); err != nil {
			return inputError(err)
		}
	case o.Kustomization != "":
		if err := o.lintKustomization(ctx, linter, rep); err != nil {
			return inputError(err)
		}
	case o.App != "":
		if err := o.lintApp(ctx, linter, rep); err != nil {
			return inputError(err)
		}
	case o.Live:
		var read int
		read, inputErr = o.lintLive(ctx, linter, rep)
		if read == 0 {
			// Not one cluster could be read: an empty report would mislead.
			return inputError(inputErr)
		}
	}

	// Rules across objects (overlapping selectors) see every input.
	linter.Finish(rep)
	if err := lint.Write(o.Out, rep, lint.WriteOptions{Format: o.Output, Color: o.Color, FailOn: o.failOn, ToolVersion: version.Get().Version}); err != nil {
		return err
	}
	if inputErr != nil {
		return inputError(inputErr)
	}
	if bad := rep.InvalidDocuments(); len(bad) > 0 {
		f := bad[0]
		msg := f.Location.Label() + ": " + f.Message
		if f.Location.Line > 0 {
			msg = fmt.Sprintf("%s:%d: %s", f.Location.Label(), f.Location.Line, f.Message)
		}
		msg = lint.EscapeText(msg)
		if len(bad) > 1 {
			msg += fmt.Sprintf(" (and %d more documents that cannot be read)", len(bad)-1)
		}
		return inputError(errors.New(msg))
	}
	if n := rep.Count(o.failOn); o.failOn > 0 && n > 0 {
		return &FindingsError{Count: n, FailOn: o.failOn.String()}
	}
	return nil
}

// lintPaths lints files and directories. A kustomization met in a
// directory is rendered: an overlay of the project's apps as deploy would
// send it, other kustomizations as kustomize builds them; the project's
// bases are only parts of overlays, so only their kustomization file is read.
func (o *LintOptions) lintPaths(ctx context.Context, linter *lint.Linter, rep *lint.Report) error {
	in, err := lint.ExpandPaths(o.Paths)
	if err != nil {
		return err
	}
	for _, s := range in.Skipped {
		rep.Skip(s)
	}
	if err := linter.LintFiles(ctx, in.Files, o.In, rep); err != nil {
		return err
	}
	if !o.AllowEmpty {
		for _, f := range in.Explicit {
			if rep.Read(lint.Source{File: f}) == 0 {
				return fmt.Errorf("%s holds no objects: check the command that produced it, or pass --allow-empty", displayInput(f))
			}
		}
	}
	appsDir := o.Config.AppsDir()
	for _, dir := range in.Kustomizations {
		file := lint.KustomizationFile(dir)
		src := lint.Source{File: firstNonEmpty(file, dir)}
		if render.IsComponent(filesys.MakeFsOnDisk(), dir) {
			rep.Skip(lint.Skipped{Source: src, Reason: "a kustomize Component is built only by the kustomizations that use it"})
			continue
		}
		// One kustomization that does not build is reported with the
		// findings of every other input, not instead of them.
		var err error
		abs, aerr := filepath.Abs(dir)
		rel, rerr := filepath.Rel(appsDir, abs)
		switch {
		case aerr != nil || rerr != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)):
			err = o.lintRendered(linter, rep, dir)
		default:
			if parts := strings.Split(filepath.ToSlash(rel), "/"); len(parts) == 3 && parts[1] == "overlays" {
				err = o.lintOverlay(linter, rep, parts[0], parts[2], file)
			}
		}
		if err != nil {
			rep.AddInputError(src, "cannot build the kustomization: "+strings.TrimPrefix(err.Error(), src.File+": "),
				"fix the kustomization, or check it alone with \"kubectl envops lint -k "+dir+"\"")
		}
	}
	return nil
}

// displayInput names a file argument in messages.
func displayInput(f string) string {
	if f == "-" {
		return "standard input"
	}
	return f
}

// lintKustomization lints what a kustomization renders, and the
// kustomization file itself.
func (o *LintOptions) lintKustomization(ctx context.Context, linter *lint.Linter, rep *lint.Report) error {
	if render.IsComponent(filesys.MakeFsOnDisk(), o.Kustomization) {
		return fmt.Errorf("%s is a kustomize Component, which is built only as part of a kustomization: lint a kustomization that lists it under components", o.Kustomization)
	}
	if file := lint.KustomizationFile(o.Kustomization); file != "" {
		if err := linter.LintFiles(ctx, []string{file}, nil, rep); err != nil {
			return err
		}
	}
	return o.lintRendered(linter, rep, o.Kustomization)
}

// lintRendered lints what kustomize builds from dir.
func (o *LintOptions) lintRendered(linter *lint.Linter, rep *lint.Report, dir string) error {
	objs, err := render.Kustomization(filesys.MakeFsOnDisk(), dir, o.Remote.renderOptions(o.Config, ""))
	if err != nil {
		return err
	}
	return lintObjects(linter, rep, objs, lint.Source{File: firstNonEmpty(lint.KustomizationFile(dir), dir)})
}

// lintApp lints an app's overlay as deploy would send it, and every
// kustomization file of the app.
func (o *LintOptions) lintApp(ctx context.Context, linter *lint.Linter, rep *lint.Report) error {
	// Resolving the overlay first reports an unknown app or environment
	// before anything is read.
	if _, err := render.OverlayDir(filesys.MakeFsOnDisk(), o.Config, o.App, o.Env); err != nil {
		return err
	}
	var files []string
	appDir := filepath.Join(o.Config.AppsDir(), o.App)
	err := filepath.WalkDir(appDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if k := lint.KustomizationFile(path); k != "" {
				files = append(files, relative(k))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read app %s: %w", o.App, err)
	}
	if err := linter.LintFiles(ctx, files, nil, rep); err != nil {
		return err
	}
	return o.lintOverlay(linter, rep, o.App, o.Env, "")
}

// lintOverlay lints an app's overlay for env as deploy would send it;
// findings name source, or the overlay's kustomization file.
func (o *LintOptions) lintOverlay(linter *lint.Linter, rep *lint.Report, app, env, source string) error {
	fsys := filesys.MakeFsOnDisk()
	overlay, err := render.OverlayDir(fsys, o.Config, app, env)
	if err != nil {
		return err
	}
	objs, err := render.App(fsys, o.Config, app, env, o.Remote.renderOptions(o.Config, ""))
	if err != nil {
		return err
	}
	if source == "" {
		source = relative(firstNonEmpty(lint.KustomizationFile(overlay), overlay))
	}
	return lintObjects(linter, rep, objs, lint.Source{File: source})
}

// lintObjects lints rendered objects, all from one source.
func lintObjects(linter *lint.Linter, rep *lint.Report, objs []*unstructured.Unstructured, src lint.Source) error {
	rep.AddSource(src)
	for _, u := range objs {
		o, err := lint.FromUnstructured(u, src)
		if err != nil {
			return err
		}
		linter.LintObjects([]*lint.Object{o}, rep)
	}
	return nil
}

// defaultLiveTimeout is how long lint --live waits for one cluster.
const defaultLiveTimeout = time.Minute

// lintLive reads every target, concurrently, and returns how many were
// read; a context that fails is reported after the findings of the others.
func (o *LintOptions) lintLive(ctx context.Context, linter *lint.Linter, rep *lint.Report) (int, error) {
	// The shared fan-out bounds each context by the deadline, so one
	// cluster that does not answer never holds up the report of the others.
	names := make([]string, len(o.Targets))
	byName := make(map[string]lint.LiveTarget, len(o.Targets))
	for i, t := range o.Targets {
		names[i] = t.Context
		byName[t.Context] = t
	}
	timeout := o.LiveTimeout
	if timeout <= 0 {
		timeout = defaultLiveTimeout
	}
	results := fleet.Each(ctx, names, timeout, func(ctx context.Context, name string) (*lint.Report, error) {
		var r lint.Report
		err := linter.LintLive(ctx, byName[name], &r)
		return &r, err
	})
	reports := make([]lint.Report, len(o.Targets))
	errs := make([]error, len(o.Targets))
	for i, r := range results {
		errs[i] = r.Err
		if r.Err == nil && r.Value != nil {
			reports[i] = *r.Value
		}
		if r.Err != nil && r.Value == nil {
			errs[i] = fmt.Errorf("context %q: %s", names[i], fleet.Reason(r.Err, timeout))
		}
	}
	var failed []error
	for i := range reports {
		if errs[i] != nil {
			failed = append(failed, errs[i])
			continue
		}
		rep.Append(&reports[i])
	}
	read := len(o.Targets) - len(failed)
	switch len(failed) {
	case 0:
		return read, nil
	case 1:
		return read, failed[0]
	}
	return read, fmt.Errorf("%w (and %d more contexts that could not be read)", failed[0], len(failed)-1)
}

// relative shortens a path to the working directory when it lies below it,
// so reports name files as a user would type them.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
