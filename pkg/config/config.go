// Package config loads the project file .envops.yaml: which kube context
// serves each environment, how the environment Secret is named, the label
// convention and where apps live.
package config

// FileName is the project file searched for upward from the working directory.
const FileName = ".envops.yaml"

// Config is the effective project configuration.
type Config struct {
	// Environments maps an environment name to the cluster that serves it.
	Environments map[string]Environment `json:"environments,omitempty"`
	// Secret names the environment Secret and where pods mount it.
	Secret Secret `json:"secret"`
	// Labels is the label convention every pod follows.
	Labels Labels `json:"labels"`
	// Apps is the directory holding app directories, relative to the file.
	Apps string `json:"apps"`

	// Path is the file this configuration was loaded from ("" for defaults).
	Path string `json:"-"`
}

// Environment is one environment's cluster.
type Environment struct {
	Context   string `json:"context,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// Confirm asks before changing this environment (prod-like ones).
	Confirm bool `json:"confirm,omitempty"`
}

// Secret describes the environment Secret.
type Secret struct {
	Name      string `json:"name"`
	Key       string `json:"key"`
	MountPath string `json:"mountPath"`
}

// Labels is the label convention.
type Labels struct {
	Required []string            `json:"required"`
	Optional []string            `json:"optional,omitempty"`
	Allowed  map[string][]string `json:"allowed,omitempty"`
	// Name is the pattern of the name label, e.g. "{app}-{role}".
	Name string `json:"name"`
	// Recommended maps convention labels to app.kubernetes.io labels, when set.
	Recommended map[string]string `json:"recommended,omitempty"`
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
		Apps: "apps",
	}
}
