//go:build !unix

package render

import "io/fs"

// linkCount is 1 where the platform does not tell the number of names of a
// file.
func linkCount(fs.FileInfo) uint64 { return 1 }
