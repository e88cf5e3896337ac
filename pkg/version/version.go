// Package version holds the build's identity, stamped in by the Makefile.
package version

import (
	"runtime"
	"runtime/debug"
)

// These are set with -ldflags "-X github.com/envops/kubectl-envops/pkg/version.version=...".
var (
	version = "dev"
	commit  = "unknown"
)

// Info describes the running build.
type Info struct {
	Version         string `json:"version"`
	Commit          string `json:"commit"`
	GoVersion       string `json:"goVersion"`
	ClientGoVersion string `json:"clientGoVersion"`
	Platform        string `json:"platform"`
}

// Get returns the build's identity; the client-go version is read from the
// module information embedded by the Go toolchain, so it cannot drift.
func Get() Info {
	return Info{
		Version:         version,
		Commit:          commit,
		GoVersion:       runtime.Version(),
		ClientGoVersion: moduleVersion("k8s.io/client-go"),
		Platform:        runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return "unknown"
}
