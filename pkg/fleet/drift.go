package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/appstate"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/drift"
	"github.com/envops/kubectl-envops/pkg/environment"
	"github.com/envops/kubectl-envops/pkg/render"
)

// NewDynamic builds the dynamic client and the kind mapper of a context,
// whose every request ends after timeout; tests replace it with fakes.
type NewDynamic func(contextName string, timeout time.Duration) (dynamic.Interface, meta.RESTMapper, error)

// ContextDynamic builds dynamic clients for the contexts of raw.
func ContextDynamic(raw clientcmdapi.Config) NewDynamic {
	return func(name string, timeout time.Duration) (dynamic.Interface, meta.RESTMapper, error) {
		if _, ok := raw.Contexts[name]; !ok {
			return nil, nil, fmt.Errorf("context %q not found in your kubeconfig", name)
		}
		rc, err := clientcmd.NewNonInteractiveClientConfig(raw, name, &clientcmd.ConfigOverrides{}, nil).ClientConfig()
		if err != nil {
			return nil, nil, err
		}
		rc = WithDeadline(rc, timeout)
		dyn, err := dynamic.NewForConfig(rc)
		if err != nil {
			return nil, nil, err
		}
		dc, err := discovery.NewDiscoveryClientForConfig(rc)
		if err != nil {
			return nil, nil, err
		}
		return dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), nil
	}
}

// Overlays compares what each app's overlay renders for an environment
// with what the environment's cluster runs: the comparison deploy makes
// to tell an unchanged app.
type Overlays struct {
	Config *config.Config
	FS     filesys.FileSystem
	// Render are the options apps are rendered with (remote resources).
	Render  render.Options
	Dynamic NewDynamic
}

// ErrNoOverlay is returned by Drift for an app without an overlay for the
// environment, which has nothing to compare.
var ErrNoOverlay = errors.New("no overlay")

// Drift renders app's overlay for t's environment as its last deploy did
// (with the image that deploy was given, as the kind it runs) and compares
// it with the cluster.
func (o *Overlays) Drift(ctx context.Context, t Target, client kubernetes.Interface, app string, ctrls []appstate.Controller, timeout time.Duration) (drift.Report, error) {
	if t.Env == "" {
		return drift.Report{}, ErrNoOverlay
	}
	if _, err := render.OverlayDir(o.fsys(), o.Config, app, t.Env); err != nil {
		return drift.Report{}, ErrNoOverlay
	}
	opts := o.Render
	kind := ""
	for _, c := range ctrls {
		if c.RequestedImage != "" {
			opts.Image = c.RequestedImage
		}
		kind = c.Kind
	}
	objs, err := render.App(o.fsys(), o.Config, app, t.Env, opts)
	if err != nil {
		return drift.Report{}, fmt.Errorf("cannot render app %q for %s: %w", app, t.Env, err)
	}
	plan, err := deploy.Split(objs, kind)
	if err != nil {
		return drift.Report{}, err
	}
	dyn, mapper, err := o.Dynamic(t.Context, timeout)
	if err != nil {
		return drift.Report{}, err
	}
	d := &deploy.Deployer{
		Target:  &environment.Target{Env: t.Env, Context: t.Context, Namespace: t.Namespace, Config: o.Config, Client: client},
		Dynamic: dyn,
		Mapper:  mapper,
	}
	return d.Drift(ctx, deploy.Request{App: app, Plan: plan, Image: opts.Image})
}

func (o *Overlays) fsys() filesys.FileSystem {
	if o.FS == nil {
		return filesys.MakeFsOnDisk()
	}
	return o.FS
}
