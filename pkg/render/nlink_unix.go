//go:build unix

package render

import (
	"io/fs"
	"syscall"
)

// linkCount is the number of names (hard links) of the file fi describes,
// or 1 when the platform does not say.
func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
