// Command list measures "kubectl envops lint -" on one big List, as
// "kubectl get rc -A -o json | kubectl envops lint -" sends it: a
// single JSON document of N ReplicationControllers (100,000 by default,
// about 1 KB each, with the fields kubectl prints). It prints the input
// size, the wall time and the peak resident memory of the plugin; it never
// fails on the figures.
//
//	go run ./bench/list
//	go run ./bench/list -items 100000 -unlabelled 1   # every item has findings
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// targetPeakMB is the figure the peak is compared with; printed, never enforced.
const targetPeakMB = 200.0

func main() {
	items := flag.Int("items", 100000, "ReplicationControllers in the List")
	unlabelled := flag.Float64("unlabelled", 0.1, "fraction of items missing labels (each gives findings)")
	envops := flag.String("envops", "", "prebuilt kubectl-envops binary (default: build it)")
	keep := flag.String("list", "", "write the List to this file and keep it (default: a temporary file)")
	flag.Parse()
	if err := run(*items, *unlabelled, *envops, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(items int, unlabelled float64, envops, path string) error {
	tmp, err := os.MkdirTemp("", "envops-bench-list-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if envops == "" {
		envops = filepath.Join(tmp, "kubectl-envops")
		build := exec.Command("go", "build", "-o", envops, "./cmd/kubectl-envops")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building the plugin (run from the repository root): %w", err)
		}
	}
	// The plugin runs in an empty directory, away from any .envops.yaml.
	if envops, err = filepath.Abs(envops); err != nil {
		return err
	}
	if path == "" {
		path = filepath.Join(tmp, "list.json")
	}
	size, err := writeList(path, items, unlabelled)
	if err != nil {
		return err
	}
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	cmd := exec.Command(envops, "lint", "-", "-o", "json", "--fail-on", "none")
	cmd.Dir = tmp // no .envops.yaml: the default convention
	cmd.Stdin = in
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl-envops lint -: %w", err)
	}
	elapsed := time.Since(start)
	peak := 0.0
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peak = float64(ru.Maxrss) * 1024 / 1e6 // Linux reports KiB
	}
	var rep struct {
		Summary struct{ Objects, Errors, Warnings int } `json:"summary"`
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		return fmt.Errorf("reading the report: %w", err)
	}
	verdict := "within"
	if peak > targetPeakMB {
		verdict = "ABOVE"
	}
	fmt.Printf("List of %d items, %.1f MB: %d objects checked, %d errors, %d warnings\n",
		items, float64(size)/1e6, rep.Summary.Objects, rep.Summary.Errors, rep.Summary.Warnings)
	fmt.Printf("time %.2fs, peak RSS %.0f MB (%s the %.0f MB target)\n", elapsed.Seconds(), peak, verdict, targetPeakMB)
	return nil
}

// writeList writes a v1 List of ReplicationControllers with the fields and
// key order of kubectl's -o json (items before kind), one item per line.
func writeList(path string, items int, unlabelled float64) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	every := 0
	if unlabelled > 0 {
		every = int(1 / unlabelled)
	}
	type obj = map[string]any
	fmt.Fprint(w, "{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")
	for i := range items {
		app := fmt.Sprintf("app%05d", i)
		labels := obj{"name": app + "-server", "app": app, "tier": "backend", "role": "server"}
		if every > 0 && i%every == 0 {
			labels = obj{"app": app}
		}
		rc := obj{
			"apiVersion": "v1",
			"kind":       "ReplicationController",
			"metadata": obj{
				"creationTimestamp": "2026-11-30T12:00:00Z",
				"generation":        1,
				"labels":            labels,
				"name":              app,
				"namespace":         fmt.Sprintf("team%03d", i%500),
				"resourceVersion":   fmt.Sprint(100000 + i),
				"uid":               fmt.Sprintf("6f1c2d3e-4b5a-4c7d-8e9f-%012d", i),
			},
			"spec": obj{
				"replicas": 3,
				"selector": obj{"name": app + "-server"},
				"template": obj{
					"metadata": obj{"creationTimestamp": nil, "labels": labels},
					"spec": obj{
						"containers": []obj{{
							"image":           "registry.example.com/" + app + ":1.4.2",
							"imagePullPolicy": "IfNotPresent",
							"name":            "server",
							"ports":           []obj{{"containerPort": 8080, "protocol": "TCP"}},
							"resources":       obj{},
							"volumeMounts":    []obj{{"mountPath": "/etc/secrets", "name": "environment", "readOnly": true}},
						}},
						"dnsPolicy":                     "ClusterFirst",
						"restartPolicy":                 "Always",
						"schedulerName":                 "default-scheduler",
						"securityContext":               obj{},
						"terminationGracePeriodSeconds": 30,
						"volumes":                       []obj{{"name": "environment", "secret": obj{"defaultMode": 420, "secretName": "environment"}}},
					},
				},
			},
			"status": obj{"availableReplicas": 3, "fullyLabeledReplicas": 3, "observedGeneration": 1, "readyReplicas": 3, "replicas": 3},
		}
		// One line per item keeps an item near 1 KB, as in the 100 MB List
		// of 100,000 items this measures; the lines differ, the reading not.
		b, err := json.Marshal(rc)
		if err != nil {
			return 0, err
		}
		w.WriteString("        ")
		w.Write(b)
		if i < items-1 {
			w.WriteString(",")
		}
		w.WriteString("\n")
	}
	fmt.Fprint(w, "    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n")
	if err := w.Flush(); err != nil {
		return 0, err
	}
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return info.Size(), nil
}
