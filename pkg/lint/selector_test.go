package lint

import (
	"slices"
	"testing"
)

func TestSelectorOfTheWrongType(t *testing.T) {
	for _, tc := range []struct {
		name, apiVersion, kind, selector, want string
	}{
		{"string selector of an RC", "v1", "ReplicationController", `"x"`, "7 selector-matches-template: spec.selector is a string, not a mapping"},
		{"list selector of an RC", "v1", "ReplicationController", "[a, b]", "7 selector-matches-template: spec.selector is a list, not a mapping"},
		{"number selector of a Deployment", "apps/v1", "Deployment", "3", "7 selector-matches-template: spec.selector is a number, not a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := lintString(t, projectConfig(), workload(tc.apiVersion, tc.kind, goodLabels, tc.selector, goodLabels, goodContainers, goodVolumes))
			if !slices.Contains(got, tc.want) {
				t.Errorf("findings %q, want %q", got, tc.want)
			}
		})
	}
}
