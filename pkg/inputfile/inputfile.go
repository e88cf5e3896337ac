// Package inputfile reads the files a user names by path (a kubeconfig, a
// project file, a template), which must be regular files of a bounded size:
// a FIFO would hold the command until someone writes to it, and a device
// such as /dev/zero never ends.
package inputfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the errors of Check and Read for a path that
// is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the errors of Check and Read for a file larger
// than the limit.
var ErrTooLarge = errors.New("too large")

// Error is a path that cannot be read as the input it names.
type Error struct {
	// What names the input ("kubeconfig", "template"), Path its path.
	What, Path string
	// Kind says what the path is instead of a regular file ("a named
	// pipe"), or is empty when the file is too large.
	Kind  string
	Limit int64
}

func (e *Error) Error() string {
	if e.Kind != "" {
		return fmt.Sprintf("%s %s is %s, not a regular file", e.What, e.Path, e.Kind)
	}
	return fmt.Sprintf("%s %s is larger than %s, more than any %s holds", e.What, e.Path, size(e.Limit), e.What)
}

// Unwrap makes the error match ErrNotRegular or ErrTooLarge.
func (e *Error) Unwrap() error {
	if e.Kind != "" {
		return ErrNotRegular
	}
	return ErrTooLarge
}

// Check refuses path, the input what, when it exists and is not a regular
// file or holds more than limit bytes (0: no limit). It follows symbolic
// links, as opening the path does; a path that does not exist is not its
// concern.
func Check(path, what string, limit int64) error {
	info, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return checkInfo(info, path, what, limit)
}

func checkInfo(info fs.FileInfo, path, what string, limit int64) error {
	if !info.Mode().IsRegular() {
		return &Error{What: what, Path: path, Kind: Kind(info.Mode())}
	}
	if limit > 0 && info.Size() > limit {
		return &Error{What: what, Path: path, Limit: limit}
	}
	return nil
}

// Read reads the regular file at path, the input what, refusing anything
// else and more than limit bytes: the size is checked before reading, and
// the reading stops at the limit should the file grow meanwhile.
func Read(path, what string, limit int64) ([]byte, error) {
	if err := Check(path, what, limit); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The path may have been replaced since Check: ask the open file.
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkInfo(info, path, what, limit); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &Error{What: what, Path: path, Limit: limit}
	}
	return data, nil
}

// Kind names what a file of mode m is, for a message: "a directory", "a
// named pipe (FIFO)"...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "not a regular file"
}

func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
