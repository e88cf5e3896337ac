package render

import (
	"fmt"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// diagnose looks for the kustomization file behind a failed build, so the
// error names the file to fix: kustomize's own errors often do not. It
// returns nil when it finds nothing more precise than kustomize's message.
func diagnose(fsys filesys.FileSystem, dir string, buildErr string, seen map[string]bool) error {
	if seen[dir] {
		return nil
	}
	seen[dir] = true
	file := ""
	for _, name := range konfig.RecognizedKustomizationFileNames() {
		if p := filepath.Join(dir, name); fsys.Exists(p) {
			file = p
			break
		}
	}
	if file == "" {
		return fmt.Errorf("%s has no kustomization.yaml: add one that lists the resources", dir)
	}
	data, err := fsys.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return fmt.Errorf("%s: malformed kustomization: %s", file, strings.TrimPrefix(oneLine(err), "invalid Kustomization: "))
	}
	k.FixKustomization()
	for _, r := range append(k.Resources, k.Components...) {
		if strings.Contains(r, "://") || strings.HasPrefix(r, "github.com/") {
			continue
		}
		p := r
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, r)
		}
		if fsys.IsDir(p) {
			if err := diagnose(fsys, p, buildErr, seen); err != nil {
				return err
			}
			continue
		}
		if !fsys.Exists(p) {
			return fmt.Errorf("%s: resource %q does not exist: fix the path or remove it from the kustomization", file, r)
		}
		if reason, ok := rejectedReason(buildErr, r); ok {
			return fmt.Errorf("%s: kustomize rejects this resource: %s", p, reason)
		}
	}
	return nil
}

// rejectedReason picks kustomize's reason for refusing the resource file
// entry out of its message. The message goes on with a note on trying the
// file as a directory, which would only mislead, so that part is dropped.
func rejectedReason(buildErr, entry string) (string, bool) {
	marker := "accumulating resources from '" + entry + "': "
	i := strings.LastIndex(buildErr, marker)
	if i < 0 {
		return "", false
	}
	reason := buildErr[i+len(marker):]
	if j := strings.Index(reason, "': must build at directory"); j >= 0 {
		reason = reason[:j]
	}
	return reason, true
}
