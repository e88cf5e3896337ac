package cmd

import (
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// addSelectorFlag adds kubectl's -l/--selector; what says what it selects.
func addSelectorFlag(cmd *cobra.Command, selector *string, what string) {
	cmd.Flags().StringVarP(selector, "selector", "l", "", "Selector (label query) to filter on, as kubectl takes it (e.g. -l tier=frontend, -l 'role in (server,worker)'): "+what)
}

// parseSelector reads -l; "" selects everything.
func parseSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, usageError("invalid --selector %q: %s; write it as kubectl does, e.g. -l tier=frontend,role!=worker", s, oneLine(err.Error()))
	}
	return sel, nil
}

// selectApps returns the apps of the project whose controllers, as
// rendered for one of envs (every environment of the project when none),
// carry labels that selector selects; opts are the render options (the
// project's remote resources setting).
func selectApps(cfg *config.Config, selector string, envs []string, opts render.Options) ([]string, error) {
	sel, err := parseSelector(selector)
	if err != nil {
		return nil, err
	}
	if len(envs) == 0 {
		envs = cfg.EnvironmentOrder()
	}
	if len(envs) == 0 {
		return nil, usageError("-l selects apps by the labels their overlays render, and %s names no environment to render: map the environments there", config.FileName)
	}
	apps, err := render.Select(filesys.MakeFsOnDisk(), cfg, nil, envs, sel, opts)
	return apps, inputError(err)
}
