// Package render turns an app's kustomize overlay into the objects envops
// sends to a cluster: kustomize (krusty) builds the overlay in-process, then
// the transforms of pkg/transform add the environment Secret mount, the
// label convention and the image override. It also scaffolds new apps.
package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/openapi"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/transform"
)

// DefaultTimeout bounds one kustomize build when Options.Timeout is zero.
// A local build takes well under a second; the bound is for remote
// resources, whose HTTP fetches kustomize does not bound itself.
const DefaultTimeout = time.Minute

// Options changes what App renders.
type Options struct {
	// Image, when set, replaces the image of the app's container.
	Image string
	// ImageApp, when set, limits Image to the app of that name.
	ImageApp string
	// Images gives apps images of their own, by app name; an app it
	// names gets its image rather than Image.
	Images map[string]string
	// NoRemote refuses resources, bases and components that kustomize
	// would load over the network.
	NoRemote bool
	// Timeout bounds one kustomize build; zero means DefaultTimeout.
	Timeout time.Duration
	// Encode, "yaml" or "json", has Each encode every app as soon as it
	// is rendered, on the worker that rendered it, for WriteDir and
	// WriteYAMLStream: encoding then overlaps with the builds still
	// running instead of waiting for the last one.
	Encode string
}

// Validate checks the options before anything is rendered.
func (o Options) Validate() error {
	if o.Image != "" {
		if err := transform.ValidateImage(o.Image); err != nil {
			return err
		}
	}
	for _, image := range o.Images {
		if err := transform.ValidateImage(image); err != nil {
			return err
		}
	}
	return nil
}

// imageOf is the image app is rendered with, "" for the overlay's.
func (o Options) imageOf(app string) string {
	if image := o.Images[app]; image != "" {
		return image
	}
	if o.ImageApp == "" || o.ImageApp == app {
		return o.Image
	}
	return ""
}

// AppObjects is one app's rendered objects.
type AppObjects struct {
	// App is the app's name.
	App string
	// Objects are what App returns for it.
	Objects []*unstructured.Unstructured

	// encoded is Objects as Write writes them in the format encodedAs.
	encoded   []byte
	encodedAs string
}

// encoding is the app's objects as Write writes them in format.
func (a AppObjects) encoding(format string) ([]byte, error) {
	if a.encodedAs == format {
		return a.encoded, nil
	}
	var b bytes.Buffer
	err := Write(&b, format, a.Objects)
	return b.Bytes(), err
}

// App renders the overlay of app for env and applies the project's
// transforms: the result is exactly what deploy sends to the cluster.
func App(fsys filesys.FileSystem, cfg *config.Config, app, env string, opts Options) ([]*unstructured.Unstructured, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	overlay, err := OverlayDir(fsys, cfg, app, env)
	if err != nil {
		return nil, err
	}
	nodes, err := build(fsys, overlay, opts)
	if err != nil {
		return nil, err
	}
	for _, f := range filters(cfg, app, opts) {
		if nodes, err = f.Filter(nodes); err != nil {
			return nil, fmt.Errorf("app %q, environment %q: %w", app, env, err)
		}
	}
	objs, err := toUnstructured(nodes)
	if err != nil {
		return nil, err
	}
	if err := checkSelectors(app, cfg.Labels.NamePattern(), objs); err != nil {
		return nil, err
	}
	if err := checkNames(app, env, objs); err != nil {
		return nil, err
	}
	return objs, nil
}

// EnvObjects is every app rendered for one environment.
type EnvObjects struct {
	// Env is the environment's name.
	Env string
	// Apps are the environment's apps, in the order they were asked for.
	Apps []AppObjects
}

// All renders every app, in the order of Apps, for each of envs.
func All(fsys filesys.FileSystem, cfg *config.Config, envs []string, opts Options) ([]EnvObjects, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	apps, err := appNames(fsys, cfg.AppsDir())
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("no apps in %s: create one with \"kubectl envops new APP --tier T --role R --image IMG\"", cfg.AppsDir())
	}
	if opts.ImageApp != "" && !slices.Contains(apps, opts.ImageApp) {
		return nil, fmt.Errorf("the image is for app %q, which is not in %s; apps: %s", opts.ImageApp, cfg.AppsDir(), strings.Join(apps, ", "))
	}
	return Each(fsys, cfg, apps, envs, opts)
}

// Each renders each of apps for each of envs, concurrently. Every build of
// every environment goes through one pool of one worker per CPU, so the
// cores stay busy up to the last build instead of idling at the end of
// each environment.
func Each(fsys filesys.FileSystem, cfg *config.Config, apps, envs []string, opts Options) ([]EnvObjects, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	out := make([]EnvObjects, len(envs))
	errs := make([]error, len(envs)*len(apps))
	var g errgroup.Group
	// Rendering is CPU-bound: more workers than CPUs only add contention.
	g.SetLimit(runtime.GOMAXPROCS(0))
	// After a failure, builds after it in environment then app order are
	// skipped; those before it still run, so the first failure in that
	// order is the one reported, whatever the timing.
	var firstFailed atomic.Int64
	firstFailed.Store(int64(len(errs)))
	for e, env := range envs {
		out[e] = EnvObjects{Env: env, Apps: make([]AppObjects, len(apps))}
		for a, app := range apps {
			i := e*len(apps) + a
			g.Go(func() error {
				if int64(i) > firstFailed.Load() {
					return nil
				}
				r := AppObjects{App: app}
				var err error
				r.Objects, err = App(fsys, cfg, app, env, opts)
				if err == nil && opts.Encode != "" {
					r.encoded, err = r.encoding(opts.Encode)
					r.encodedAs = opts.Encode
				}
				out[e].Apps[a], errs[i] = r, err
				for err != nil {
					f := firstFailed.Load()
					if int64(i) >= f || firstFailed.CompareAndSwap(f, int64(i)) {
						break
					}
				}
				return nil
			})
		}
	}
	_ = g.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Kustomization renders any kustomization directory as kustomize would,
// without the project's transforms.
func Kustomization(fsys filesys.FileSystem, dir string, opts Options) ([]*unstructured.Unstructured, error) {
	if !fsys.IsDir(dir) {
		return nil, fmt.Errorf("kustomization directory %s does not exist", dir)
	}
	nodes, err := build(fsys, dir, opts)
	if err != nil {
		return nil, err
	}
	return toUnstructured(nodes)
}

// Apps lists the app names under the configured apps directory, sorted.
// An app is a directory holding base/ or overlays/.
func Apps(cfg *config.Config) ([]string, error) {
	return appNames(filesys.MakeFsOnDisk(), cfg.AppsDir())
}

// OverlayDir returns the overlay directory of app for env, or an error that
// says which app or overlay is missing and which ones exist.
func OverlayDir(fsys filesys.FileSystem, cfg *config.Config, app, env string) (string, error) {
	if errs := validation.IsDNS1123Label(app); len(errs) > 0 {
		return "", fmt.Errorf("invalid app name %q: use lowercase letters, digits and '-', as in the app's directory name", app)
	}
	if err := config.ValidateEnvironmentName(env); err != nil {
		return "", err
	}
	// Without environments in .envops.yaml, any overlay may be rendered;
	// with them, a typo is caught before it reaches a cluster.
	if len(cfg.Environments) > 0 {
		if _, err := cfg.Environment(env); err != nil {
			return "", err
		}
	}
	appsDir := cfg.AppsDir()
	appDir := filepath.Join(appsDir, app)
	if !fsys.IsDir(appDir) {
		apps, _ := appNames(fsys, appsDir)
		if len(apps) == 0 {
			return "", fmt.Errorf("unknown app %q: %s has no apps; create it with \"kubectl envops new %s --tier T --role R --image IMG\"", app, appsDir, app)
		}
		return "", fmt.Errorf("unknown app %q: no directory %s; apps: %s", app, appDir, strings.Join(apps, ", "))
	}
	overlay := filepath.Join(appDir, "overlays", env)
	if !fsys.IsDir(overlay) {
		envs, _ := subdirs(fsys, filepath.Join(appDir, "overlays"))
		if len(envs) == 0 {
			return "", fmt.Errorf("app %q has no overlay for environment %q: %s does not exist, and the app has no overlays; add overlays/%s with a kustomization.yaml", app, env, overlay, env)
		}
		return "", fmt.Errorf("app %q has no overlay for environment %q: %s does not exist; overlays: %s", app, env, overlay, strings.Join(envs, ", "))
	}
	return overlay, nil
}

// filters are the project's transforms, in the order they are applied.
func filters(cfg *config.Config, app string, opts Options) []kio.Filter {
	fs := []kio.Filter{
		transform.EnvSecret{SecretName: cfg.Secret.Name, MountPath: cfg.Secret.MountPath, Key: cfg.Secret.Key},
		transform.LabelConvention{
			App:         app,
			Labels:      append(append([]string{}, cfg.Labels.Required...), cfg.Labels.Optional...),
			NamePattern: cfg.Labels.Name,
			Recommended: cfg.Labels.Recommended,
		},
	}
	if image := opts.imageOf(app); image != "" {
		fs = append(fs, transform.Image{Image: image, App: app})
	}
	return fs
}

// build runs kustomize on dir, with plugins disabled as kustomize's CLI
// does by default. Kustomize reads through a screenedFS, and the build is
// bounded in time: kustomize's HTTP fetches have no deadline of their own.
func build(fsys filesys.FileSystem, dir string, opts Options) ([]*yaml.RNode, error) {
	m, sfs, err := runKustomize(fsys, dir, opts.NoRemote, opts.Timeout, krusty.MakeDefaultOptions())
	if refused, _ := sfs.firstRefusal(); refused != nil {
		return nil, refused
	}
	if err != nil {
		if errors.Is(err, errTimeout) {
			return nil, err
		}
		if tooLarge := remoteTooLargeIn(err.Error()); tooLarge != nil {
			return nil, fmt.Errorf("kustomize build %s: %w", dir, tooLarge)
		}
		if d := diagnose(sfs, dir, oneLine(err), map[string]bool{}); d != nil {
			return nil, d
		}
		return nil, fmt.Errorf("kustomize build %s: %s", dir, oneLine(err))
	}
	return m.ToRNodeSlice(), nil
}

// schemaLock guards the one piece of process-wide state a kustomize build
// touches: kyaml's OpenAPI schema, which a kustomization's "openapi" field
// replaces for the whole process. Builds that leave it alone (almost all)
// share the lock and run in parallel; a build that sets it runs alone,
// and the schema is reset after it so that it reaches no other build, as
// if each build were its own kustomize process.
var schemaLock sync.RWMutex

// runKustomize runs one kustomize build of dir through a screenedFS,
// bounded by timeout. It first runs as a shared build; if a kustomization
// declares its own OpenAPI schema, that build stops before kustomize
// installs the schema and runs again alone.
func runKustomize(fsys filesys.FileSystem, dir string, noRemote bool, timeout time.Duration, kopts *krusty.Options) (resmap.ResMap, *screenedFS, error) {
	boundRemoteLoads()
	sfs := newScreenedFS(fsys, noRemote, false)
	m, err := runBounded(sfs, dir, timeout, func() (resmap.ResMap, error) {
		schemaLock.RLock()
		defer schemaLock.RUnlock()
		return krusty.MakeKustomizer(kopts).Run(sfs, dir)
	})
	if !sfs.sawOwnSchema() {
		return m, sfs, err
	}
	sfs = newScreenedFS(fsys, noRemote, true)
	m, err = runBounded(sfs, dir, timeout, func() (resmap.ResMap, error) {
		schemaLock.Lock()
		defer schemaLock.Unlock()
		defer openapi.ResetOpenAPI()
		return krusty.MakeKustomizer(kopts).Run(sfs, dir)
	})
	return m, sfs, err
}

// errTimeout is wrapped by the error of a build that ran out of time.
var errTimeout = errors.New("timed out")

// runBounded runs a kustomize build, returning when it is done or when
// timeout has passed. A build that times out is left to finish in the
// background: kustomize cannot be cancelled, and the process is about to
// report the error and exit. A panic in kustomize becomes an error.
func runBounded(sfs *screenedFS, dir string, timeout time.Duration, run func() (resmap.ResMap, error)) (resmap.ResMap, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	type result struct {
		m   resmap.ResMap
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: fmt.Errorf("kustomize failed: %v", r)}
			}
		}()
		m, err := run()
		done <- result{m, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.m, r.err
	case <-timer.C:
		if _, remote := sfs.firstRefusal(); remote != "" {
			return nil, fmt.Errorf("kustomize build %s %w after %s while loading remote resources (first: %q): check the network, or turn remote resources off and vendor them", dir, errTimeout, timeout, remote)
		}
		return nil, fmt.Errorf("kustomize build %s %w after %s", dir, errTimeout, timeout)
	}
}

// BuildWithPlugins runs kustomize on dir with exec KRM function plugins
// enabled, as "kustomize build --enable-alpha-plugins --enable-exec" does.
func BuildWithPlugins(fsys filesys.FileSystem, dir string) ([]*unstructured.Unstructured, error) {
	opts := krusty.MakeDefaultOptions()
	opts.PluginConfig = types.EnabledPluginConfig(types.BploUseStaticallyLinked)
	opts.PluginConfig.FnpLoadingOptions.EnableExec = true
	m, sfs, err := runKustomize(fsys, dir, false, 0, opts)
	if refused, _ := sfs.firstRefusal(); refused != nil {
		return nil, refused
	}
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %s", dir, oneLine(err))
	}
	return toUnstructured(m.ToRNodeSlice())
}

var spaces = regexp.MustCompile(`\s+`)

// oneLine flattens kustomize's nested, multi-line errors into one line,
// without the generator literals it quotes.
func oneLine(err error) string {
	return withoutLiterals(strings.TrimSpace(spaces.ReplaceAllString(err.Error(), " ")))
}

// toUnstructured converts kustomize's nodes into objects. Each node is
// decoded as YAML once and passed through JSON, so that numbers take the
// types Unstructured holds; this is what RNode.MarshalJSON does, without
// first writing the node out as YAML text and reading it back.
func toUnstructured(nodes []*yaml.RNode) ([]*unstructured.Unstructured, error) {
	objs := make([]*unstructured.Unstructured, 0, len(nodes))
	for _, n := range nodes {
		m := map[string]any{}
		err := n.YNode().Decode(&m)
		var b []byte
		if err == nil {
			b, err = json.Marshal(m)
		}
		if err != nil {
			return nil, fmt.Errorf("%s/%s: encoding as JSON: %w", n.GetKind(), n.GetName(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			return nil, fmt.Errorf("%s/%s: decoding: %w", n.GetKind(), n.GetName(), err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// appNames lists the directories under appsDir that hold base/ or overlays/.
func appNames(fsys filesys.FileSystem, appsDir string) ([]string, error) {
	dirs, err := subdirs(fsys, appsDir)
	if err != nil {
		return nil, err
	}
	apps := dirs[:0]
	for _, d := range dirs {
		if fsys.IsDir(filepath.Join(appsDir, d, "base")) || fsys.IsDir(filepath.Join(appsDir, d, "overlays")) {
			apps = append(apps, d)
		}
	}
	return apps, nil
}

// subdirs lists the directory names directly under dir, sorted.
func subdirs(fsys filesys.FileSystem, dir string) ([]string, error) {
	if !fsys.IsDir(dir) {
		return nil, fmt.Errorf("directory %s does not exist: %w", dir, fs.ErrNotExist)
	}
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if fsys.IsDir(filepath.Join(dir, e)) {
			names = append(names, e)
		}
	}
	sort.Strings(names)
	return names, nil
}
