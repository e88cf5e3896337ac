package cmd

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// GenerateOptions holds the flags of "kubectl envops generate".
type GenerateOptions struct {
	App string
	All bool
	// Env is one environment, or several separated by commas.
	Env string
	// AllEnvironments renders every environment of the project file.
	AllEnvironments bool
	Image           string
	// Selector renders, of all apps, those whose controllers carry
	// labels it selects.
	Selector  string
	Output    string
	OutputDir string
	Remote    remoteResourcesFlag

	cfg   *config.Config
	fsys  filesys.FileSystem
	envs  []string
	print *outputFlags

	genericiooptions.IOStreams
}

var generateLong = templates.LongDesc(`
	Render an app's kustomize overlay for an environment, exactly as deploy
	would send it: kustomize builds apps/APP/overlays/ENV in-process, then every
	pod template gets the environment Secret volume and read-only mount, the
	controller and its pods get the label convention, and --image replaces the
	image of the app's container.

	Selectors select by the name label only, so changing any other label never
	changes a selector.

	Several environments (--env dev,prod, or --all-environments) render in one
	process and need --output-dir: each environment gets a directory of its
	own, DIR/ENV/APP.yaml.`)

var generateExample = templates.Examples(`
	# Print the dev overlay of app web
	kubectl envops generate web --env dev

	# Render with a new image and check it against the cluster
	kubectl envops generate web --env prod --image registry.example.com/web:1.4.2 | kubectl apply --dry-run=server -f -

	# Render every app for prod into one file per app
	kubectl envops generate --all --env prod --output-dir rendered/

	# Render every app for every environment: rendered/ENV/APP.yaml
	kubectl envops generate --all --all-environments --output-dir rendered/

	# Render the frontend apps only, chosen by their labels
	kubectl envops generate -l tier=frontend --env prod --output-dir rendered/`)

// NewCmdGenerate builds "kubectl envops generate". runF, when set, replaces
// Run so tests can inspect the parsed options.
func NewCmdGenerate(g *Globals, runF func(*GenerateOptions) error) *cobra.Command {
	o := &GenerateOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "generate (APP | --all | -l SELECTOR) (--env ENV[,ENV...] | --all-environments) [--image IMG] [-o yaml|json] [--output-dir DIR]",
		Short:             "Render an app's overlay for an environment, as deploy would send it",
		Long:              generateLong,
		Example:           generateExample,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: appNameCompletion(g),
		RunE:              runOptions(g, o, runF),
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Render every app in the apps directory")
	addSelectorFlag(cmd, &o.Selector, "render the apps whose controllers carry these labels (of every app, as --all)")
	cmd.Flags().StringVar(&o.Env, "env", "", "Environment whose overlay to render; several, comma-separated, need --output-dir")
	cmd.Flags().BoolVar(&o.AllEnvironments, "all-environments", false, "Render every environment of .envops.yaml; needs --output-dir")
	cmd.Flags().StringVar(&o.Image, "image", "", "Image for the app's container, e.g. registry.example.com/web:1.4.2; with --all, APP=IMAGE sets it on that app only")
	o.output().addFlags(cmd, "Output format, default yaml;")
	cmd.Flags().StringVar(&o.OutputDir, "output-dir", "", "Write one file per app into this directory instead of standard output")
	addRemoteResourcesFlag(cmd.Flags(), &o.Remote)
	_ = cmd.RegisterFlagCompletionFunc("env", environmentListCompletion(g))
	_ = cmd.MarkFlagDirname("output-dir")
	return cmd
}

func (o *GenerateOptions) output() *outputFlags {
	return outputOf(&o.print, &o.Output, "yaml", "json")
}

// Complete loads the project file.
func (o *GenerateOptions) Complete(g *Globals, _ *cobra.Command, args []string) error {
	if len(args) == 1 {
		o.App = args[0]
	}
	// -l chooses among every app.
	o.All = o.All || o.Selector != ""
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.cfg = cfg
	o.fsys = filesys.MakeFsOnDisk()
	if o.AllEnvironments {
		o.envs = cfg.EnvironmentOrder()
	} else if o.Env != "" {
		o.envs = strings.Split(o.Env, ",")
	}
	return nil
}

// Validate checks the command line without reading any app.
func (o *GenerateOptions) Validate() error {
	switch {
	case o.Selector != "" && o.App != "":
		return usageError("-l chooses the apps by their labels: name one app or give -l, not both")
	case o.All && o.App != "":
		return usageError("give either an app name or --all, not both")
	case !o.All && o.App == "":
		return usageError("name the app to render, or pass --all; apps live in %s", o.cfg.AppsDir())
	case o.AllEnvironments && o.Env != "":
		return usageError("give either --env or --all-environments, not both")
	case o.AllEnvironments && len(o.envs) == 0:
		return usageError("--all-environments: %s defines no environments; name one with --env", cmp.Or(o.cfg.Path, "the project has no "+config.FileName+", so it"))
	case o.Env == "" && !o.AllEnvironments:
		return usageError("--env is required: name the environment whose overlay to render")
	case len(o.envs) > 1 && o.OutputDir == "":
		return usageError("rendering %d environments writes one directory each: add --output-dir DIR (files go to DIR/ENV/APP.%s)", len(o.envs), o.Output)
	}
	if _, err := parseSelector(o.Selector); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, env := range o.envs {
		if err := config.ValidateEnvironmentName(env); err != nil {
			return usageError("--env: %w", err)
		}
		if seen[env] {
			return usageError("--env names environment %q twice", env)
		}
		seen[env] = true
	}
	if err := o.output().validate(); err != nil {
		return err
	}
	if o.OutputDir != "" && !o.output().isOwn() {
		return usageError("--output-dir writes yaml or json files: use -o yaml or -o json, or drop --output-dir to print through a template")
	}
	if err := checkOutputDir(o.OutputDir); err != nil {
		return err
	}
	app, image := render.SplitImage(o.Image)
	switch {
	case strings.Contains(o.Image, "=") && (app == "" || image == ""):
		return usageError("--image %s: give an image (--image IMAGE), or an app and its image (--image APP=IMAGE)", o.Image)
	case o.All && o.Image != "" && app == "":
		return usageError("--image %s would set one image on every app: with --all, name the app it is for, as --image APP=%s", o.Image, o.Image)
	case !o.All && app != "" && app != o.App:
		return usageError("--image %s is for app %q, but the app rendered is %q", o.Image, app, o.App)
	}
	if err := (render.Options{Image: image}).Validate(); err != nil {
		return usageError("--image: %w", err)
	}
	return nil
}

// Run renders and prints. Ctrl-C or SIGTERM stops it with one line: before
// any file is written while rendering, or between files while writing.
func (o *GenerateOptions) Run(ctx context.Context) error {
	defer render.TuneGC()()
	ctx, stop := untilInterrupted(ctx)
	defer stop()
	app, image := render.SplitImage(o.Image)
	opts := o.Remote.renderOptions(o.cfg, image)
	opts.ImageApp = app
	if o.OutputDir != "" || o.output().isOwn() && o.Output == "yaml" {
		opts.Encode = o.Output
	}
	type result struct {
		rendered []render.EnvObjects
		err      error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		if o.All {
			r.rendered, r.err = render.All(o.fsys, o.cfg, o.envs, opts)
		} else {
			r.rendered, r.err = render.Each(o.fsys, o.cfg, []string{o.App}, o.envs, opts)
		}
		done <- r
	}()
	var rendered []render.EnvObjects
	select {
	case <-ctx.Done():
		// Nothing is written while rendering: stopping here loses nothing.
		return fmt.Errorf("%w while rendering: no file was written", context.Cause(ctx))
	case r := <-done:
		if r.err != nil {
			return inputError(r.err)
		}
		rendered = r.rendered
	}
	if o.Selector != "" {
		var err error
		if rendered, err = o.selected(rendered); err != nil {
			return err
		}
	}
	if o.OutputDir != "" {
		return render.WriteDir(ctx, o.OutputDir, o.Output, rendered, func(path string) { printLine(o.Out, "wrote %s", path) })
	}
	// Without --output-dir, Validate allowed one environment only.
	apps := rendered[0].Apps
	if o.output().isOwn() && o.Output == "yaml" {
		return render.WriteYAMLStream(o.Out, apps)
	}
	var objs []*unstructured.Unstructured
	for _, r := range apps {
		objs = append(objs, r.Objects...)
	}
	if o.output().isOwn() {
		return render.Write(o.Out, o.Output, objs)
	}
	printed := make([]runtime.Object, len(objs))
	for i, obj := range objs {
		printed[i] = obj
	}
	return o.output().printObjects(o.Out, printed)
}

// selected keeps, in each environment, the apps whose controllers carry
// the labels -l selects.
func (o *GenerateOptions) selected(rendered []render.EnvObjects) ([]render.EnvObjects, error) {
	sel, err := parseSelector(o.Selector)
	if err != nil {
		return nil, err
	}
	found := false
	for i := range rendered {
		rendered[i].Apps = slices.DeleteFunc(rendered[i].Apps, func(a render.AppObjects) bool { return !a.Matches(sel) })
		found = found || len(rendered[i].Apps) > 0
	}
	if !found {
		return nil, inputError(fmt.Errorf("no app in %s renders a controller with labels %s", o.cfg.AppsDir(), o.Selector))
	}
	return rendered, nil
}
