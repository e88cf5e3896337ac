package main

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/envops/kubectl-envops/pkg/render"
	"github.com/envops/kubectl-envops/pkg/transform"
)

const base = `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {tier: frontend, role: server}
spec:
  selector: {tier: frontend, role: server}
  template:
    metadata:
      labels: {tier: frontend, role: server}
    spec:
      containers:
      - {name: web, image: nginx:1.27}
      - {name: proxy, image: envoyproxy/envoy:v1.30}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {name: web-server}
  ports:
  - port: 80
`

// TestPluginMatchesTransform runs the built plugin through the kustomize
// API with exec plugins enabled, and compares with the transform applied
// directly.
func TestPluginMatchesTransform(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "labelconvention")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name   string
		config string // extra fields of the function config
		want   transform.LabelConvention
	}{
		{name: "defaults from .envops.yaml", config: "app: web\n",
			want: transform.LabelConvention{App: "web", Labels: []string{"name", "app", "tier", "role", "language"}, NamePattern: "{app}-{role}"}},
		{name: "configured convention", config: "app: shop\nlabels: [name, app, tier]\nnamePattern: \"{app}-{tier}\"\nrecommended: {app: app.kubernetes.io/name}\n",
			want: transform.LabelConvention{App: "shop", Labels: []string{"name", "app", "tier"}, NamePattern: "{app}-{tier}", Recommended: map[string]string{"app": "app.kubernetes.io/name"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// kustomize runs exec functions in the kustomization's
			// directory, so the tree must be on disk.
			fsys := filesys.MakeFsOnDisk()
			root := t.TempDir()
			write := func(p, c string) {
				p = filepath.Join(root, p)
				if err := fsys.MkdirAll(filepath.Dir(p)); err != nil {
					t.Fatal(err)
				}
				if err := fsys.WriteFile(p, []byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			write("app/base/kustomization.yaml", "resources:\n- objects.yaml\n")
			write("app/base/objects.yaml", base)
			write("app/plain/kustomization.yaml", "resources:\n- ../base\n")
			write("app/plugged/kustomization.yaml", "resources:\n- ../base\ntransformers:\n- labels.yaml\n")
			write("app/plugged/labels.yaml", `apiVersion: envops.github.io/v1alpha1
kind: LabelConvention
metadata:
  name: labels
  annotations:
    config.kubernetes.io/function: |
      exec:
        path: `+bin+"\n"+tc.config)

			got, err := render.BuildWithPlugins(fsys, filepath.Join(root, "app/plugged"))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := render.Kustomization(fsys, filepath.Join(root, "app/plain"), render.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := applyFilter(t, tc.want, plain)
			if reflect.DeepEqual(want, plain) {
				t.Fatal("the filter changed nothing: the case proves nothing")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("plugin output differs from the transform:\nplugin: %v\nfilter: %v", got, want)
			}
		})
	}
}

func applyFilter(t *testing.T, f kio.Filter, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	var nodes []*yaml.RNode
	for _, o := range objs {
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		n, err := yaml.ConvertJSONToYamlNode(string(b))
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	nodes, err := f.Filter(nodes)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, n := range nodes {
		b, err := n.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, u)
	}
	return out
}
