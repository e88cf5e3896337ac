// Package appstate reads what runs of an app in one namespace: its
// controllers, their images, how many pods are ready, the state of their
// rollout and who deployed them last. status prints it, promote gates on it.
package appstate

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// State is the state of a controller's rollout.
type State string

// States of a rollout.
const (
	// Steady: no update in progress.
	Steady State = "steady"
	// Updating: an update is in progress and its deploy is running.
	Updating State = "updating"
	// Paused: an update stopped on purpose (--pause-after, paused Deployment).
	Paused State = "paused"
	// Failed: pods of the new template cannot start, or the Deployment
	// controller gave up.
	Failed State = "failed"
	// Interrupted: an update is recorded but no deploy holds the lock; run
	// deploy again to resume it.
	Interrupted State = "interrupted"
	// Missing: the app has no controller in the namespace.
	Missing State = "missing"
)

// Controller is one controller of the app, as it runs.
type Controller struct {
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Images []string `json:"images"`
	// Digests are the image IDs the pods of the current template report,
	// when the kubelet reported any.
	Digests []string `json:"digests,omitempty"`
	Ready   int32    `json:"ready"`
	Desired int32    `json:"desired"`
	State   State    `json:"state"`
	// Reason says why the state is failed, naming a pod.
	Reason     string    `json:"reason,omitempty"`
	DeployedBy string    `json:"deployedBy,omitempty"`
	DeployedAt time.Time `json:"deployedAt,omitempty"`
	// RequestedImage is the image its last deploy was given with --image
	// ("" for the overlay's own).
	RequestedImage string `json:"-"`
}

// Healthy is true when the rollout is steady and every desired pod ready.
func (c Controller) Healthy() bool {
	return c.State == Steady && c.Ready == c.Desired
}

// Read returns the app's ReplicationControllers and Deployments in
// namespace, found by the label appLabel=app. now decides whether a
// deploy Lease is still held.
func Read(ctx context.Context, client kubernetes.Interface, namespace, app, appLabel string, now time.Time) ([]Controller, error) {
	sel := labels.SelectorFromSet(labels.Set{appLabel: app}).String()
	rcs, err := client.CoreV1().ReplicationControllers(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("cannot list the ReplicationControllers of app %q in namespace %q: %w", app, namespace, err)
	}
	var out []Controller
	var lockHeld *bool
	for i := range rcs.Items {
		rc := &rcs.Items[i]
		c := Controller{Kind: "ReplicationController", Name: rc.Name, Desired: ptrOr(rc.Spec.Replicas, 1), Ready: rc.Status.ReadyReplicas, State: Steady}
		if rc.Spec.Template != nil {
			c.Images = images(&rc.Spec.Template.Spec)
		}
		if u, ok := rc.Annotations[rollout.AnnotationUpdate]; ok {
			var st struct {
				Desired *int32 `json:"desired"`
				Paused  bool   `json:"paused"`
			}
			_ = json.Unmarshal([]byte(u), &st)
			if st.Desired != nil {
				c.Desired = *st.Desired
			}
			switch {
			case st.Paused:
				c.State = Paused
			default:
				if lockHeld == nil {
					held := leaseHeld(ctx, client, namespace, app, now)
					lockHeld = &held
				}
				c.State = Interrupted
				if *lockHeld {
					c.State = Updating
				}
			}
		}
		if rc.Status.ObservedGeneration < rc.Generation && c.State == Steady {
			c.State = Updating
		}
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(rc.Spec.Selector).String()})
		if err != nil {
			return nil, fmt.Errorf("cannot list the pods of ReplicationController %q in namespace %q: %w", rc.Name, namespace, err)
		}
		hash := ""
		if rc.Spec.Template != nil {
			hash = rc.Spec.Template.Labels[rollout.TemplateHashLabel]
		}
		var current []corev1.Pod
		for _, p := range pods.Items {
			if hash == "" || p.Labels[rollout.TemplateHashLabel] == hash {
				current = append(current, p)
			}
		}
		if reason := failure(current); reason != "" {
			c.State, c.Reason = Failed, reason
		}
		c.Digests = digests(current)
		c.DeployedBy, c.DeployedAt = deployed(rc.Annotations)
		c.RequestedImage = rc.Annotations[audit.RequestedImage]
		out = append(out, c)
	}

	deps, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("cannot list the Deployments of app %q in namespace %q: %w", app, namespace, err)
	}
	if deps != nil {
		for i := range deps.Items {
			out = append(out, deployment(&deps.Items[i]))
		}
	}
	slices.SortStableFunc(out, func(a, b Controller) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// deployment reads a Deployment's rollout from its status and conditions.
func deployment(d *appsv1.Deployment) Controller {
	c := Controller{Kind: "Deployment", Name: d.Name, Images: images(&d.Spec.Template.Spec), Desired: ptrOr(d.Spec.Replicas, 1), Ready: d.Status.ReadyReplicas, State: Steady}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentProgressing && cond.Status == corev1.ConditionFalse && cond.Reason == "ProgressDeadlineExceeded" {
			c.State, c.Reason = Failed, oneLine(cond.Message)
		}
		if cond.Type == appsv1.DeploymentReplicaFailure && cond.Status == corev1.ConditionTrue {
			c.State, c.Reason = Failed, oneLine(cond.Message)
		}
	}
	if c.State == Steady {
		switch {
		case d.Spec.Paused:
			c.State = Paused
		case d.Status.ObservedGeneration < d.Generation,
			d.Status.UpdatedReplicas < c.Desired,
			d.Status.Replicas > d.Status.UpdatedReplicas,
			d.Status.AvailableReplicas < d.Status.UpdatedReplicas:
			c.State = Updating
		}
	}
	c.DeployedBy, c.DeployedAt = deployed(d.Annotations)
	c.RequestedImage = d.Annotations[audit.RequestedImage]
	return c
}

// failureReasons are the waiting reasons of a container that will not
// start by waiting alone.
var failureReasons = map[string]bool{
	"ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true, "ErrImageNeverPull": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true,
}

// failure names the first pod of pods that cannot start, and why.
func failure(pods []corev1.Pod) string {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && failureReasons[w.Reason] {
				return fmt.Sprintf("pod %s: %s", p.Name, w.Reason)
			}
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				return fmt.Sprintf("pod %s: unschedulable: %s", p.Name, oneLine(cond.Message))
			}
		}
	}
	return ""
}

// digests are the distinct image IDs the pods report.
func digests(pods []corev1.Pod) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if id := cs.ImageID; id != "" && strings.Contains(id, "sha256:") && !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Digest returns the sha256 digest of an image ID such as
// "docker-pullable://registry/web@sha256:abc" ("" if none).
func Digest(imageID string) string {
	if i := strings.Index(imageID, "sha256:"); i >= 0 {
		return imageID[i:]
	}
	return ""
}

// leaseHeld reports whether a deploy holds the app's Lease: it exists, has
// a holder and was renewed within its duration.
func leaseHeld(ctx context.Context, client kubernetes.Interface, namespace, app string, now time.Time) bool {
	l, err := client.CoordinationV1().Leases(namespace).Get(ctx, rollout.LeaseName(app), metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return false
	}
	if l.Spec.RenewTime == nil {
		return true
	}
	d := 30 * time.Second
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return now.Before(l.Spec.RenewTime.Add(d))
}

func deployed(a map[string]string) (string, time.Time) {
	r, ok := audit.FromAnnotations(a)
	if !ok {
		return "", time.Time{}
	}
	return r.User, r.Time
}

func images(spec *corev1.PodSpec) []string {
	out := make([]string, 0, len(spec.Containers))
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return out
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
