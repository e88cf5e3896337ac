//go:build tools

// Package tools pins conftest, the policy tool the lint benchmark compares
// against; it is built from Go modules and never compiled into the plugin.
package tools

import (
	_ "github.com/open-policy-agent/conftest"
)
