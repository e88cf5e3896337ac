// Command envops-cluster builds and runs local control planes, one per
// environment, for kubectl-envops's tests and demo.
//
//	envops-cluster up [--clusters dev,prod] [--without-metrics NAME,...] [--nodes 3] [--state-dir DIR] [--kubeconfig FILE]
//	                  [--timeout 5m] [--build-timeout 60m]
//	envops-cluster status [--state-dir DIR]
//	envops-cluster down [--state-dir DIR]
//	envops-cluster build [--build-timeout 60m]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/envops/kubectl-envops/test/cluster"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: envops-cluster up|down|status|build [flags]")
		return 2
	}
	fs := flag.NewFlagSet("envops-cluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDir := fs.String("state-dir", cluster.DefaultStateDir(), "directory holding the clusters' state and logs")
	names := fs.String("clusters", "dev,prod", "comma-separated environments, one cluster each (contexts envops-<name>)")
	nodes := fs.Int("nodes", 3, "kwok nodes per cluster")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to write (default <state-dir>/kubeconfig)")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up starting the clusters after this long, once the binaries are built (the build has its own limit, --build-timeout)")
	buildTimeout := fs.Duration("build-timeout", 0, fmt.Sprintf("give up building the control plane after this long (default $%s, else %s; a first build takes about 10 minutes, more on a loaded machine)", cluster.BuildTimeoutEnv, cluster.DefaultBuildTimeout))
	withoutMetrics := fs.String("without-metrics", "", "comma-separated clusters to start without metrics-server (a cluster that serves no metrics API)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *buildTimeout < 0 || *timeout <= 0 {
		fmt.Fprintln(stderr, "error: --timeout and --build-timeout take a positive duration such as 5m")
		return 2
	}
	if _, err := cluster.BuildTimeout(*buildTimeout); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 2
	}
	// Interrupts end any step; the build and the start each have their own
	// limit, so a slow first build never eats the start-up time.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	build := cluster.BuildOptions{Log: stderr, Timeout: *buildTimeout}

	switch args[0] {
	case "build":
		dir, err := cluster.Build(ctx, build)
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, dir)
	case "up":
		list := strings.Split(*names, ",")
		var bare []string
		if *withoutMetrics != "" {
			bare = strings.Split(*withoutMetrics, ",")
		}
		for _, b := range bare {
			if !slices.Contains(list, b) {
				fmt.Fprintf(stderr, "error: --without-metrics names %q, which is not one of --clusters %s\n", b, *names)
				return 2
			}
		}
		set, err := cluster.StartSet(ctx, cluster.SetOptions{Names: list, Nodes: *nodes, StateDir: *stateDir, Kubeconfig: *kubeconfig, Log: stderr,
			Build: build, StartTimeout: *timeout, NoMetrics: bare})
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		for _, c := range set.Clusters {
			metrics := "metrics API"
			if !c.Metrics {
				metrics = "no metrics API"
			}
			fmt.Fprintf(stdout, "cluster %-6s context %-12s server %s nodes %s (%s)\n", c.Name, c.Context, c.Server, strings.Join(c.Nodes, ","), metrics)
		}
		fmt.Fprintf(stdout, "kubeconfig: %s\nexport KUBECONFIG=%s\n", set.Kubeconfig, set.Kubeconfig)
	case "status":
		cs, err := cluster.List(*stateDir)
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		if len(cs) == 0 {
			fmt.Fprintf(stdout, "no clusters under %s\n", *stateDir)
			return 0
		}
		code := 0
		for _, c := range cs {
			st := c.Status()
			var parts []string
			keys := make([]string, 0, len(st))
			for k := range st {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				s := "running"
				if !st[k] {
					s, code = "stopped", 1
				}
				parts = append(parts, k+"="+s)
			}
			hctx, hc := context.WithTimeout(ctx, 3*time.Second)
			health := "unreachable"
			if c.Healthy(hctx) {
				health = "ready"
			} else {
				code = 1
			}
			hc()
			fmt.Fprintf(stdout, "cluster %-6s context %-12s server %s %s\n  %s\n", c.Name, c.Context, c.Server, health, strings.Join(parts, " "))
		}
		return code
	case "down":
		cs, err := cluster.List(*stateDir)
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		code := 0
		for _, c := range cs {
			if err := c.Down(); err != nil {
				fmt.Fprintf(stderr, "error: cluster %s: %v\n", c.Name, err)
				code = 1
				continue
			}
			fmt.Fprintf(stdout, "cluster %s stopped\n", c.Name)
		}
		kc := *kubeconfig
		if kc == "" {
			kc = filepath.Join(*stateDir, "kubeconfig")
		}
		_ = os.Remove(kc)
		if code == 0 {
			_ = os.Remove(*stateDir) // only if empty
		}
		return code
	default:
		fmt.Fprintf(stderr, "error: unknown command %q: use up, down, status or build\n", args[0])
		return 2
	}
	return 0
}
