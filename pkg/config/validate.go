package config

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// fieldError is a validation problem at a path of keys in the file.
type fieldError struct {
	path []string
	msg  string
}

func (e *fieldError) Error() string { return strings.Join(e.path, ".") + ": " + e.msg }

func fieldErr(msg string, path ...string) error { return &fieldError{path: path, msg: msg} }

// ValidateEnvironmentName reports whether name can name an environment:
// it must be a DNS-1123 label, like a namespace name.
func ValidateEnvironmentName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("invalid environment name %q: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// labelKeyRule says briefly what a label key looks like.
const labelKeyRule = "use an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

// validate checks names and values, and returns every problem it finds.
func (c *Config) validate() []error {
	var problems []error
	for _, name := range c.EnvironmentNames() {
		env := c.Environments[name]
		if err := ValidateEnvironmentName(name); err != nil {
			problems = append(problems, fieldErr(err.Error(), "environments", name))
		}
		if env.Context == "" {
			problems = append(problems, fieldErr(fmt.Sprintf("environment %q has no context: add \"context: <kube context name>\"", name), "environments", name))
		}
		if env.Namespace != "" {
			if errs := validation.IsDNS1123Label(env.Namespace); len(errs) > 0 {
				problems = append(problems, fieldErr(fmt.Sprintf("invalid namespace %q for environment %q: use a namespace name (lowercase letters, digits and '-')", env.Namespace, name), "environments", name, "namespace"))
			}
		}
	}

	problems = append(problems, c.validatePromotion()...)
	problems = append(problems, c.validateNeeds()...)

	if errs := validation.IsDNS1123Subdomain(c.Secret.Name); len(errs) > 0 {
		problems = append(problems, fieldErr(fmt.Sprintf("invalid secret name %q: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", c.Secret.Name), "secret", "name"))
	}
	if errs := validation.IsConfigMapKey(c.Secret.Key); len(errs) > 0 {
		problems = append(problems, fieldErr(fmt.Sprintf("invalid secret key %q: use letters, digits, '-', '_' and '.'", c.Secret.Key), "secret", "key"))
	}
	if !path.IsAbs(c.Secret.MountPath) || strings.Contains(c.Secret.MountPath, ":") {
		problems = append(problems, fieldErr(fmt.Sprintf("invalid secret mountPath %q: use an absolute path without ':', such as /etc/secrets", c.Secret.MountPath), "secret", "mountPath"))
	}

	if !filepath.IsAbs(c.Apps) {
		if rel := filepath.Clean(c.Apps); rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			problems = append(problems, fieldErr(fmt.Sprintf("apps %q leads out of the project directory: keep apps inside it, or give an absolute path", c.Apps), "apps"))
		}
	}

	known := map[string]bool{}
	for _, group := range []struct {
		key    string
		labels []string
	}{{"required", c.Labels.Required}, {"optional", c.Labels.Optional}} {
		for i, l := range group.labels {
			if errs := validation.IsQualifiedName(l); len(errs) > 0 {
				problems = append(problems, fieldErr(fmt.Sprintf("invalid label key %q: %s", l, labelKeyRule), "labels", group.key, fmt.Sprint(i)))
			}
			if known[l] {
				problems = append(problems, fieldErr(fmt.Sprintf("label %q is listed twice in labels.required and labels.optional: keep one", l), "labels", group.key, fmt.Sprint(i)))
			}
			known[l] = true
		}
	}
	for _, l := range slices.Sorted(maps.Keys(c.Labels.Allowed)) {
		if !known[l] {
			problems = append(problems, fieldErr(fmt.Sprintf("labels.allowed names label %q, which is neither required nor optional: add it to one of them", l), "labels", "allowed", l))
		}
		for i, v := range c.Labels.Allowed[l] {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 || v == "" {
				problems = append(problems, fieldErr(fmt.Sprintf("invalid value %q allowed for label %q: use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", v, l), "labels", "allowed", l, fmt.Sprint(i)))
			}
		}
	}
	pattern := c.Labels.NamePattern()
	for _, l := range pattern.Labels() {
		if !known[l] {
			problems = append(problems, fieldErr(fmt.Sprintf("labels.name pattern %q uses {%s}, which is neither a required nor an optional label", c.Labels.Name, l), "labels", "name"))
		}
	}
	if pattern.Unbalanced() {
		problems = append(problems, fieldErr(fmt.Sprintf("labels.name pattern %q has an unbalanced brace: write placeholders as {label}", c.Labels.Name), "labels", "name"))
	}
	for _, l := range slices.Sorted(maps.Keys(c.Labels.Recommended)) {
		if !known[l] {
			problems = append(problems, fieldErr(fmt.Sprintf("labels.recommended maps label %q, which is neither required nor optional", l), "labels", "recommended", l))
		}
		if errs := validation.IsQualifiedName(c.Labels.Recommended[l]); len(errs) > 0 {
			problems = append(problems, fieldErr(fmt.Sprintf("invalid label key %q in labels.recommended: %s", c.Labels.Recommended[l], labelKeyRule), "labels", "recommended", l))
		}
	}
	return problems
}
