// Command lint benchmarks "kubectl envops lint" against conftest with an
// equivalent required-labels policy, on a generated corpus of Kubernetes
// objects (10,000 by default). It prints each tool's time and peak memory
// and the ratio; it never fails on the figures.
//
// Run it from the repository root:
//
//	go run ./bench/lint
//
// Both tools are built from source first: the plugin from this module,
// conftest from the separate module in bench/conftest.
package main

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

//go:embed labels.rego
var policy string

// Targets the figures are compared with; they are printed, never enforced.
const (
	targetRatio  = 20.0
	targetPeakMB = 200.0
)

func main() {
	objects := flag.Int("objects", 10000, "objects in the generated corpus")
	files := flag.Int("files", 100, "files the corpus is spread over")
	runs := flag.Int("runs", 3, "runs of each tool; the median time is reported")
	keep := flag.String("corpus", "", "write the corpus to this directory and keep it (default: a temporary directory)")
	envops := flag.String("envops", "", "prebuilt kubectl-envops binary (default: build it)")
	conftest := flag.String("conftest", "", "prebuilt conftest binary (default: build it from bench/conftest)")
	flag.Parse()
	if err := run(*objects, *files, *runs, *keep, *envops, *conftest); err != nil {
		fmt.Fprintln(os.Stderr, "bench/lint:", err)
		os.Exit(1)
	}
}

func run(objects, files, runs int, corpusDir, envops, conftest string) error {
	if objects < 1 || files < 1 || runs < 1 {
		return errors.New("-objects, -files and -runs must be positive")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "envops-bench-lint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if corpusDir == "" {
		corpusDir = filepath.Join(work, "corpus")
	}
	gen, err := generate(corpusDir, objects, files)
	if err != nil {
		return fmt.Errorf("generate corpus: %w", err)
	}
	fmt.Printf("corpus: %d objects (%d workloads, %d lacking a required label) in %d files, %.1f MB\n",
		gen.objects, gen.workloads, gen.bad, files, float64(gen.bytes)/1e6)

	bin := filepath.Join(work, "bin")
	if envops == "" {
		envops = filepath.Join(bin, "kubectl-envops")
		if err := build(root, envops, "./cmd/kubectl-envops"); err != nil {
			return err
		}
	}
	if conftest == "" {
		conftest = filepath.Join(bin, "conftest")
		if err := build(filepath.Join(root, "bench", "conftest"), conftest, "github.com/open-policy-agent/conftest"); err != nil {
			return err
		}
	}
	policyDir := filepath.Join(work, "policy")
	if err := os.MkdirAll(policyDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(policyDir, "labels.rego"), []byte(policy), 0o644); err != nil {
		return err
	}

	ours, err := measure(runs, work, envops, "lint", corpusDir, "-o", "json")
	if err != nil {
		return err
	}
	theirs, err := measure(runs, work, conftest, "test", "--policy", policyDir, "--output", "json", "--no-color", corpusDir)
	if err != nil {
		return err
	}
	ourCount, err := countEnvops(ours.stdout)
	if err != nil {
		return err
	}
	theirCount, err := countConftest(theirs.stdout)
	if err != nil {
		return err
	}

	fmt.Printf("\n%-22s %10s %10s %12s %10s\n", "tool", "wall", "cpu", "peak RSS", "findings")
	fmt.Printf("%-22s %9.2fs %9.2fs %9.1f MB %10d  (all rules; %d required-labels)\n", "kubectl envops lint", ours.median.Seconds(), ours.cpu.Seconds(), ours.peakMB, ourCount.all, ourCount.required)
	fmt.Printf("%-22s %9.2fs %9.2fs %9.1f MB %10d  (required labels)\n", "conftest test", theirs.median.Seconds(), theirs.cpu.Seconds(), theirs.peakMB, theirCount)
	ratio := theirs.median.Seconds() / ours.median.Seconds()
	cpuRatio := theirs.cpu.Seconds() / ours.cpu.Seconds()
	fmt.Printf("\nspeed: envops is %.1fx conftest by wall clock (target >= %.0fx: %s), %.1fx by CPU time\n", ratio, targetRatio, verdict(ratio >= targetRatio), cpuRatio)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average during the runs: %s (wall-clock figures suffer on a busy machine; CPU time less so)\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	fmt.Printf("memory: envops peak %.1f MB (target < %.0f MB: %s)\n", ours.peakMB, targetPeakMB, verdict(ours.peakMB < targetPeakMB))
	agree := "agree"
	if ourCount.required != theirCount {
		agree = "DISAGREE"
	}
	fmt.Printf("required-labels findings: envops %d, conftest %d (%s)\n", ourCount.required, theirCount, agree)
	fmt.Printf("runs: %d each; wall and cpu (user+system) are medians, peak RSS is the largest maxrss over the runs\n", runs)
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// moduleRoot is the main module's directory, from the go command.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run this from the kubectl-envops repository (go run ./bench/lint)")
	}
	return filepath.Dir(mod), nil
}

func build(dir, out, pkg string) error {
	fmt.Printf("building %s ...\n", pkg)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build %s in %s: %w", pkg, dir, err)
	}
	return nil
}

// result is what the runs of one tool measured.
type result struct {
	median time.Duration
	cpu    time.Duration
	peakMB float64
	stdout []byte
}

// measure runs a command several times; exit status 1 (findings) is
// expected, anything else is an error.
func measure(runs int, dir, bin string, args ...string) (result, error) {
	var times, cpus []time.Duration
	var res result
	for range runs {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var out strings.Builder
		var errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		elapsed := time.Since(start)
		var ee *exec.ExitError
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			return res, fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, errb.String())
		}
		times = append(times, elapsed)
		cpus = append(cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			// Linux reports maxrss in KiB.
			res.peakMB = max(res.peakMB, float64(ru.Maxrss)*1024/1e6)
		}
		res.stdout = []byte(out.String())
	}
	slices.Sort(times)
	slices.Sort(cpus)
	res.median, res.cpu = times[len(times)/2], cpus[len(cpus)/2]
	return res, nil
}

type envopsCount struct{ all, required int }

func countEnvops(out []byte) (envopsCount, error) {
	var rep struct {
		Findings []struct {
			Rule string `json:"rule"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		return envopsCount{}, fmt.Errorf("read envops output: %w", err)
	}
	c := envopsCount{all: len(rep.Findings)}
	for _, f := range rep.Findings {
		if f.Rule == "required-labels" {
			c.required++
		}
	}
	return c, nil
}

func countConftest(out []byte) (int, error) {
	var results []struct {
		Failures []json.RawMessage `json:"failures"`
	}
	if err := json.Unmarshal(out, &results); err != nil {
		return 0, fmt.Errorf("read conftest output: %w", err)
	}
	n := 0
	for _, r := range results {
		n += len(r.Failures)
	}
	return n, nil
}

// corpusStats describes a generated corpus.
type corpusStats struct {
	objects, workloads, bad int
	bytes                   int64
}

// generate writes objects spread over files: mostly well-labelled
// controllers of several kinds with their Services, and one workload in
// ten missing a required label on its pod template.
func generate(dir string, objects, files int) (corpusStats, error) {
	var st corpusStats
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tiers := []string{"frontend", "backend"}
	roles := []string{"web", "api", "worker", "cache", "db"}
	kinds := []string{"ReplicationController", "ReplicationController", "Deployment", "Deployment", "StatefulSet", "DaemonSet"}
	per := (objects + files - 1) / files
	written := 0
	for f := 0; f < files && written < objects; f++ {
		path := filepath.Join(dir, fmt.Sprintf("apps-%03d.yaml", f))
		fh, err := os.Create(path)
		if err != nil {
			return st, err
		}
		w := bufio.NewWriter(fh)
		for i := 0; i < per && written < objects; i++ {
			app := fmt.Sprintf("app%05d", written)
			tier, role := tiers[rng.IntN(len(tiers))], roles[rng.IntN(len(roles))]
			if written > 0 {
				fmt.Fprintln(w, "---")
			}
			if rng.IntN(5) == 0 {
				writeService(w, app, tier, role)
			} else {
				bad := rng.IntN(10) == 0
				writeWorkload(w, kinds[rng.IntN(len(kinds))], app, tier, role, bad)
				st.workloads++
				if bad {
					st.bad++
				}
			}
			written++
		}
		if err := w.Flush(); err != nil {
			return st, err
		}
		info, err := fh.Stat()
		if err != nil {
			return st, err
		}
		st.bytes += info.Size()
		if err := fh.Close(); err != nil {
			return st, err
		}
	}
	st.objects = written
	return st, nil
}

func writeService(w io.Writer, app, tier, role string) {
	fmt.Fprintf(w, `apiVersion: v1
kind: Service
metadata:
  name: %[1]s-%[3]s
  labels:
    name: %[1]s-%[3]s
    app: %[1]s
    tier: %[2]s
    role: %[3]s
spec:
  selector:
    name: %[1]s-%[3]s
  ports:
  - port: 80
    targetPort: 8080
`, app, tier, role)
}

func writeWorkload(w io.Writer, kind, app, tier, role string, bad bool) {
	apiVersion, selector := "apps/v1", fmt.Sprintf("  selector:\n    matchLabels:\n      name: %s-%s\n", app, role)
	if kind == "ReplicationController" {
		apiVersion, selector = "v1", fmt.Sprintf("  selector:\n    name: %s-%s\n", app, role)
	}
	templateRole := "        role: " + role + "\n"
	if bad {
		templateRole = ""
	}
	replicas := "  replicas: 3\n"
	if kind == "DaemonSet" {
		replicas = ""
	}
	fmt.Fprintf(w, `apiVersion: %[1]s
kind: %[2]s
metadata:
  name: %[3]s-%[5]s
  labels:
    name: %[3]s-%[5]s
    app: %[3]s
    tier: %[4]s
    role: %[5]s
    language: go
spec:
%[6]s%[7]s  template:
    metadata:
      labels:
        name: %[3]s-%[5]s
        app: %[3]s
        tier: %[4]s
%[8]s        language: go
    spec:
      containers:
      - name: %[5]s
        image: registry.example.com/%[3]s:1.0.0
        ports:
        - containerPort: 8080
        volumeMounts:
        - name: environment
          mountPath: /etc/secrets
          readOnly: true
      volumes:
      - name: environment
        secret:
          secretName: environment
`, apiVersion, kind, app, tier, role, replicas, selector, templateRole)
}
