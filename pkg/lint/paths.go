package lint

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Inputs are what a set of paths holds.
type Inputs struct {
	// Files are manifest and kustomization files to read, in path order;
	// "-" is standard input.
	Files []string
	// Kustomizations are directories, found while walking a directory, that
	// hold a kustomization file. The other files below them are resources
	// and patches, which only make sense rendered, so they are not in Files.
	Kustomizations []string
	// Explicit are the files named on the command line (and "-"), which
	// must hold at least one object.
	Explicit []string
	// Skipped are entries of a directory that are not read: FIFOs, devices
	// and sockets, which could block or never end.
	Skipped []Skipped
}

// Skipped is an input that was not checked, and why.
type Skipped struct {
	Source Source `json:"source"`
	Reason string `json:"reason"`
}

// ExpandPaths finds the inputs in the paths a user gave: a file as is, a
// directory's regular .yaml, .yml and .json files recursively (skipping
// hidden entries and the insides of kustomizations), and "-" for standard
// input. A path that does not exist is an error, reported before anything
// is read.
func ExpandPaths(paths []string) (Inputs, error) {
	var in Inputs
	for _, p := range paths {
		if p == "-" {
			in.Files = append(in.Files, p)
			in.Explicit = append(in.Explicit, p)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			if os.IsNotExist(err) {
				return Inputs{}, fmt.Errorf("path %s does not exist: check the file or directory name", p)
			}
			return Inputs{}, fmt.Errorf("cannot read %s: %w", p, err)
		}
		if !info.IsDir() {
			// A file named on the command line is read whatever it is:
			// "lint <(generate ...)" passes a pipe.
			in.Files = append(in.Files, p)
			in.Explicit = append(in.Explicit, p)
			continue
		}
		// "dir/", "./dir" and "dir" are one directory: walked paths are
		// compared with the kustomizations found above them.
		p = filepath.Clean(p)
		files, kusts := len(in.Files), len(in.Kustomizations)
		var inside []string // kustomization directories above the current path
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", path, err)
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() {
				if k := KustomizationFile(path); k != "" {
					in.Kustomizations = append(in.Kustomizations, path)
					in.Files = append(in.Files, k)
					inside = append(inside, path)
				}
				return nil
			}
			for _, k := range inside {
				if within(path, k) {
					return nil
				}
			}
			if !manifestExt(path) {
				return nil
			}
			if !regularFile(path, d) {
				in.Skipped = append(in.Skipped, Skipped{Source: Source{File: path}, Reason: "not a regular file (a FIFO, device or socket)"})
				return nil
			}
			in.Files = append(in.Files, path)
			return nil
		})
		if err != nil {
			return Inputs{}, err
		}
		if len(in.Files) == files && len(in.Kustomizations) == kusts {
			return Inputs{}, fmt.Errorf("directory %s holds no .yaml, .yml or .json files: point at the manifests", p)
		}
	}
	return in, nil
}

// within reports whether path lies below dir; both are clean paths as
// filepath.WalkDir builds them.
func within(path, dir string) bool {
	if dir == "." {
		return !filepath.IsAbs(path) && path != ".." && !strings.HasPrefix(path, ".."+string(filepath.Separator))
	}
	return strings.HasPrefix(path, dir+string(filepath.Separator))
}

// regularFile reports whether a walked entry is a regular file, following
// a symbolic link. Reading a FIFO blocks until a writer comes, and a device
// may never end, so only regular files are read from a directory.
func regularFile(path string, d fs.DirEntry) bool {
	if d.Type().IsRegular() {
		return true
	}
	if d.Type()&fs.ModeSymlink == 0 {
		return false
	}
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular()
}

// KustomizationFile returns the kustomization file of a directory, or "".
func KustomizationFile(dir string) string {
	for _, name := range kustomizationNames {
		p := filepath.Join(dir, name)
		// Only a regular file: a FIFO by that name would block the reader.
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func manifestExt(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
