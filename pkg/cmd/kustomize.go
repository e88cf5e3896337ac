package cmd

import (
	"strconv"

	"github.com/spf13/pflag"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// remoteResourcesFlag is --remote-resources: unset, the project file's
// kustomize.remoteResources decides.
type remoteResourcesFlag struct {
	value *bool
}

func (f *remoteResourcesFlag) String() string {
	if f.value == nil {
		return ""
	}
	return strconv.FormatBool(*f.value)
}

func (f *remoteResourcesFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	f.value = &v
	return nil
}

func (f *remoteResourcesFlag) Type() string { return "bool" }

// addRemoteResourcesFlag adds --remote-resources to a command that renders
// kustomizations.
func addRemoteResourcesFlag(fs *pflag.FlagSet, f *remoteResourcesFlag) {
	fs.Var(f, "remote-resources", "Let kustomizations load resources over the network (URLs, git repositories); --remote-resources=false refuses them (default: kustomize.remoteResources of .envops.yaml, else true)")
	fs.Lookup("remote-resources").NoOptDefVal = "true"
}

// renderOptions are the render options the flag and the project file give.
func (f *remoteResourcesFlag) renderOptions(cfg *config.Config, image string) render.Options {
	remote := cfg.Kustomize.RemoteResources
	if f.value != nil {
		remote = *f.value
	}
	return render.Options{Image: image, NoRemote: !remote}
}
