package render

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestNameThatTheAPIServerRefusesIsRefused(t *testing.T) {
	fsys, cfg := project(t)
	overlay, err := os.ReadFile("testdata/hostile/long-name-prefix.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := fsys.WriteFile("/project/apps/web/overlays/dev/kustomization.yaml", overlay); err != nil {
		t.Fatal(err)
	}
	_, err = App(fsys, cfg, "web", "dev", Options{})
	for _, want := range []string{`app "web", environment "dev": ReplicationController "ppp`, "(303 bytes in all)",
		"the API server refuses this name (303 characters): must be no more than 253 characters", "a DNS-1123 subdomain"} {
		if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v; want an input error containing %q", err, want)
		}
	}
	if err != nil && len(err.Error()) > 600 {
		t.Errorf("the line is %d bytes long", len(err.Error()))
	}
}

func TestCheckNames(t *testing.T) {
	obj := func(kind, name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind, "metadata": map[string]any{"name": name}}}
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	withLabel := func(o *unstructured.Unstructured, v string) *unstructured.Unstructured {
		o.SetLabels(map[string]string{"name": v})
		return o
	}
	withNamespace := func(o *unstructured.Unstructured, ns string) *unstructured.Unstructured {
		o.SetNamespace(ns)
		return o
	}
	for _, tc := range []struct {
		obj  *unstructured.Unstructured
		want string // "" for accepted
	}{
		{obj("ReplicationController", long(253)), ""},
		{obj("ReplicationController", long(254)), "must be no more than 253 characters"},
		{obj("Deployment", "Web"), "a Deployment name is a DNS-1123 subdomain"},
		{obj("Deployment", "web.v2"), ""},
		{obj("Service", long(63)), ""},
		{obj("Service", long(64)), "a Service name is a DNS-1123 label"},
		{obj("Service", "web.v2"), "a Service name is a DNS-1123 label"},
		{obj("StatefulSet", long(64)), "a StatefulSet name is a DNS-1123 label"},
		{obj("CronJob", long(52)), ""},
		{obj("CronJob", long(53)), "a CronJob name is at most 52 characters"},
		{obj("ClusterRole", "system:aggregate-to-view"), ""},
		{obj("ClusterRole", "a/b"), "a ClusterRole name is a path segment"},
		{obj("ConfigMap", "web_config"), "a ConfigMap name is a DNS-1123 subdomain"},
		{withLabel(obj("ReplicationController", "web"), long(64)), "the API server refuses metadata.labels"},
		{withNamespace(obj("ConfigMap", "web"), long(64)), "the API server refuses namespace"},
	} {
		t.Run(fmt.Sprintf("%s %.20s", tc.obj.GetKind(), tc.obj.GetName()), func(t *testing.T) {
			err := checkNames("web", "dev", []*unstructured.Unstructured{tc.obj})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v; want one containing %q", err, tc.want)
			}
		})
	}
}
