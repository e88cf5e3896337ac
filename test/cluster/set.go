package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// SetOptions describes clusters started side by side, one per environment.
type SetOptions struct {
	// Names of the environments, e.g. dev and prod; contexts are envops-<name>.
	Names []string
	// Nodes per cluster (default 3).
	Nodes int
	// StateDir holds the clusters' state (default DefaultStateDir()).
	StateDir string
	// Kubeconfig is the merged kubeconfig to write (default StateDir/kubeconfig).
	Kubeconfig string
	// Build controls building or finding the binaries; the build is bounded
	// by its own limit (Build.Timeout), never by StartTimeout.
	Build BuildOptions
	// StartTimeout bounds starting the clusters once the binaries are
	// built; zero leaves it to ctx.
	StartTimeout time.Duration
	// NoMetrics names the clusters to start without metrics-server and
	// kwok's emulated usage (see Options.NoMetrics).
	NoMetrics []string
	// ControllerQPS: see Options.ControllerQPS.
	ControllerQPS int
	// Log receives progress lines.
	Log io.Writer
	// StopWithParent: see Options.StopWithParent.
	StopWithParent bool
}

// Set is several clusters and one kubeconfig with a context for each.
type Set struct {
	Clusters   []*Cluster
	Kubeconfig string
	BinDir     string
}

// StartSet builds the binaries if needed and starts every cluster
// concurrently. If any fails, all are stopped and the first error returned.
func StartSet(ctx context.Context, o SetOptions) (*Set, error) {
	if len(o.Names) == 0 {
		o.Names = []string{"dev", "prod"}
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir()
	}
	if o.Kubeconfig == "" {
		o.Kubeconfig = filepath.Join(o.StateDir, "kubeconfig")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Build.Log == nil {
		o.Build.Log = o.Log
	}
	binDir, err := Build(ctx, o.Build)
	if err != nil {
		return nil, err
	}
	if o.StartTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.StartTimeout)
		defer cancel()
	}
	s := &Set{Kubeconfig: o.Kubeconfig, BinDir: binDir, Clusters: make([]*Cluster, len(o.Names))}
	errs := make([]error, len(o.Names))
	var wg sync.WaitGroup
	for i, name := range o.Names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Up(ctx, Options{Name: name, Nodes: o.Nodes, StateDir: o.StateDir, BinDir: binDir, Log: o.Log,
				NoMetrics: slices.Contains(o.NoMetrics, name), ControllerQPS: o.ControllerQPS, StopWithParent: o.StopWithParent})
			s.Clusters[i] = c
			if err != nil {
				errs[i] = fmt.Errorf("cluster %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, c := range s.Clusters {
			if c != nil {
				_ = c.Stop()
			}
		}
		return nil, err
	}
	if err := WriteKubeconfig(o.Kubeconfig, s.Clusters...); err != nil {
		_ = s.Down()
		return nil, err
	}
	return s, nil
}

// Cluster returns the cluster serving an environment, or nil.
func (s *Set) Cluster(name string) *Cluster {
	for _, c := range s.Clusters {
		if c != nil && c.Name == name {
			return c
		}
	}
	return nil
}

// Down stops every cluster of the set and removes the merged kubeconfig.
func (s *Set) Down() error {
	var errs []error
	for _, c := range s.Clusters {
		if c != nil {
			errs = append(errs, c.Down())
		}
	}
	if s.Kubeconfig != "" {
		if err := os.Remove(s.Kubeconfig); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
