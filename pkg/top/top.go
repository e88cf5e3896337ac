// Package top sums the resource use of pods, as the metrics API
// (metrics.k8s.io) reports it, by the values of the label convention's
// labels: per tier, app, role or language, or any combination. Pods that
// lack a label of the grouping form a group of their own, so that the cost
// of not following the convention shows.
package top

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pod is one measured pod: its labels, its use and its requests.
type Pod struct {
	Namespace string
	Name      string
	Labels    map[string]string
	// CPU is in millicores, Memory in bytes.
	CPU    int64
	Memory int64
	// CPURequest (millicores) and MemoryRequest (bytes) are the pod's
	// requests; zero when it sets none.
	CPURequest    int64
	MemoryRequest int64
}

// Group is the sum over the pods that share the values of the grouping
// labels.
type Group struct {
	// Labels holds the value of each grouping label the pods carry;
	// Missing names the grouping labels they lack (or leave empty).
	Labels  map[string]string `json:"labels"`
	Missing []string          `json:"missing,omitempty"`
	Pods    int               `json:"pods"`
	// CPU is in millicores, Memory in bytes.
	CPU    int64 `json:"cpuMillicores"`
	Memory int64 `json:"memoryBytes"`
	// Use against requests, over the pods that set a request: their
	// requests, what those pods use, and how many they are.
	CPURequests      Requests `json:"cpuRequests"`
	MemoryRequests   Requests `json:"memoryRequests"`
	values           []string
	missingPositions []bool
}

// Requests is what the pods of a group that set a request ask for and use.
type Requests struct {
	// Requested is the sum of their requests, Used what they use.
	Requested int64 `json:"requested"`
	Used      int64 `json:"used"`
	// Pods is how many pods of the group set a request.
	Pods int `json:"pods"`
}

// Percent is use against requests, rounded down; ok is false when no pod
// of the group sets a request.
func (r Requests) Percent() (int64, bool) {
	if r.Requested <= 0 {
		return 0, false
	}
	return r.Used * 100 / r.Requested, true
}

// Missing is how a group shows a label its pods lack: "(no tier)".
func Missing(label string) string { return "(no " + label + ")" }

// Values are the group's label values in the order of the grouping, a
// missing label shown as Missing(label).
func (g Group) Values(by []string) []string {
	out := make([]string, len(by))
	for i, l := range by {
		if v, ok := g.Labels[l]; ok {
			out[i] = v
		} else {
			out[i] = Missing(l)
		}
	}
	return out
}

// GroupPods sums pods by the values of the labels by, in that order. An
// empty value counts as missing. Groups come out sorted by their values,
// each missing value after every present one.
func GroupPods(pods []Pod, by []string) []Group {
	index := map[string]int{}
	var groups []Group
	for _, p := range pods {
		values := make([]string, len(by))
		missing := make([]bool, len(by))
		for i, l := range by {
			values[i] = p.Labels[l]
			missing[i] = values[i] == ""
		}
		// Label values never hold a NUL, so it separates them safely.
		key := strings.Join(values, "\x00")
		i, ok := index[key]
		if !ok {
			g := Group{Labels: map[string]string{}, values: values, missingPositions: missing}
			for j, l := range by {
				if missing[j] {
					g.Missing = append(g.Missing, l)
				} else {
					g.Labels[l] = values[j]
				}
			}
			groups = append(groups, g)
			i = len(groups) - 1
			index[key] = i
		}
		g := &groups[i]
		g.Pods++
		g.CPU += p.CPU
		g.Memory += p.Memory
		if p.CPURequest > 0 {
			g.CPURequests.Requested += p.CPURequest
			g.CPURequests.Used += p.CPU
			g.CPURequests.Pods++
		}
		if p.MemoryRequest > 0 {
			g.MemoryRequests.Requested += p.MemoryRequest
			g.MemoryRequests.Used += p.Memory
			g.MemoryRequests.Pods++
		}
	}
	slices.SortStableFunc(groups, compareValues)
	return groups
}

func compareValues(a, b Group) int {
	for i := range a.values {
		if c := cmpBool(a.missingPositions[i], b.missingPositions[i]); c != 0 {
			return c
		}
		if c := strings.Compare(a.values[i], b.values[i]); c != 0 {
			return c
		}
	}
	return 0
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// SortBy orders groups.
type SortBy string

// The orders of --sort-by: by the groups' label values (the default), or
// by use, largest first.
const (
	SortByGroup  SortBy = ""
	SortByCPU    SortBy = "cpu"
	SortByMemory SortBy = "memory"
)

// SortByNames are the values ParseSortBy accepts.
var SortByNames = []string{string(SortByCPU), string(SortByMemory)}

// ParseSortBy reads a --sort-by value.
func ParseSortBy(s string) (SortBy, error) {
	switch SortBy(strings.ToLower(s)) {
	case SortByGroup:
		return SortByGroup, nil
	case SortByCPU:
		return SortByCPU, nil
	case SortByMemory:
		return SortByMemory, nil
	}
	return "", fmt.Errorf("unknown sort order %q: use cpu or memory", s)
}

// Sort orders groups by: largest use first for cpu or memory (ties by
// label values), else by label values.
func Sort(groups []Group, by SortBy) {
	slices.SortStableFunc(groups, func(a, b Group) int {
		switch by {
		case SortByCPU:
			if c := cmp.Compare(b.CPU, a.CPU); c != 0 {
				return c
			}
		case SortByMemory:
			if c := cmp.Compare(b.Memory, a.Memory); c != 0 {
				return c
			}
		}
		return compareValues(a, b)
	})
}

// Total sums every group into one, for a line under the table.
func Total(groups []Group) Group {
	t := Group{Labels: map[string]string{}}
	for _, g := range groups {
		t.Pods += g.Pods
		t.CPU += g.CPU
		t.Memory += g.Memory
		for _, r := range []struct{ to, from *Requests }{{&t.CPURequests, &g.CPURequests}, {&t.MemoryRequests, &g.MemoryRequests}} {
			r.to.Requested += r.from.Requested
			r.to.Used += r.from.Used
			r.to.Pods += r.from.Pods
		}
	}
	return t
}

// FormatCPU prints millicores as kubectl top does: "250m".
func FormatCPU(milli int64) string { return fmt.Sprintf("%dm", milli) }

// FormatMemory prints bytes as kubectl top does, in whole mebibytes:
// "64Mi".
func FormatMemory(bytes int64) string { return fmt.Sprintf("%dMi", bytes/(1024*1024)) }

// ValidateBy checks a grouping: at least one label, each a label key, none
// twice.
func ValidateBy(by []string) error {
	if len(by) == 0 {
		return fmt.Errorf("--by needs at least one label, such as tier or tier,language")
	}
	seen := map[string]bool{}
	for _, l := range by {
		if err := validLabelKey(l); err != nil {
			return err
		}
		if seen[l] {
			return fmt.Errorf("--by names label %q twice", l)
		}
		seen[l] = true
	}
	return nil
}
