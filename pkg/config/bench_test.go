package config

import (
	"fmt"
	"strings"
	"testing"
)

// projectFile writes a project file with n environments.
func projectFile(n int) []byte {
	var b strings.Builder
	b.WriteString("environments:\n")
	for i := range n {
		fmt.Fprintf(&b, "  env-%d: {context: cluster-%d, namespace: ns-%d}\n", i, i, i)
	}
	return []byte(b.String())
}

// BenchmarkParse shows how loading grows with the number of environments:
// the time per environment should stay flat.
//
//	go test ./pkg/config -run '^$' -bench Parse
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		data := projectFile(n)
		b.Run(fmt.Sprintf("environments=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(data, "f.yaml"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/env")
		})
	}
}
