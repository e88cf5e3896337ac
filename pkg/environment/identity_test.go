package environment

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/envops/kubectl-envops/pkg/config"
)

// cluster is a fake cluster whose kube-system namespace has uid, with the
// namespace "web".
func cluster(uid string, objs ...*corev1.Secret) kubernetes.Interface {
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", UID: types.UID(uid)}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}},
	)
	for _, s := range objs {
		_, _ = cs.CoreV1().Secrets(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{})
	}
	return cs
}

var secretConfig = config.Default().Secret

// initEnv binds and writes the Secret as init-env does.
func initEnv(t *testing.T, cs kubernetes.Interface, env string, force bool) error {
	t.Helper()
	ctx := context.Background()
	id, err := ClusterID(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := Plan(ctx, cs, []string{"web"}, env, secretConfig, PlanOptions{Identity: id, Force: force})
	if err != nil {
		return err
	}
	_, err = Apply(ctx, cs, changes, false, "test")
	return err
}

func TestSecretCopiedToAnotherClusterIsRefused(t *testing.T) {
	ctx := context.Background()
	dev := cluster("uid-dev")
	if err := initEnv(t, dev, "prod", false); err != nil {
		t.Fatal(err)
	}
	written, err := dev.CoreV1().Secrets("web").Get(ctx, "environment", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := written.Annotations[IdentityAnnotation]; got != "kube-system:uid-dev" {
		t.Fatalf("annotation %s = %q, want kube-system:uid-dev", IdentityAnnotation, got)
	}
	if _, ok := written.Data[IdentityAnnotation]; ok || len(written.Data) != 1 {
		t.Errorf("the identity must not be in the Secret's data: %v", written.Data)
	}
	if b, err := Check(ctx, dev, "web", "prod", secretConfig); err != nil || b.Unbound {
		t.Fatalf("on its own cluster: binding %+v, err %v; want bound and accepted", b, err)
	}

	// kubectl get secret -o yaml | kubectl apply on the prod cluster.
	copied := written.DeepCopy()
	copied.ResourceVersion, copied.UID = "", ""
	prod := cluster("uid-prod", copied)
	err = Verify(ctx, prod, "web", "prod", secretConfig)
	var ie *IdentityError
	if !errors.As(err, &ie) {
		t.Fatalf("Verify on another cluster: %v, want an *IdentityError", err)
	}
	msg := WithContext(err, "envops-prod").Error()
	for _, want := range []string{"written on another cluster", `context "envops-prod" namespace "web"`, "init-env prod --force --context envops-prod -n web"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("message is not one line: %q", msg)
	}

	// init-env refuses to re-bind without --force, and re-binds with it.
	if err := initEnv(t, prod, "prod", false); !errors.As(err, &ie) {
		t.Fatalf("init-env without --force: %v, want an *IdentityError", err)
	}
	if err := initEnv(t, prod, "prod", true); err != nil {
		t.Fatalf("init-env --force: %v", err)
	}
	if err := Verify(ctx, prod, "web", "prod", secretConfig); err != nil {
		t.Fatalf("after init-env --force: %v", err)
	}
}

func TestUnboundSecretIsAcceptedAndBoundByInitEnv(t *testing.T) {
	ctx := context.Background()
	old := Desired("web", "dev", secretConfig)
	cs := cluster("uid-1", old)
	b, err := Check(ctx, cs, "web", "dev", secretConfig)
	if err != nil || !b.Unbound {
		t.Fatalf("unbound Secret: binding %+v, err %v; want accepted and Unbound", b, err)
	}
	if err := initEnv(t, cs, "dev", false); err != nil {
		t.Fatal(err)
	}
	if b, err := Check(ctx, cs, "web", "dev", secretConfig); err != nil || b.Unbound {
		t.Fatalf("after init-env: binding %+v, err %v; want bound", b, err)
	}
}
