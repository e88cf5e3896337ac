package render

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// confinedFS is the disk as Scaffold writes to it: new files only, created
// under dir and never through a symbolic link, so a link planted in an
// app's directory cannot redirect a write outside the project.
type confinedFS struct {
	filesys.FileSystem
	dir     string
	through writeThrough
}

// ConfinedFS returns a filesystem on disk whose writes stay under dir:
// WriteFile creates a file that must not exist yet (a dangling symbolic
// link counts as existing), and no write follows a link out of dir.
// Reads are those of the disk.
func ConfinedFS(dir string) filesys.FileSystem {
	return &confinedFS{FileSystem: filesys.MakeFsOnDisk(), dir: filepath.Clean(dir)}
}

// rel returns path relative to dir, or an error if it is outside.
func (c *confinedFS) rel(path string) (string, error) {
	r, err := filepath.Rel(c.dir, filepath.Clean(path))
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside %s", path, c.dir)
	}
	return r, nil
}

// noLinks refuses a path under dir that passes through, or ends at, a
// symbolic link, naming the link; the root guards against races after.
func (c *confinedFS) noLinks(rel string) error {
	p := c.dir
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link: files are never written through links; remove it", p)
		}
	}
	return nil
}

func (c *confinedFS) root() (*os.Root, error) {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	return os.OpenRoot(c.dir)
}

// Exists reports whether anything, a symbolic link included, is at path.
func (c *confinedFS) Exists(path string) bool {
	_, err := os.Lstat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// MkdirAll creates path's directories without following links out of dir.
func (c *confinedFS) MkdirAll(path string) error {
	root, r, err := c.open(path)
	if err != nil {
		return err
	}
	defer root.Close()
	return root.MkdirAll(r, 0o755)
}

// open checks path (inside dir, through no link) and opens dir as a root
// for it; r is path relative to the root.
func (c *confinedFS) open(path string) (root *os.Root, r string, err error) {
	if r, err = c.rel(path); err != nil {
		return nil, "", err
	}
	if err = c.noLinks(r); err != nil {
		return nil, "", err
	}
	if root, err = c.root(); err != nil {
		return nil, "", err
	}
	return root, r, nil
}

// WriteFile creates path exclusively and writes data to it, as one step:
// a full disk or an interrupt leaves no file at path, empty or partial.
func (c *confinedFS) WriteFile(path string, data []byte) error {
	root, r, err := c.open(path)
	if err != nil {
		return err
	}
	defer root.Close()
	// The link into place refuses any existing name, a dangling link
	// included; the root refuses links that lead out of dir.
	return createFile(root, r, data, 0o644, c.through)
}
