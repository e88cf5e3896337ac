package cmd

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/util/templates"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// GenerateOptions holds the flags of "kubectl envops generate".
type GenerateOptions struct {
	App       string
	All       bool
	Env       string
	Image     string
	Output    string
	OutputDir string
	Remote    remoteResourcesFlag

	cfg  *config.Config
	fsys filesys.FileSystem

	genericiooptions.IOStreams
}

var generateLong = templates.LongDesc(`
	Render an app's kustomize overlay for an environment, exactly as deploy
	would send it: kustomize builds apps/APP/overlays/ENV in-process, then every
	pod template gets the environment Secret volume and read-only mount, the
	controller and its pods get the label convention, and --image replaces the
	image of the app's container.

	Selectors select by the name label only, so changing any other label never
	changes a selector.`)

var generateExample = templates.Examples(`
	# Print the dev overlay of app web
	kubectl envops generate web --env dev

	# Render with a new image and check it against the cluster
	kubectl envops generate web --env prod --image registry.example.com/web:1.4.2 | kubectl apply --dry-run=server -f -

	# Render every app for prod into one file per app
	kubectl envops generate --all --env prod --output-dir rendered/`)

// NewCmdGenerate builds "kubectl envops generate". runF, when set, replaces
// Run so tests can inspect the parsed options.
func NewCmdGenerate(g *Globals, runF func(*GenerateOptions) error) *cobra.Command {
	o := &GenerateOptions{IOStreams: g.Streams}
	cmd := &cobra.Command{
		Use:               "generate (APP | --all) --env ENV [--image IMG] [-o yaml|json] [--output-dir DIR]",
		Short:             "Render an app's overlay for an environment, as deploy would send it",
		Long:              generateLong,
		Example:           generateExample,
		Args:              cobra.MaximumNArgs(1),
		ValidArgsFunction: appNameCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(g, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return o.Run()
		},
	}
	cmd.Flags().BoolVar(&o.All, "all", false, "Render every app in the apps directory")
	cmd.Flags().StringVar(&o.Env, "env", "", "Environment whose overlay to render (required)")
	cmd.Flags().StringVar(&o.Image, "image", "", "Image for the app's container, e.g. registry.example.com/web:1.4.2; with --all, APP=IMAGE sets it on that app only")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "yaml", "Output format: yaml or json")
	cmd.Flags().StringVar(&o.OutputDir, "output-dir", "", "Write one file per app into this directory instead of standard output")
	addRemoteResourcesFlag(cmd.Flags(), &o.Remote)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"yaml", "json"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("env", environmentNameCompletion(g))
	_ = cmd.MarkFlagDirname("output-dir")
	return cmd
}

// Complete loads the project file.
func (o *GenerateOptions) Complete(g *Globals, args []string) error {
	if len(args) == 1 {
		o.App = args[0]
	}
	cfg, err := g.LoadConfig()
	if err != nil {
		return err
	}
	o.cfg = cfg
	o.fsys = filesys.MakeFsOnDisk()
	return nil
}

// Validate checks the command line without reading any app.
func (o *GenerateOptions) Validate() error {
	switch {
	case o.All && o.App != "":
		return usageError("give either an app name or --all, not both")
	case !o.All && o.App == "":
		return usageError("name the app to render, or pass --all; apps live in %s", o.cfg.AppsDir())
	case o.Env == "":
		return usageError("--env is required: name the environment whose overlay to render")
	}
	if o.Output != "yaml" && o.Output != "json" {
		return usageError("unknown output format %q for --output: use yaml or json", o.Output)
	}
	app, image := splitImageFlag(o.Image)
	switch {
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

// splitImageFlag splits --image APP=IMG; an image reference never holds '='.
func splitImageFlag(v string) (app, image string) {
	if a, img, ok := strings.Cut(v, "="); ok {
		return a, img
	}
	return "", v
}

// renderGCPercent is the garbage collector's target while generate
// renders. Kustomize allocates heavily and briefly: with Go's default of
// 100 and a heap that starts small, collection takes a quarter of the CPU
// time; at 400 it takes a fraction of that, for some more memory (about
// a third more at 200 apps).
const renderGCPercent = 400

// Run renders and prints.
func (o *GenerateOptions) Run() error {
	// A GOGC set by the user wins.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(renderGCPercent))
	}
	app, image := splitImageFlag(o.Image)
	opts := o.Remote.renderOptions(o.cfg, image)
	opts.ImageApp = app
	var rendered []render.AppObjects
	if o.All {
		all, err := render.All(o.fsys, o.cfg, o.Env, opts)
		if err != nil {
			return inputError(err)
		}
		rendered = all
	} else {
		objs, err := render.App(o.fsys, o.cfg, o.App, o.Env, opts)
		if err != nil {
			return inputError(err)
		}
		rendered = []render.AppObjects{{App: o.App, Objects: objs}}
	}
	if o.OutputDir != "" {
		return o.writeDir(rendered)
	}
	if o.Output == "yaml" {
		return printYAMLStream(o.Out, rendered)
	}
	var objs []*unstructured.Unstructured
	for _, r := range rendered {
		objs = append(objs, r.Objects...)
	}
	return printRendered(o.Out, o.Output, objs)
}

// printYAMLStream writes the objects of every app as one YAML stream,
// exactly as one printRendered call would. Encoding is a good part of
// generate's work, so apps are encoded concurrently, then written in order.
func printYAMLStream(w io.Writer, rendered []render.AppObjects) error {
	docs := make([][]byte, len(rendered))
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, r := range rendered {
		g.Go(func() error {
			var b bytes.Buffer
			err := printRendered(&b, "yaml", r.Objects)
			docs[i] = b.Bytes()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	first := true
	for _, doc := range docs {
		if len(doc) == 0 {
			continue
		}
		// The separator a single printer puts between objects.
		if !first {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(doc); err != nil {
			return err
		}
		first = false
	}
	return nil
}

// writeDir writes one file per app; everything is rendered before the
// first file is written, so a failing app leaves the directory untouched.
// Files are written inside the directory only, never through a symbolic
// link: a link planted there cannot redirect the output elsewhere.
func (o *GenerateOptions) writeDir(rendered []render.AppObjects) error {
	if err := os.MkdirAll(o.OutputDir, 0o755); err != nil {
		return fmt.Errorf("cannot create --output-dir: %w", err)
	}
	root, err := os.OpenRoot(o.OutputDir)
	if err != nil {
		return fmt.Errorf("cannot open --output-dir: %w", err)
	}
	defer root.Close()
	for _, r := range rendered {
		name := r.App + "." + o.Output
		path := filepath.Join(o.OutputDir, name)
		if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
			return usageError("%s is not a regular file (%s): generate writes only regular files in --output-dir; remove it", path, fileKind(fi.Mode()))
		}
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("cannot write %s: %w", path, err)
		}
		err = printRendered(f, o.Output, r.Objects)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		fmt.Fprintf(o.Out, "wrote %s\n", path)
	}
	return nil
}

// fileKind names what a non-regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a regular file"
}

// printRendered writes objects as one YAML stream, or as one JSON List that
// "kubectl apply -f" accepts.
func printRendered(w io.Writer, format string, objs []*unstructured.Unstructured) error {
	if format == "json" {
		list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
		for _, obj := range objs {
			list.Items = append(list.Items, *obj)
		}
		return (&printers.JSONPrinter{}).PrintObj(list, w)
	}
	p := &printers.YAMLPrinter{}
	for _, obj := range objs {
		if err := p.PrintObj(obj, w); err != nil {
			return err
		}
	}
	return nil
}

// appNameCompletion offers the app names of the project.
func appNameCompletion(g *Globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		cfg, err := g.LoadConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		apps, _ := render.Apps(cfg)
		return apps, cobra.ShellCompDirectiveNoFileComp
	}
}

// environmentNameCompletion offers the environments of the project file.
func environmentNameCompletion(g *Globals) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := g.LoadConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return cfg.EnvironmentNames(), cobra.ShellCompDirectiveNoFileComp
	}
}
