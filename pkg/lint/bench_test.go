package lint

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/envops/kubectl-envops/pkg/config"
)

// benchCorpus is a multi-document stream of n well-labelled ReplicationControllers.
func benchCorpus(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: ReplicationController
metadata:
  name: app%[1]d-web
  labels: {name: app%[1]d-web, app: app%[1]d, tier: frontend, role: web}
spec:
  replicas: 3
  selector: {name: app%[1]d-web}
  template:
    metadata:
      labels:
        name: app%[1]d-web
        app: app%[1]d
        tier: frontend
        role: web
    spec:
      containers:
      - name: web
        image: registry.example.com/app%[1]d:1.0.0
        ports:
        - containerPort: 8080
        volumeMounts:
        - {name: environment, mountPath: /etc/secrets, readOnly: true}
      volumes:
      - name: environment
        secret: {secretName: environment}
`, i)
	}
	return b.Bytes()
}

// BenchmarkLintFiles lints 2,000 objects from a file per iteration and
// reports objects per second.
func BenchmarkLintFiles(b *testing.B) {
	const n = 2000
	path := filepath.Join(b.TempDir(), "corpus.yaml")
	if err := os.WriteFile(path, benchCorpus(n), 0o644); err != nil {
		b.Fatal(err)
	}
	l, err := New(config.Default())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		var rep Report
		if err := l.LintFiles(context.Background(), []string{path}, nil, &rep); err != nil {
			b.Fatal(err)
		}
		if rep.Objects != n || len(rep.Findings) != 0 {
			b.Fatalf("checked %d objects with %d findings, want %d clean objects", rep.Objects, len(rep.Findings), n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "objects/s")
}
