package main

import (
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

func TestCorpusRendersEveryOverlay(t *testing.T) {
	dir := t.TempDir()
	overlays, err := WriteCorpus(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(overlays) != 9 {
		t.Fatalf("got %d overlays, want 3 apps × 3 environments", len(overlays))
	}
	cfg, err := config.Load(filepath.Join(dir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for env, replicas := range map[string]int64{"dev": 1, "staging": 2, "prod": 3} {
		rendered, err := render.All(filesys.MakeFsOnDisk(), cfg, []string{env}, render.Options{})
		if err != nil {
			t.Fatal(err)
		}
		all := rendered[0].Apps
		if len(all) != 3 {
			t.Fatalf("%s: rendered %d apps, want 3", env, len(all))
		}
		for _, a := range all {
			if len(a.Objects) != 1 || a.Objects[0].GetKind() != "ReplicationController" {
				t.Fatalf("%s/%s: want one ReplicationController, got %d objects", a.App, env, len(a.Objects))
			}
			if n, _, _ := unstructured.NestedInt64(a.Objects[0].Object, "spec", "replicas"); n != replicas {
				t.Errorf("%s/%s: replicas = %d, want %d", a.App, env, n, replicas)
			}
		}
	}
}
