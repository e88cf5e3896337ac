package deploy

import (
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// kube is the typed client of the target.
func (d *Deployer) kube() kubernetes.Interface {
	if d.client != nil {
		return d.client
	}
	return d.Target.Client
}

// widen gives the clients of a deploy of several apps n times the request
// rate of one command. client-go paces every request of a client through
// one limiter: apps rolled side by side through the clients of a single
// command would wait on each other's requests, where the same apps
// deployed by n commands would not. Clients the caller passed in, and a
// configuration that cannot be read again, keep one command's rate.
func (d *Deployer) widen(n int) {
	if n <= 1 || d.Target.Getter == nil || d.Dynamic != nil || d.client != nil {
		return
	}
	rc, err := d.Target.Getter.ToRESTConfig()
	if err != nil || rc.RateLimiter != nil || rc.QPS <= 0 {
		// Unreadable, paced by a limiter of its own, or unlimited.
		return
	}
	rc.QPS *= float32(n)
	rc.Burst *= n
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return
	}
	d.client, d.dyn = client, dyn
}
