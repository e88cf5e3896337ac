package top

import (
	"reflect"
	"strings"
	"testing"
)

func pod(name string, cpu, mem int64, labels ...string) Pod {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return Pod{Namespace: "shop", Name: name, Labels: l, CPU: cpu, Memory: mem}
}

func withRequests(p Pod, cpu, mem int64) Pod {
	p.CPURequest, p.MemoryRequest = cpu, mem
	return p
}

const mi = 1024 * 1024

// row is a group as the table shows it: its values, pods, CPU and memory.
type row struct {
	values      string
	pods        int
	cpu, memory int64
}

func rows(groups []Group, by []string) []row {
	out := make([]row, 0, len(groups))
	for _, g := range groups {
		out = append(out, row{strings.Join(g.Values(by), "/"), g.Pods, g.CPU, g.Memory})
	}
	return out
}

func TestGroupPods(t *testing.T) {
	shop := []Pod{
		pod("web-1", 100, 64*mi, "app", "web", "tier", "frontend", "language", "nodejs"),
		pod("web-2", 100, 64*mi, "app", "web", "tier", "frontend", "language", "nodejs"),
		pod("cart-1", 250, 512*mi, "app", "cart", "tier", "backend", "language", "java"),
		pod("orders-1", 300, 256*mi, "app", "orders", "tier", "backend", "language", "nodejs"),
		pod("orders-2", 300, 256*mi, "app", "orders", "tier", "backend", "language", "nodejs"),
		pod("stray", 5, 10*mi),
		pod("blank-tier", 7, 20*mi, "app", "blank", "tier", "", "language", "go"),
	}
	tests := []struct {
		name string
		by   []string
		want []row
	}{
		{name: "by tier: sums per tier, pods without one last under (no tier)", by: []string{"tier"}, want: []row{
			{"backend", 3, 850, 1024 * mi},
			{"frontend", 2, 200, 128 * mi},
			{"(no tier)", 2, 12, 30 * mi},
		}},
		{name: "by language", by: []string{"language"}, want: []row{
			{"go", 1, 7, 20 * mi},
			{"java", 1, 250, 512 * mi},
			{"nodejs", 4, 800, 640 * mi},
			{"(no language)", 1, 5, 10 * mi},
		}},
		{name: "by tier and language: one group per pair, in label order", by: []string{"tier", "language"}, want: []row{
			{"backend/java", 1, 250, 512 * mi},
			{"backend/nodejs", 2, 600, 512 * mi},
			{"frontend/nodejs", 2, 200, 128 * mi},
			{"(no tier)/go", 1, 7, 20 * mi},
			{"(no tier)/(no language)", 1, 5, 10 * mi},
		}},
		{name: "a label no pod carries: one group of every pod", by: []string{"role"}, want: []row{
			{"(no role)", 7, 1062, 1182 * mi},
		}},
		{name: "no pods, no groups", by: []string{"tier"}, want: []row{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pods := shop
			if len(tt.want) == 0 {
				pods = nil
			}
			got := rows(GroupPods(pods, tt.by), tt.by)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestGroupLabelsAndMissingForScripts(t *testing.T) {
	g := GroupPods([]Pod{pod("a", 1, 1, "tier", "backend")}, []string{"tier", "language"})
	if len(g) != 1 || !reflect.DeepEqual(g[0].Labels, map[string]string{"tier": "backend"}) || !reflect.DeepEqual(g[0].Missing, []string{"language"}) {
		t.Fatalf("group = %+v, want labels {tier: backend} and missing [language]", g)
	}
}

// Use against requests counts only the pods that set a request, and says
// how many they are.
func TestRequestsCoverThePodsThatSetThem(t *testing.T) {
	pods := []Pod{
		withRequests(pod("a", 150, 100*mi, "tier", "backend"), 200, 200*mi),
		withRequests(pod("b", 50, 100*mi, "tier", "backend"), 200, 0),
		pod("c", 1000, 1000*mi, "tier", "backend"),
		pod("d", 10, 10*mi, "tier", "frontend"),
	}
	groups := GroupPods(pods, []string{"tier"})
	back, front := groups[0], groups[1]
	if got := back.CPURequests; got != (Requests{Requested: 400, Used: 200, Pods: 2}) {
		t.Errorf("backend CPU requests = %+v", got)
	}
	if pct, ok := back.CPURequests.Percent(); !ok || pct != 50 {
		t.Errorf("backend CPU use of requests = %d%%, %v; want 50%%", pct, ok)
	}
	if got := back.MemoryRequests; got != (Requests{Requested: 200 * mi, Used: 100 * mi, Pods: 1}) {
		t.Errorf("backend memory requests = %+v", got)
	}
	if _, ok := front.CPURequests.Percent(); ok {
		t.Error("a group without requests has a percentage")
	}
	total := Total(groups)
	if total.Pods != 4 || total.CPU != 1210 || total.CPURequests.Pods != 2 {
		t.Errorf("total = %+v", total)
	}
}

func TestSort(t *testing.T) {
	groups := GroupPods([]Pod{
		pod("a", 100, 900*mi, "tier", "a"),
		pod("b", 300, 100*mi, "tier", "b"),
		pod("c", 200, 500*mi, "tier", "c"),
		pod("d", 200, 500*mi),
	}, []string{"tier"})
	for _, tt := range []struct {
		by   SortBy
		want string
	}{
		{SortByCPU, "b c (no tier) a"},
		{SortByMemory, "a c (no tier) b"},
		{SortByGroup, "a b c (no tier)"},
	} {
		Sort(groups, tt.by)
		var got []string
		for _, g := range groups {
			got = append(got, g.Values([]string{"tier"})[0])
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("sort by %q: %v, want %s", tt.by, got, tt.want)
		}
	}
}

func TestParseSortByAndValidateBy(t *testing.T) {
	for in, want := range map[string]SortBy{"": SortByGroup, "cpu": SortByCPU, "MEMORY": SortByMemory} {
		if got, err := ParseSortBy(in); err != nil || got != want {
			t.Errorf("ParseSortBy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSortBy("disk"); err == nil || !strings.Contains(err.Error(), "use cpu or memory") {
		t.Errorf("ParseSortBy(disk): %v", err)
	}
	for _, ok := range [][]string{{"tier"}, {"tier", "language"}, {"app.kubernetes.io/name"}} {
		if err := ValidateBy(ok); err != nil {
			t.Errorf("ValidateBy(%v): %v", ok, err)
		}
	}
	for _, bad := range [][]string{{}, {"tier", "tier"}, {"bad label"}, {""}} {
		if err := ValidateBy(bad); err == nil {
			t.Errorf("ValidateBy(%q) accepted", bad)
		}
	}
}

func TestFormat(t *testing.T) {
	if got := FormatCPU(1250); got != "1250m" {
		t.Errorf("FormatCPU = %s", got)
	}
	if got := FormatMemory(64*mi + 5); got != "64Mi" {
		t.Errorf("FormatMemory = %s", got)
	}
}
