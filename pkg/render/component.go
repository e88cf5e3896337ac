package render

import (
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// IsComponent reports whether dir holds a kustomize Component rather than a
// Kustomization: a Component cannot be built on its own, only as part of a
// kustomization that lists it under components.
func IsComponent(fsys filesys.FileSystem, dir string) bool {
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		p := filepath.Join(dir, name)
		if !fsys.Exists(p) || fsys.IsDir(p) {
			continue
		}
		data, err := fsys.ReadFile(p)
		if err != nil {
			return false
		}
		// The node tree is read without expanding aliases; a file that does
		// not parse is reported by the build.
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			return false
		}
		m := doc.Content[0].Content
		for i := 0; i+1 < len(m); i += 2 {
			if m[i].Value == "kind" {
				return m[i+1].Value == "Component"
			}
		}
		return false
	}
	return false
}
