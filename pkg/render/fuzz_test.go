package render

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
)

// FuzzApp renders an app whose base resource, overlay kustomization and
// patch are arbitrary bytes, through the same path generate and deploy
// take: nothing may panic, memory stays bounded, and every failure is one
// line.
//
//	go test ./pkg/render -run '^$' -fuzz FuzzApp -fuzztime 1m
func FuzzApp(f *testing.F) {
	rc, _ := os.ReadFile("testdata/project/apps/web/base/replicationcontroller.yaml")
	bomb, _ := os.ReadFile("testdata/hostile/billion-laughs.yaml")
	for _, s := range [][3]string{
		{string(rc), "resources:\n- ../../base\n", ""},
		{string(rc), "resources:\n- ../../base\npatches:\n- path: patch.yaml\n", "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: web}\nspec: {replicas: 3}\n"},
		{string(rc), "resources:\n- ../../base\nnamePrefix: x-\nimages:\n- {name: nginx, newTag: '2'}\n", ""},
		{string(bomb), "resources:\n- ../../base\n", ""},
		{string(rc), "resources:\n- ../../base\n- patch.yaml\n", string(bomb)},
		{"a: &a [*a]\n", "resources: [../../base]\n", ""},
		{"kind: List\nitems: [{kind: Pod, metadata: {name: p}}]\n", "resources:\n- ../../base\ncomponents: [../../base]\n", ""},
		{string(rc), "resources:\n- https://example.invalid/x.yaml\n", ""},
		{"\x00\xff", "{", "---\n---"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	cfg := config.Default()
	cfg.Apps = "/p/apps"
	cfg.Environments = map[string]config.Environment{"dev": {Context: "dev"}}
	f.Fuzz(func(t *testing.T, resource, overlay, patch string) {
		fsys := filesys.MakeFsInMemory()
		for path, content := range map[string]string{
			"/p/apps/web/base/kustomization.yaml":         "resources:\n- resource.yaml\n",
			"/p/apps/web/base/resource.yaml":              resource,
			"/p/apps/web/overlays/dev/kustomization.yaml": overlay,
			"/p/apps/web/overlays/dev/patch.yaml":         patch,
		} {
			if err := fsys.WriteFile(path, []byte(content)); err != nil {
				t.Fatal(err)
			}
		}
		// Remote loads are off: the fuzzer must not reach the network.
		objs, err := App(fsys, cfg, "web", "dev", Options{NoRemote: true})
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		for _, o := range objs {
			if o == nil || o.Object == nil {
				t.Fatal("nil object rendered")
			}
		}
	})
}
