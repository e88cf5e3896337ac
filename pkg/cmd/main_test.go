package cmd

import (
	"testing"

	"github.com/envops/kubectl-envops/pkg/kube/kubetest"
)

// TestMain lets the test binary run credential plugins, as the plugin's
// own binary does.
func TestMain(m *testing.M) { kubetest.Main(m) }
