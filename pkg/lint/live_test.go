package lint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/rbac"
)

// liveObject builds a workload as the API server returns it; owner, when
// set, names the controller that owns it.
func liveObject(apiVersion, kind, ns, name string, labels map[string]any, owner string) *unstructured.Unstructured {
	podSpec := map[string]any{
		"containers": []any{map[string]any{"name": "c", "image": "i",
			"volumeMounts": []any{map[string]any{"name": "environment", "mountPath": "/etc/secrets"}}}},
		"volumes": []any{map[string]any{"name": "environment", "secret": map[string]any{"secretName": "environment"}}},
	}
	template := map[string]any{"metadata": map[string]any{"labels": labels}, "spec": podSpec}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion,
		"kind":       kind,
		"metadata":   map[string]any{"name": name, "namespace": ns, "labels": labels},
		"status":     map[string]any{"replicas": int64(1)},
	}}
	switch kind {
	case "Pod":
		u.Object["spec"] = podSpec
	case "ReplicationController":
		u.Object["spec"] = map[string]any{"selector": labels, "template": template}
	case "CronJob":
		u.Object["spec"] = map[string]any{"schedule": "@daily", "jobTemplate": map[string]any{"spec": map[string]any{"template": template}}}
	default:
		u.Object["spec"] = map[string]any{"selector": map[string]any{"matchLabels": labels}, "template": template}
	}
	if owner != "" {
		u.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Owner", Name: owner, UID: "1", Controller: ptr.To(true)}})
	}
	return u
}

func labelsOf(name, app, tier, role string) map[string]any {
	m := map[string]any{}
	for k, v := range map[string]string{"name": name, "app": app, "tier": tier, "role": role} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// fakeCluster serves the workload resources from objects.
func fakeCluster(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	listKinds := map[schema.GroupVersionResource]string{}
	for _, gvr := range LiveResources {
		kind := map[string]string{
			"replicationcontrollers": "ReplicationController", "deployments": "Deployment", "daemonsets": "DaemonSet",
			"statefulsets": "StatefulSet", "replicasets": "ReplicaSet", "jobs": "Job", "cronjobs": "CronJob", "pods": "Pod",
		}[gvr.Resource]
		listKinds[gvr] = kind + "List"
	}
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objs...)
}

func TestLintLive(t *testing.T) {
	good := labelsOf("web-frontend", "web", "frontend", "frontend")
	objs := []runtime.Object{
		liveObject("v1", "ReplicationController", "shop", "web", good, ""),
		liveObject("v1", "ReplicationController", "shop", "cart", labelsOf("", "cart", "backend", ""), ""),
		liveObject("apps/v1", "Deployment", "shop", "api", labelsOf("api-backend", "api", "backend", "backend"), ""),
		// Owned objects are checked through their owner.
		liveObject("apps/v1", "ReplicaSet", "shop", "api-5d4f", labelsOf("", "api", "", ""), "api"),
		liveObject("v1", "Pod", "shop", "api-5d4f-x", labelsOf("", "api", "", ""), "api-5d4f"),
		liveObject("batch/v1", "Job", "shop", "report-1", labelsOf("", "report", "", ""), "report"),
		liveObject("batch/v1", "CronJob", "shop", "report", labelsOf("report-batch", "report", "backend", "batch"), ""),
		// A bare pod is checked.
		liveObject("v1", "Pod", "shop", "debug", labelsOf("", "debug", "", ""), ""),
		liveObject("v1", "ReplicationController", "other", "legacy", labelsOf("", "legacy", "", ""), ""),
	}
	tests := []struct {
		name      string
		namespace string
		want      []string
		objects   int
	}{
		{
			name:      "one namespace",
			namespace: "shop",
			objects:   5,
			want: []string{
				"ReplicationController/cart (namespace shop) required-labels: the controller is missing required labels name, role",
				"ReplicationController/cart (namespace shop) required-labels: the pod template is missing required labels name, role",
				"Pod/debug (namespace shop) required-labels: the pod is missing required labels name, tier, role",
			},
		},
		{
			name:    "all namespaces",
			objects: 6,
			want: []string{
				"ReplicationController/legacy (namespace other) required-labels: the controller is missing required labels name, tier, role",
				"ReplicationController/legacy (namespace other) required-labels: the pod template is missing required labels name, tier, role",
				"ReplicationController/cart (namespace shop) required-labels: the controller is missing required labels name, role",
				"ReplicationController/cart (namespace shop) required-labels: the pod template is missing required labels name, role",
				"Pod/debug (namespace shop) required-labels: the pod is missing required labels name, tier, role",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(config.Default())
			if err != nil {
				t.Fatal(err)
			}
			var rep Report
			target := LiveTarget{Context: "dev", Namespace: tt.namespace, Client: fakeCluster(objs...)}
			if err := l.LintLive(context.Background(), target, &rep); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, f := range rep.Findings {
				got = append(got, fmt.Sprintf("%s %s: %s", f.Object, f.Rule, f.Message))
				if f.Location.Context != "dev" || f.Location.Namespace != tt.namespace || f.Location.File != "" || f.Location.Line != 0 {
					t.Errorf("finding located at %+v, want context dev, namespace %q and no file", f.Location, tt.namespace)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if rep.Objects != tt.objects {
				t.Errorf("checked %d objects, want %d", rep.Objects, tt.objects)
			}
		})
	}
}

func TestLintLiveAccessDenied(t *testing.T) {
	client := fakeCluster()
	client.PrependReactor("list", "cronjobs", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "cronjobs"}, "", fmt.Errorf("user cannot list"))
	})
	l, err := New(config.Default())
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	err = l.LintLive(context.Background(), LiveTarget{Context: "prod", Namespace: "shop", Client: client}, &rep)
	want := `cannot list cronjobs.batch in namespace "shop" of context "prod": access denied`
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want one line starting %q", err, want)
	}
	// The message names the role that grants access, so the plugin prints
	// it as it is rather than rewording the API server's refusal.
	var explained *rbac.ExplainedError
	if !errors.As(err, &explained) {
		t.Errorf("err = %#v, want an rbac.ExplainedError", err)
	}
}
