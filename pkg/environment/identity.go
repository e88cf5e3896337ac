package environment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// IdentityAnnotation on the environment Secret names the cluster the Secret
// was written on, as "<source>:<value>". It is an annotation, never data,
// so pods that mount the Secret see nothing new.
const IdentityAnnotation = "envops.io/cluster-id"

// Sources of a cluster identity.
const (
	// SourceClusterProperty is KEP-2149's ClusterProperty
	// cluster.clusterset.k8s.io, used when the cluster serves one.
	SourceClusterProperty = "cluster.clusterset.k8s.io"
	// SourceKubeSystem is the UID of the kube-system namespace, the value
	// KEP-2149 recommends: it survives a restart and is new on a new cluster.
	SourceKubeSystem = "kube-system"
)

// clusterPropertyPath is the ClusterProperty read through the raw REST
// client, so that no CRD client is needed.
const clusterPropertyPath = "/apis/about.k8s.io/v1alpha1/clusterproperties/cluster.clusterset.k8s.io"

// ClusterID returns the identity of the cluster client talks to: the
// ClusterProperty cluster.clusterset.k8s.io when the cluster serves one,
// else the kube-system namespace's UID.
func ClusterID(ctx context.Context, client kubernetes.Interface) (string, error) {
	if v, err := clusterProperty(ctx, client); err == nil && v != "" {
		return SourceClusterProperty + ":" + v, nil
	}
	return clusterIDFrom(ctx, client, SourceKubeSystem)
}

// clusterIDFrom reads the identity from the named source, the one a Secret
// was bound with, so that a guard never depends on which sources exist now.
func clusterIDFrom(ctx context.Context, client kubernetes.Interface, source string) (string, error) {
	switch source {
	case SourceClusterProperty:
		v, err := clusterProperty(ctx, client)
		if err != nil {
			return "", fmt.Errorf("cannot read the ClusterProperty %s, the cluster identity the environment Secret is bound to: %w", SourceClusterProperty, err)
		}
		return source + ":" + v, nil
	case SourceKubeSystem:
		ns, err := client.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("cannot read the namespace kube-system, whose UID identifies the cluster: %w", err)
		}
		return source + ":" + string(ns.UID), nil
	}
	return "", fmt.Errorf("unknown cluster identity source %q in annotation %s", source, IdentityAnnotation)
}

// clusterProperty reads the value of the ClusterProperty
// cluster.clusterset.k8s.io ("" with an error when there is none).
func clusterProperty(ctx context.Context, client kubernetes.Interface) (string, error) {
	rc := client.Discovery().RESTClient()
	if rc == nil {
		return "", errors.New("no REST client")
	}
	raw, err := rc.Get().AbsPath(clusterPropertyPath).DoRaw(ctx)
	if err != nil {
		return "", err
	}
	var p struct {
		Spec struct {
			Value string `json:"value"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.Spec.Value == "" {
		return "", fmt.Errorf("the ClusterProperty %s has no spec.value", SourceClusterProperty)
	}
	return p.Spec.Value, nil
}

// Binding is what the guard learnt about the Secret's cluster identity.
type Binding struct {
	// Unbound is true for a Secret written before identities were recorded:
	// it is accepted, and bound by the next init-env.
	Unbound bool
}

// checkIdentity compares the identity recorded on a Secret with the
// cluster's own.
func checkIdentity(ctx context.Context, client kubernetes.Interface, namespace, env string, annotations map[string]string) (Binding, error) {
	recorded := annotations[IdentityAnnotation]
	if recorded == "" {
		return Binding{Unbound: true}, nil
	}
	source, _, _ := strings.Cut(recorded, ":")
	actual, err := clusterIDFrom(ctx, client, source)
	if err != nil {
		return Binding{}, err
	}
	if actual != recorded {
		return Binding{}, &IdentityError{Namespace: namespace, Env: env, Recorded: recorded, Actual: actual}
	}
	return Binding{}, nil
}

// IdentityError says the environment Secret was written on another cluster.
type IdentityError struct {
	// Context is the kube context, set by WithContext.
	Context   string
	Namespace string
	// Env is the environment the Secret declares.
	Env      string
	Recorded string
	Actual   string
}

func (e *IdentityError) Error() string {
	where, flags := locate(e.Context, e.Namespace)
	return fmt.Sprintf("this environment Secret was written on another cluster: restored from a backup or copied? %s declares %q but was bound to cluster %s, and this cluster is %s; if this cluster really serves %q, re-bind it with \"kubectl envops init-env %s --force %s\"",
		where, e.Env, e.Recorded, e.Actual, e.Env, e.Env, flags)
}
