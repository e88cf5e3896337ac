//go:build tools

// Package tools pins the kustomize CLI that the generate benchmark runs as
// its peer, one process per overlay; it is never compiled into anything.
package tools

import _ "sigs.k8s.io/kustomize/kustomize/v5"
