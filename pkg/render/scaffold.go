package render

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/transform"
)

// Controller kinds a new app can be scaffolded with.
const (
	KindReplicationController = "ReplicationController"
	KindDeployment            = "Deployment"
)

// NewApp describes an app to scaffold.
type NewApp struct {
	// Name is the app's directory name and the value of its app label.
	Name string
	// Tier, Role and Language are the values of the labels of those names;
	// Language is optional.
	Tier, Role, Language string
	// Image is the container image.
	Image string
	// Kind is KindReplicationController or KindDeployment.
	Kind string
	// Port is the container port; 0 declares none.
	Port int32
	// Environments get one overlay each.
	Environments []string
	// Replicas per environment; environments not listed get one replica.
	Replicas map[string]int32
}

// Scaffold writes a new app under the configured apps directory: a base
// with the controller and a kustomization, and one overlay per environment.
// It writes nothing when any of the files already exists, and returns the
// paths it wrote. When a file cannot be written (a full disk) or ctx ends
// first, it takes back every file and directory it created, so that the
// next Scaffold starts from where this one did.
func Scaffold(ctx context.Context, fsys filesys.FileSystem, cfg *config.Config, app NewApp) ([]string, error) {
	files, err := scaffoldFiles(cfg, app)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if fsys.Exists(p) {
			return nil, fmt.Errorf("%s already exists: scaffolding never overwrites files; remove it or choose another app name", p)
		}
	}
	var created []string // directories, parents first
	for _, p := range paths {
		for d := filepath.Dir(p); !fsys.Exists(d) && !slices.Contains(created, d); d = filepath.Dir(d) {
			created = append(created, d)
		}
	}
	slices.SortFunc(created, func(a, b string) int { return len(a) - len(b) })
	for i, p := range paths {
		err := context.Cause(ctx)
		if err == nil {
			err = fsys.MkdirAll(filepath.Dir(p))
		}
		if err == nil {
			err = fsys.WriteFile(p, files[p])
		}
		if err != nil {
			// Half an app is worse than none: take back what was written.
			for _, done := range paths[:i] {
				_ = fsys.RemoveAll(done)
			}
			for _, d := range slices.Backward(created) {
				if entries, rerr := fsys.ReadDir(d); rerr == nil && len(entries) == 0 {
					_ = fsys.RemoveAll(d)
				}
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: app %q was not created, and nothing is left of it", err, app.Name)
			}
			return nil, fmt.Errorf("cannot write %s: %w; app %q was not created, and nothing is left of it", p, err, app.Name)
		}
	}
	return paths, nil
}

// Validate checks a NewApp against the label convention and .envops.yaml.
func (a NewApp) Validate(cfg *config.Config) error {
	// The name starts label values, DNS names and file names: a letter
	// first keeps it valid everywhere (a DNS-1035 label).
	if errs := validation.IsDNS1035Label(a.Name); len(errs) > 0 {
		return fmt.Errorf("invalid app name %q: use at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit", a.Name)
	}
	for _, l := range []struct{ key, flag, value string }{
		{"tier", "--tier", a.Tier}, {"role", "--role", a.Role}, {"language", "--language", a.Language},
	} {
		if l.value == "" {
			if l.key != "language" {
				return fmt.Errorf("%s is required: it becomes the %q label", l.flag, l.key)
			}
			continue
		}
		if errs := validation.IsValidLabelValue(l.value); len(errs) > 0 {
			return fmt.Errorf("invalid %s %q: a label value is at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", l.flag, l.value)
		}
		if allowed, ok := cfg.Labels.Allowed[l.key]; ok && !contains(allowed, l.value) {
			return fmt.Errorf("%s %q is not allowed by .envops.yaml: use one of %s", l.flag, l.value, strings.Join(allowed, ", "))
		}
	}
	if err := transform.ValidateImage(a.Image); err != nil {
		return err
	}
	if a.Kind != KindReplicationController && a.Kind != KindDeployment {
		return fmt.Errorf("unsupported kind %q: use %s or %s", a.Kind, KindReplicationController, KindDeployment)
	}
	if a.Port < 0 || a.Port > 65535 {
		return fmt.Errorf("invalid port %d: use 1-65535, or 0 for none", a.Port)
	}
	if len(a.Environments) == 0 {
		return fmt.Errorf("no environments to scaffold overlays for: define environments in .envops.yaml or name them with --env")
	}
	for _, env := range a.Environments {
		if err := config.ValidateEnvironmentName(env); err != nil {
			return err
		}
		// With environments in .envops.yaml, an overlay for any other
		// could never be rendered or deployed.
		if len(cfg.Environments) > 0 {
			if _, err := cfg.Environment(env); err != nil {
				return err
			}
		}
	}
	for env, n := range a.Replicas {
		if !contains(a.Environments, env) {
			return fmt.Errorf("replicas given for %q, which is not one of the environments %s", env, strings.Join(a.Environments, ", "))
		}
		if n < 0 {
			return fmt.Errorf("invalid replicas %d for %q: use 0 or more", n, env)
		}
	}
	// The name label is made of the others: each may fit while it does not.
	_, err := a.nameLabel(cfg)
	return err
}

// nameLabel expands the configured name pattern for the new app.
func (a NewApp) nameLabel(cfg *config.Config) (string, error) {
	values := map[string]string{"app": a.Name, "tier": a.Tier, "role": a.Role, "language": a.Language}
	name, missing := cfg.Labels.NamePattern().Format(config.Values(values))
	if len(missing) > 0 {
		return "", fmt.Errorf("the name label pattern %q needs {%s}, which has no value: pass --%s", cfg.Labels.Name, missing[0], missing[0])
	}
	if errs := validation.IsValidLabelValue(name); len(errs) > 0 || name == "" {
		return "", fmt.Errorf("name label %q (from pattern %q) is not a valid label value: shorten the app or role name", name, cfg.Labels.Name)
	}
	return name, nil
}

// scaffoldFiles returns the new app's files by path.
func scaffoldFiles(cfg *config.Config, app NewApp) (map[string][]byte, error) {
	if err := app.Validate(cfg); err != nil {
		return nil, err
	}
	name, err := app.nameLabel(cfg)
	if err != nil {
		return nil, err
	}
	controller, file, err := app.controller(name)
	if err != nil {
		return nil, err
	}
	appDir := filepath.Join(cfg.AppsDir(), app.Name)
	files := map[string][]byte{filepath.Join(appDir, "base", file): controller}

	pairs := map[string]string{"app": app.Name, "tier": app.Tier, "role": app.Role}
	if app.Language != "" {
		pairs["language"] = app.Language
	}
	base := types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
		Resources: []string{file},
		// labels, unlike commonLabels, leave selectors alone
		// (includeSelectors defaults to false), so the selector stays on
		// the name label and later label changes never touch it.
		Labels: []types.Label{{Pairs: pairs, IncludeTemplates: true}},
	}
	if files[filepath.Join(appDir, "base", "kustomization.yaml")], err = yaml.Marshal(base); err != nil {
		return nil, err
	}
	for _, env := range app.Environments {
		replicas := int64(1)
		if n, ok := app.Replicas[env]; ok {
			replicas = int64(n)
		}
		overlay := types.Kustomization{
			TypeMeta:  types.TypeMeta{APIVersion: types.KustomizationVersion, Kind: types.KustomizationKind},
			Resources: []string{"../../base"},
			Replicas:  []types.Replica{{Name: app.Name, Count: replicas}},
		}
		if files[filepath.Join(appDir, "overlays", env, "kustomization.yaml")], err = yaml.Marshal(overlay); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// controller returns the app's controller as YAML and its file name.
func (a NewApp) controller(name string) ([]byte, string, error) {
	selector := map[string]string{transform.SelectorLabel: name}
	container := corev1.Container{Name: a.Name, Image: a.Image}
	if a.Port > 0 {
		container.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: a.Port}}
	}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: selector},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{container}},
	}
	meta := metav1.ObjectMeta{Name: a.Name, Labels: selector}
	var obj runtime.Object
	switch a.Kind {
	case KindDeployment:
		obj = &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: KindDeployment},
			ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: selector},
				Template: template,
			},
		}
	default:
		obj = &corev1.ReplicationController{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: KindReplicationController},
			ObjectMeta: meta,
			Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr.To[int32](1),
				Selector: selector,
				Template: &template,
			},
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, "", err
	}
	// Typed objects carry empty status and timestamps that do not belong
	// in a source file.
	u := &unstructured.Unstructured{Object: m}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "strategy")
	containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for _, c := range containers {
		delete(c.(map[string]any), "resources")
	}
	if err := unstructured.SetNestedSlice(u.Object, containers, "spec", "template", "spec", "containers"); err != nil {
		return nil, "", err
	}
	out, err := yaml.Marshal(u.Object)
	return out, strings.ToLower(a.Kind) + ".yaml", err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
