// Command generate benchmarks "kubectl envops generate --all" against the
// kustomize CLI run once per overlay, as a shell loop would, and against
// kustomize's krusty API called serially in one process. generate renders
// every environment in one process, and, for comparison, once per
// environment. It writes a corpus
// of N apps × 3 environments (each a base with a ReplicationController and
// one overlay per environment, made by the same scaffolder as
// "kubectl envops new"), builds both programs from Go modules, and prints
// the times and ratios. It never fails on time.
//
//	go run ./bench/generate -apps 200 [-runs 5]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// environments of the corpus; every app has an overlay for each.
var environments = []string{"dev", "staging", "prod"}

func main() {
	apps := flag.Int("apps", 200, "number of apps in the corpus (overlays = apps × 3)")
	kustomizeBin := flag.String("kustomize", "", "kustomize binary to compare with (default: built from bench/kustomize)")
	envopsBin := flag.String("envops", "", "kubectl-envops binary (default: built from ./cmd/kubectl-envops)")
	keep := flag.Bool("keep", false, "keep the corpus and binaries directory")
	runs := flag.Int("runs", 5, "rounds of measurement; times are the fastest, the ratio to krusty the median of the rounds")
	flag.Parse()
	if err := run(*apps, *runs, *kustomizeBin, *envopsBin, *keep, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run(apps, runs int, kustomizeBin, envopsBin string, keep bool, out io.Writer) error {
	work, err := os.MkdirTemp("", "envops-bench-generate-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(out, "work directory: %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}

	if envopsBin == "" {
		envopsBin = filepath.Join(work, "kubectl-envops")
		if err := goBuild("", envopsBin, "./cmd/kubectl-envops"); err != nil {
			return err
		}
	}
	if kustomizeBin == "" {
		kustomizeBin = filepath.Join(work, "kustomize")
		if err := goBuild("bench/kustomize", kustomizeBin, "sigs.k8s.io/kustomize/kustomize/v5"); err != nil {
			return err
		}
	}

	project := filepath.Join(work, "corpus")
	overlays, err := WriteCorpus(project, apps)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "corpus: %d apps × %d environments = %d overlays (ReplicationController each)\n", apps, len(environments), len(overlays))

	// The machine's speed drifts (other work, a virtual machine's
	// neighbours), so the contenders run in rounds, one after the other,
	// and the ratio is taken within each round: drift between rounds
	// cancels out. Times are the fastest of all rounds.
	// generate writes files, which krusty does not: on a RAM file system
	// where the machine has one, so the figure is rendering, not the disk
	// (whose writeback would also slow whatever runs next).
	outDir := filepath.Join(work, "rendered")
	if shm, err := os.MkdirTemp("/dev/shm", "envops-bench-"); err == nil {
		defer os.RemoveAll(shm)
		outDir = shm
	}
	fmt.Fprintf(out, "generate writes into %s\n", outDir)
	contenders := []func() (cpu time.Duration, err error){
		inProcess(func() error { return krustySerial(overlays) }),
		inProcess(func() error { return renderSerial(project, apps) }),
		// One process renders every environment into a directory, as a
		// pipeline that renders everything for review would.
		func() (time.Duration, error) {
			return envops(envopsBin, project, "generate", "--all", "--all-environments", "--output-dir", outDir)
		},
		// One process per environment, each printing its stream.
		func() (time.Duration, error) {
			var cpu time.Duration
			for _, env := range environments {
				c, err := envops(envopsBin, project, "generate", "--all", "--env", env)
				if err != nil {
					return 0, err
				}
				cpu += c
			}
			return cpu, nil
		},
	}
	const krusty, render, generate, perEnv = 0, 1, 2, 3
	best := make([]measurement, len(contenders))
	var ratios []float64
	for round := 0; round < max(runs, 1); round++ {
		this := make([]measurement, len(contenders))
		for i, f := range contenders {
			if this[i], err = measure(f); err != nil {
				return err
			}
			if round == 0 || this[i].wall < best[i].wall {
				best[i] = this[i]
			}
		}
		ratios = append(ratios, this[generate].wall.Seconds()/this[krusty].wall.Seconds())
	}
	krustyTime, krustyCPU := best[krusty].wall, best[krusty].cpu
	renderTime := best[render].wall
	generateTime, generateCPU := best[generate].wall, best[generate].cpu
	perEnvTime := best[perEnv].wall
	slices.Sort(ratios)
	ratio := ratios[len(ratios)/2]
	cliTime, err := timed(func() error {
		for _, dir := range overlays {
			cmd := exec.Command(kustomizeBin, "build", dir)
			cmd.Stderr = os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("kustomize build %s: %w", dir, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	fmt.Fprintf(out, "%-66s %8.2fs\n", "kustomize CLI, one process per overlay (shell loop):", cliTime.Seconds())
	fmt.Fprintf(out, "%-66s %8.2fs\n", "krusty API, serial, one process (no envops transforms):", krustyTime.Seconds())
	fmt.Fprintf(out, "%-66s %8.2fs\n", "render.App, serial, one process (krusty + transforms):", renderTime.Seconds())
	fmt.Fprintf(out, "%-66s %8.2fs\n", "kubectl envops generate --all --all-environments, one process:", generateTime.Seconds())
	fmt.Fprintf(out, "%-66s %8.2fs\n", fmt.Sprintf("kubectl envops generate --all --env ENV, %d processes:", len(environments)), perEnvTime.Seconds())
	fmt.Fprintf(out, "generate vs kustomize CLI loop: %.1f× faster (target ≥ 30×)\n", cliTime.Seconds()/generateTime.Seconds())
	fmt.Fprintf(out, "generate --all --all-environments vs serial krusty: %.2f× its time on %d cores (target ≤ 0.6× on 2 cores)\n", ratio, runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "  the median of %d rounds, each measuring both back to back: %s\n", len(ratios), formatRatios(ratios))
	fmt.Fprintf(out, "  CPU time: generate %.2fs, krusty %.2fs (%.2f×); load average %s\n",
		generateCPU.Seconds(), krustyCPU.Seconds(), generateCPU.Seconds()/krustyCPU.Seconds(), loadAverage())
	fmt.Fprintf(out, "transforms, serial:             %.2f× krusty's time\n", renderTime.Seconds()/krustyTime.Seconds())
	return nil
}

// envops runs the plugin binary in dir, with its output discarded, and
// returns the CPU time it took.
func envops(bin, dir string, args ...string) (time.Duration, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("kubectl-envops %s: %w", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// WriteCorpus scaffolds apps apps, each with an overlay per environment,
// under dir/apps with a .envops.yaml in dir, and returns the overlay
// directories.
func WriteCorpus(dir string, apps int) ([]string, error) {
	cfgYAML := "environments:\n"
	for _, env := range environments {
		cfgYAML += fmt.Sprintf("  %s: {context: %s-cluster}\n", env, env)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o644); err != nil {
		return nil, err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	fsys := filesys.MakeFsOnDisk()
	tiers := []string{"frontend", "backend"}
	var overlays []string
	for i := 0; i < apps; i++ {
		name := fmt.Sprintf("app-%04d", i)
		_, err := render.Scaffold(context.Background(), fsys, cfg, render.NewApp{
			Name:         name,
			Tier:         tiers[i%2],
			Role:         "server",
			Language:     "go",
			Image:        fmt.Sprintf("registry.example.com/%s:1.0.%d", name, i),
			Kind:         render.KindReplicationController,
			Port:         8080,
			Environments: environments,
			Replicas:     map[string]int32{"dev": 1, "staging": 2, "prod": 3},
		})
		if err != nil {
			return nil, err
		}
		for _, env := range environments {
			overlays = append(overlays, filepath.Join(cfg.AppsDir(), name, "overlays", env))
		}
	}
	return overlays, nil
}

// krustySerial builds every overlay with kustomize's API, one after the
// other, and encodes the result as YAML as the CLI would.
func krustySerial(overlays []string) error {
	fsys := filesys.MakeFsOnDisk()
	for _, dir := range overlays {
		m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
		if err != nil {
			return err
		}
		if _, err := m.AsYaml(); err != nil {
			return err
		}
	}
	return nil
}

// renderSerial renders every app and environment with render.App, one
// after the other, to show what the transforms add to krusty alone.
func renderSerial(project string, apps int) error {
	cfg, err := config.Load(filepath.Join(project, config.FileName))
	if err != nil {
		return err
	}
	fsys := filesys.MakeFsOnDisk()
	for _, env := range environments {
		for i := 0; i < apps; i++ {
			if _, err := render.App(fsys, cfg, fmt.Sprintf("app-%04d", i), env, render.Options{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// measurement is one run's wall-clock and CPU time.
type measurement struct{ wall, cpu time.Duration }

// measure runs f once; f reports the CPU time it took.
func measure(f func() (cpu time.Duration, err error)) (m measurement, err error) {
	m.wall, err = timed(func() (err error) {
		m.cpu, err = f()
		return err
	})
	return m, err
}

// formatRatios prints sorted ratios as "0.51× 0.53× …".
func formatRatios(ratios []float64) string {
	parts := make([]string, len(ratios))
	for i, r := range ratios {
		parts[i] = fmt.Sprintf("%.2f×", r)
	}
	return strings.Join(parts, " ")
}

func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// inProcess measures f's CPU time in this process.
func inProcess(f func() error) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		start := selfCPU()
		err := f()
		return selfCPU() - start, err
	}
}

// loadAverage is the machine's load over 1, 5 and 15 minutes, or "unknown":
// on a machine shared with other work, wall-clock figures suffer.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// goBuild builds pkg into out with the go command, in module directory dir
// ("" for the current one).
func goBuild(dir, out, pkg string) error {
	args := []string{"build", "-o", out}
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %v: %w (run from the repository root)", args, err)
	}
	return nil
}
