package environment

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/rbac"
)

// ErrNoNamespaces is returned when "all namespaces" finds only system ones.
var ErrNoNamespaces = errors.New("has no namespaces besides the system ones: create one, or name a system namespace with -n")

// InitRequest is one declaration of a cluster's environment.
type InitRequest struct {
	Env string
	// Context names the cluster in messages.
	Context string
	// Namespace is written unless AllNamespaces.
	Namespace     string
	AllNamespaces bool
	// Force overwrites Secrets, and ignores namespaces, that declare
	// another environment.
	Force  bool
	DryRun cmdutil.DryRunStrategy
	Secret config.Secret
	// Record is stamped on every Secret that changes.
	Record       audit.Record
	FieldManager string
}

// InitResult is what a declaration changed, or would change.
type InitResult struct {
	Changes []Change
	// Written are the Secrets as written (or as they would be).
	Written []*corev1.Secret
	// Note says what could not be checked, for after a success.
	Note string
}

// CheckMapping refuses to declare env in kubeContext when the project file
// maps env to another context, or that context to another environment.
func CheckMapping(cfg *config.Config, env, kubeContext string) error {
	if m, ok := cfg.Environments[env]; ok && m.Context != kubeContext {
		return fmt.Errorf("refusing to declare environment %q in context %q: %s maps %q to context %q; use --context %s, or --force if the mapping is wrong",
			env, kubeContext, cfg.Path, env, m.Context, m.Context)
	}
	for _, name := range cfg.EnvironmentNames() {
		if name != env && cfg.Environments[name].Context == kubeContext {
			return fmt.Errorf("refusing to declare environment %q in context %q: %s maps that context to environment %q; use the context of %q, or --force if the mapping is wrong",
				env, kubeContext, cfg.Path, name, env)
		}
	}
	return nil
}

// Init plans the environment Secrets of the request, bound to the cluster,
// and writes them as its dry-run strategy says.
func Init(ctx context.Context, client kubernetes.Interface, r InitRequest) (*InitResult, error) {
	namespaces := []string{r.Namespace}
	if r.AllNamespaces {
		var err error
		if namespaces, err = TargetNamespaces(ctx, client); err != nil {
			return nil, err
		}
		if len(namespaces) == 0 {
			return nil, fmt.Errorf("context %q %w", r.Context, ErrNoNamespaces)
		}
	}
	res := &InitResult{}
	// The whole cluster serves one environment, so look beyond the target
	// namespaces when permissions allow.
	declared, err := Declarations(ctx, client, r.Secret)
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return nil, err
		}
		declared = nil
		res.Note = fmt.Sprintf("note: other namespaces of context %q were not checked for a different environment (not allowed to list secrets cluster-wide)", r.Context)
	}
	// The Secrets are bound to this cluster, so that a copy on another
	// cluster is refused by the guard. A cluster without kube-system (only
	// fakes) is left unbound.
	identity, err := ClusterID(ctx, client)
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, err
	}
	res.Changes, err = Plan(ctx, client, namespaces, r.Env, r.Secret, PlanOptions{Force: r.Force, Declared: declared, Identity: identity})
	if err != nil {
		return nil, err
	}
	for _, c := range res.Changes {
		if c.Action != Unchanged {
			r.Record.Stamp(c.Secret)
		}
	}
	res.Written, err = write(ctx, client, res.Changes, r.DryRun, r.FieldManager)
	return res, err
}

// write sends the changes according to the dry-run strategy. A real run
// over several namespaces is first sent as a server dry run, so that a
// denial in any namespace leaves every namespace unchanged.
func write(ctx context.Context, client kubernetes.Interface, changes []Change, dryRun cmdutil.DryRunStrategy, fieldManager string) ([]*corev1.Secret, error) {
	switch dryRun {
	case cmdutil.DryRunClient:
		out := make([]*corev1.Secret, 0, len(changes))
		for _, c := range changes {
			out = append(out, c.Secret)
		}
		return out, nil
	case cmdutil.DryRunServer:
		return Apply(ctx, client, changes, true, fieldManager)
	}
	pending := 0
	for _, c := range changes {
		if c.Action != Unchanged {
			pending++
		}
	}
	if pending > 1 {
		if _, err := Apply(ctx, client, changes, true, fieldManager); err != nil {
			return nil, err
		}
	}
	return Apply(ctx, client, changes, false, fieldManager)
}

// ExplainInit says where init-env failed, in one line: the declaration's
// errors name the context, a refusal by the API server names the role that
// grants the access, and any other error is prefixed with the context.
func ExplainInit(err error, kubeContext string) error {
	var ce *ConflictError
	var ie *IdentityError
	var denied *rbac.DeniedError
	switch {
	case errors.Is(err, ErrNoNamespaces):
		return err
	case errors.As(err, &ce) || errors.As(err, &ie):
		return WithContext(err, kubeContext)
	case !errors.As(err, &denied) && apierrors.IsForbidden(err):
		return &rbac.ExplainedError{Err: fmt.Errorf("context %q: %w; ask for the role printed by \"kubectl envops rbac --for init-env\"", kubeContext, err)}
	}
	return fmt.Errorf("context %q: %w", kubeContext, err)
}

// CreateNamespace creates namespace when it does not exist, as the dry
// run says, and tells whether it did (or would).
func CreateNamespace(ctx context.Context, client kubernetes.Interface, namespace string, dryRun cmdutil.DryRunStrategy, fieldManager string) (bool, error) {
	_, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return false, nil
	case !apierrors.IsNotFound(err):
		return false, fmt.Errorf("cannot read namespace %q: %w", namespace, err)
	case dryRun == cmdutil.DryRunClient:
		return true, nil
	}
	opts := metav1.CreateOptions{FieldManager: fieldManager}
	if dryRun == cmdutil.DryRunServer {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, opts); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("cannot create namespace %q: %w", namespace, err)
	}
	return true, nil
}
