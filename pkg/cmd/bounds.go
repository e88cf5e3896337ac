package cmd

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"

	"github.com/envops/kubectl-envops/pkg/inputfile"
	"github.com/envops/kubectl-envops/pkg/kube"
)

// prepare runs before every command, once its flags are parsed: it checks
// --request-timeout, takes the command's own --timeout as a bound of the
// credential plugin too, and lets client-go's log lines through only when
// -v asks for them.
func (g *Globals) prepare(cmd *cobra.Command) error {
	if err := checkRequestTimeout(*g.ConfigFlags.Timeout); err != nil {
		return err
	}
	if f := cmd.Flags().Lookup("timeout"); f != nil {
		if d, err := time.ParseDuration(f.Value.String()); err == nil && d > 0 {
			g.stepTimeout = d
		}
	}
	routeLogs(g.verbosity, g.Streams.ErrOut)
	return nil
}

// checkRequestTimeout refuses a --request-timeout that client-go would
// refuse later, or take as no bound at all (a negative one).
func checkRequestTimeout(v string) error {
	d, err := clientcmd.ParseTimeout(v)
	if err != nil || d < 0 {
		return usageError("invalid --request-timeout %q: use a duration such as 30s or 1m, or 0 for no bound", v)
	}
	return nil
}

// requestBound is what --request-timeout allows one request.
func (g *Globals) requestBound() time.Duration {
	d, _ := clientcmd.ParseTimeout(*g.ConfigFlags.Timeout)
	return d
}

// pluginBound is the time a credential plugin is given, and the flag that
// sets it: the smaller of --request-timeout and the command's --timeout.
func (g *Globals) pluginBound() (time.Duration, string) {
	req := g.requestBound()
	switch {
	case g.stepTimeout > 0 && (req <= 0 || g.stepTimeout < req):
		return g.stepTimeout, "--timeout"
	case req > 0:
		return req, kube.RequestTimeoutFlag
	}
	return 0, ""
}

// wrapConfig is what every client of the command is built with: the
// retrying, bounded transport, and the credential plugin bounded by the
// command's --timeout as well.
func (g *Globals) wrapConfig(c *rest.Config) *rest.Config {
	c = kube.WithTransientRetries(c)
	if g.stepTimeout > 0 {
		kube.BoundCredentialPlugin(c, g.stepTimeout)
	}
	return c
}

// routeLogs sends client-go's log lines (klog) nowhere, or with -v to
// errOut at that verbosity, as kubectl's -v does.
func routeLogs(verbosity int, errOut io.Writer) {
	if verbosity <= 0 {
		klog.SetLogger(logr.Discard())
		return
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("v", strconv.Itoa(verbosity))
	klog.SetLogger(textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(verbosity), textlogger.Output(errOut))))
}

// explain says, in place of client-go's words, what an answer too large
// or a credential plugin that failed means; other errors are returned
// unchanged.
func (g *Globals) explain(err error) error {
	var tooLarge *kube.ResponseTooLargeError
	if errors.As(err, &tooLarge) {
		return tooLarge
	}
	pe, ok := kube.AsCredentialPluginError(err)
	if !ok {
		return err
	}
	pe.Bound, pe.Flag = g.pluginBound()
	if raw, rerr := g.ConfigFlags.ToRawKubeConfigLoader().RawConfig(); rerr == nil {
		if c, ok := raw.Contexts[cmp.Or(*g.ConfigFlags.Context, raw.CurrentContext)]; ok {
			pe.User = cmp.Or(*g.ConfigFlags.AuthInfoName, c.AuthInfo)
			if u, ok := raw.AuthInfos[pe.User]; ok && u.Exec != nil {
				pe.Plugin = u.Exec.Command
			}
		}
	}
	return pe
}

// checkKubeconfig refuses kubeconfig files that are not regular files or
// too large, before anything reads them (kube.CheckKubeconfigFiles).
func (g *Globals) checkKubeconfig() error {
	if !g.kubeconfigChecked {
		g.kubeconfigChecked = true
		err := kube.CheckKubeconfigFiles(*g.ConfigFlags.KubeConfig)
		if err == nil {
			// What fails to load is reported by whoever loads it.
			if raw, lerr := g.ConfigFlags.ToRawKubeConfigLoader().RawConfig(); lerr == nil {
				err = kube.CheckKubeconfigReferences(raw)
			}
		}
		if err != nil {
			g.kubeconfigErr = inputError(fmt.Errorf("%w: point --kubeconfig (or KUBECONFIG) at a kubeconfig whose files are regular files", err))
		}
	}
	return g.kubeconfigErr
}

// loader is kubectl's kubeconfig loader, behind the check of its files.
func (g *Globals) loader() clientcmd.ClientConfig {
	return checkedLoader{loader: g.ConfigFlags.ToRawKubeConfigLoader(), check: g.checkKubeconfig}
}

// checkedGetter is kubectl's flags as the client factory sees them: the
// kubeconfig files are checked before anything reads them.
type checkedGetter struct {
	*genericclioptions.ConfigFlags
	check func() error
}

func (c checkedGetter) ToRESTConfig() (*rest.Config, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.ConfigFlags.ToRESTConfig()
}

func (c checkedGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.ConfigFlags.ToDiscoveryClient()
}

func (c checkedGetter) ToRESTMapper() (meta.RESTMapper, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return c.ConfigFlags.ToRESTMapper()
}

func (c checkedGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return checkedLoader{loader: c.ConfigFlags.ToRawKubeConfigLoader(), check: c.check}
}

// checkedLoader is a kubeconfig loader that checks the files first.
type checkedLoader struct {
	loader clientcmd.ClientConfig
	check  func() error
}

func (l checkedLoader) ConfigAccess() clientcmd.ConfigAccess { return l.loader.ConfigAccess() }

func (l checkedLoader) RawConfig() (clientcmdapi.Config, error) {
	if err := l.check(); err != nil {
		return clientcmdapi.Config{}, err
	}
	return l.loader.RawConfig()
}

func (l checkedLoader) ClientConfig() (*rest.Config, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	return l.loader.ClientConfig()
}

func (l checkedLoader) Namespace() (string, bool, error) {
	if err := l.check(); err != nil {
		return "", false, err
	}
	return l.loader.Namespace()
}

// checkOutputDir refuses an --output-dir that exists and is not a
// directory, before anything is rendered.
func checkOutputDir(dir string) error {
	if dir == "" {
		return nil
	}
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return usageError("cannot use --output-dir %s: %v", dir, err)
	case !info.IsDir():
		return usageError("--output-dir %s is %s, not a directory: name a directory, which is created if missing", dir, inputfile.Kind(info.Mode()))
	}
	return nil
}
