package render

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// writeThrough, when set, wraps the writer of each file written; tests use
// it to make a write fail (a full disk) or to act in the middle of one.
type writeThrough func(name string, w io.Writer) io.Writer

// tempName is a name beside name for a file being written: hidden, and
// unlikely to be taken.
func tempName(name string) string {
	dir, base := filepath.Split(name)
	return filepath.Join(dir, fmt.Sprintf(".%s.%08x.tmp", base, rand.Uint32()))
}

// writeTemp writes data to a new file beside name in root, synced to the
// disk, and returns its name. On any failure nothing is left behind: a
// full disk leaves no partial file.
func writeTemp(root *os.Root, name string, data []byte, perm fs.FileMode, through writeThrough) (tmp string, err error) {
	var f *os.File
	for range 10 {
		tmp = tempName(name)
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", bare(err)
	}
	var w io.Writer = f
	if through != nil {
		w = through(name, f)
	}
	_, err = w.Write(data)
	if err == nil {
		// Synced before it takes the name, so that a crash leaves the old
		// file or the new one, never an empty one.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(tmp)
		return "", bare(err)
	}
	return tmp, nil
}

// bare is err without the temporary file's name, which means nothing to
// the user: "no space left on device" rather than "write .x.tmp: ...".
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// replaceFile writes data to name in root as one step: into a temporary
// file in the same directory, then renamed over name. A reader, a crash,
// an interrupt or a full disk sees the old file or the new one, whole.
func replaceFile(root *os.Root, name string, data []byte, perm fs.FileMode, through writeThrough) error {
	tmp, err := writeTemp(root, name, data, perm, through)
	if err != nil {
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		_ = root.Remove(tmp)
		return bareLink(err)
	}
	return nil
}

// createFile writes data to name in root, which must not exist yet, as one
// step: into a temporary file in the same directory, then linked to name,
// which fails when name exists. A crash, an interrupt or a full disk
// leaves no file at name, empty or partial.
func createFile(root *os.Root, name string, data []byte, perm fs.FileMode, through writeThrough) error {
	tmp, err := writeTemp(root, name, data, perm, through)
	if err != nil {
		return err
	}
	defer func() { _ = root.Remove(tmp) }()
	err = root.Link(tmp, name)
	if err == nil || errors.Is(err, fs.ErrExist) {
		return bareLink(err)
	}
	// A filesystem without hard links: rename, after checking that
	// nothing took the name meanwhile.
	if _, lerr := root.Lstat(name); !errors.Is(lerr, fs.ErrNotExist) {
		return fs.ErrExist
	}
	return bareLink(root.Rename(tmp, name))
}

// bareLink is a rename's or link's err without the temporary file's name.
func bareLink(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}

// syncDir flushes a directory's entries (the renames into it) to the disk;
// filesystems that cannot are left as they are.
func syncDir(root *os.Root, name string) {
	if d, err := root.Open(name); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
