// Command envops-cluster builds and runs local control planes, one per
// environment, for kubectl-envops's tests and demo.
//
//	envops-cluster up [--clusters dev,prod] [--nodes 3] [--state-dir DIR] [--kubeconfig FILE]
//	envops-cluster status [--state-dir DIR]
//	envops-cluster down [--state-dir DIR]
//	envops-cluster build
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
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
	timeout := fs.Duration("timeout", 20*time.Minute, "give up after this long (includes a first build of about 10 minutes)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, *timeout)
	defer cancelT()

	switch args[0] {
	case "build":
		dir, err := cluster.Build(ctx, cluster.BuildOptions{Log: stderr})
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, dir)
	case "up":
		list := strings.Split(*names, ",")
		set, err := cluster.StartSet(ctx, cluster.SetOptions{Names: list, Nodes: *nodes, StateDir: *stateDir, Kubeconfig: *kubeconfig, Log: stderr})
		if err != nil {
			fmt.Fprintf(stderr, "error: %v\n", err)
			return 1
		}
		for _, c := range set.Clusters {
			fmt.Fprintf(stdout, "cluster %-6s context %-12s server %s nodes %s\n", c.Name, c.Context, c.Server, strings.Join(c.Nodes, ","))
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
