package environment

import (
	"fmt"
	"strings"

	"github.com/envops/kubectl-envops/pkg/config"
)

// View is the environment of one context as "env" shows it.
type View struct {
	Context string `json:"context"`
	Cluster string `json:"cluster"`
	Reading
	Secret     string `json:"secret"`
	Key        string `json:"key"`
	Consistent bool   `json:"consistent"`
	Survey
}

// NewView is the view of r, read through kubeContext of cluster. It fails
// when no namespace declares an environment, saying how to declare one.
func NewView(r *Report, kubeContext, cluster string, s config.Secret) (View, error) {
	if r.Environment == "" && len(r.Declared) == 0 {
		return View{}, fmt.Errorf("context %q declares no environment: namespace %q has no Secret %q with key %q; declare it with \"kubectl envops init-env ENV --context %s -n %s\"",
			kubeContext, r.Namespace, s.Name, s.Key, kubeContext, r.Namespace)
	}
	return View{Context: kubeContext, Cluster: cluster, Reading: r.Reading,
		Secret: s.Name, Key: s.Key, Consistent: r.Consistent(), Survey: r.Survey}, nil
}

// ReadFrom says where the environment was read from.
func (v View) ReadFrom() string {
	switch {
	case v.Source == v.Namespace:
		return fmt.Sprintf("Secret %s/%s, key %q", v.Source, v.Secret, v.Key)
	case v.Source != "":
		return fmt.Sprintf("Secret %s/%s, key %q (namespace %q has no Secret %q)", v.Source, v.Secret, v.Key, v.Namespace, v.Secret)
	}
	return fmt.Sprintf("nowhere: namespace %q has no Secret %q", v.Namespace, v.Secret)
}

// Namespaces sums up what the other namespaces declare: how many declare
// which environment, or where they disagree, and which lack the Secret.
func (v View) Namespaces() string {
	if v.Unchecked != "" {
		return fmt.Sprintf("not checked (%s)", v.Unchecked)
	}
	envs := v.Survey.Environments()
	var parts []string
	for _, e := range envs {
		n := len(v.Declared[e])
		parts = append(parts, fmt.Sprintf("%d %s %q", n, plural(n, "namespace declares", "namespaces declare"), e))
	}
	line := strings.Join(parts, ", ")
	if !v.Consistent {
		var where []string
		for _, e := range envs {
			where = append(where, fmt.Sprintf("%q in %s", e, strings.Join(v.Declared[e], ", ")))
		}
		line = "disagree: " + strings.Join(where, "; ")
	}
	if len(v.Missing) > 0 {
		line += fmt.Sprintf("; %d %s the Secret: %s", len(v.Missing), plural(len(v.Missing), "lacks", "lack"), strings.Join(v.Missing, ", "))
	}
	return line
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
