package render

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// The values of testdata/hostile/secret-literal, which no error may show.
var secretValues = []string{"admin", "hunter2"}

func TestSecretLiteralWithoutEqualsIsNotEchoed(t *testing.T) {
	dir, err := filepath.Abs("testdata/hostile/secret-literal")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Kustomization(filesys.MakeFsOnDisk(), dir, Options{})
	want := filepath.Join(dir, "kustomization.yaml") + `: secretGenerator "db": literal 2 of 2 is not KEY=VALUE`
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v; want an input error containing %q", err, want)
	}
	for _, v := range secretValues {
		if strings.Contains(err.Error(), v) {
			t.Errorf("the error shows the secret value %q: %v", v, err)
		}
	}
}

// TestKustomizeLiteralErrorIsNotEchoed checks the line made of kustomize's
// own error, for a generator the screening did not see.
func TestKustomizeLiteralErrorIsNotEchoed(t *testing.T) {
	data, err := os.ReadFile("testdata/hostile/secret-literal/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fsys := filesys.MakeFsInMemory()
	if err := fsys.WriteFile("/app/kustomization.yaml", data); err != nil {
		t.Fatal(err)
	}
	_, kerr := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, "/app")
	if kerr == nil || !strings.Contains(kerr.Error(), "hunter2") {
		t.Fatalf("kustomize's error = %v; this test needs one that quotes the literal", kerr)
	}
	line := oneLine(kerr)
	for _, v := range secretValues {
		if strings.Contains(line, v) {
			t.Errorf("the line shows the secret value %q: %s", v, line)
		}
	}
	if !strings.Contains(line, "a literal is not KEY=VALUE") {
		t.Errorf("the line no longer says what is wrong: %s", line)
	}
}

func TestWriteDirSecretFilesAreOwnerOnly(t *testing.T) {
	rendered := corpus("dev", 2, 10, "web:1")
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"},
		"data": map[string]any{"password": "aHVudGVyMg=="},
	}}
	rendered[0].Apps[1].Objects = append(rendered[0].Apps[1].Objects, secret)
	dir := t.TempDir()
	// An earlier file anyone could read.
	if err := os.WriteFile(filepath.Join(dir, "app-001.yaml"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteDir(t.Context(), dir, "yaml", rendered, func(string) {}); err != nil {
		t.Fatal(err)
	}
	for name, private := range map[string]bool{"app-000.yaml": false, "app-001.yaml": true} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm()&0o077 == 0; got != private {
			t.Errorf("%s has mode %v; want readable by its owner only: %v", name, fi.Mode().Perm(), private)
		}
	}
}
