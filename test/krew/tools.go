//go:build tools

// Package krew pins the krew commands that the install test builds; this
// file is never compiled into anything.
package krew

import (
	_ "sigs.k8s.io/krew/cmd/krew"
	_ "sigs.k8s.io/krew/cmd/validate-krew-manifest"
)
