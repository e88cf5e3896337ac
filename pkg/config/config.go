// Package config loads the project file .envops.yaml: which kube context
// serves each environment, how the environment Secret is named, the label
// convention and where apps live.
package config

// FileName is the project file searched for upward from the working directory.
const FileName = ".envops.yaml"

// Config is the effective project configuration.
type Config struct {
	// Environments maps an environment name to the cluster that serves it.
	Environments Environments `json:"environments,omitempty" yaml:"environments"`
	// Secret names the environment Secret and where pods mount it.
	Secret Secret `json:"secret" yaml:"secret"`
	// Labels is the label convention every pod follows.
	Labels Labels `json:"labels" yaml:"labels"`
	// Apps is the directory holding app directories, relative to the file.
	Apps string `json:"apps" yaml:"apps"`
	// Kustomize says what kustomize may load when rendering apps.
	Kustomize Kustomize `json:"kustomize" yaml:"kustomize"`
	// Promotion is the order promote ships an image through environments
	// (default: the order of environments in the file).
	Promotion []string `json:"promotion,omitempty" yaml:"promotion"`
	// Needs maps an app to the apps that must be deployed, and healthy,
	// before it when several apps are deployed in one command.
	Needs map[string][]string `json:"needs,omitempty" yaml:"needs"`

	// Path is the file this configuration was loaded from ("" for defaults).
	Path string `json:"-" yaml:"-"`

	// dir is the directory Find started from, used by Dir when no file was found.
	dir string
}

// Environments maps environment names to their clusters.
type Environments map[string]Environment

// Environment is one environment's cluster.
type Environment struct {
	Context   string `json:"context,omitempty" yaml:"context"`
	Namespace string `json:"namespace,omitempty" yaml:"namespace"`
	// Confirm asks before changing this environment (prod-like ones).
	Confirm bool `json:"confirm,omitempty" yaml:"confirm"`
}

// Secret describes the environment Secret.
type Secret struct {
	Name      string `json:"name" yaml:"name"`
	Key       string `json:"key" yaml:"key"`
	MountPath string `json:"mountPath" yaml:"mountPath"`
}

// Labels is the label convention.
type Labels struct {
	Required []string            `json:"required" yaml:"required"`
	Optional []string            `json:"optional,omitempty" yaml:"optional"`
	Allowed  map[string][]string `json:"allowed,omitempty" yaml:"allowed"`
	// Name is the pattern of the name label, e.g. "{app}-{role}".
	Name string `json:"name" yaml:"name"`
	// Recommended maps convention labels to app.kubernetes.io labels, when set.
	Recommended map[string]string `json:"recommended,omitempty" yaml:"recommended"`
}

// NamePattern returns the parsed pattern of the name label.
func (l Labels) NamePattern() NamePattern { return ParseNamePattern(l.Name) }

// Kustomize says what kustomize may load.
type Kustomize struct {
	// RemoteResources lets kustomizations name resources, bases and
	// components that kustomize fetches over the network (URLs, git).
	RemoteResources bool `json:"remoteResources" yaml:"remoteResources"`
}

// Default returns the configuration used when no project file exists.
func Default() *Config {
	return &Config{
		Secret: Secret{Name: "environment", Key: "environment", MountPath: "/etc/secrets"},
		Labels: Labels{
			Required: []string{"name", "app", "tier", "role"},
			Optional: []string{"language"},
			Name:     "{app}-{role}",
		},
		Apps:      "apps",
		Kustomize: Kustomize{RemoteResources: true},
	}
}
