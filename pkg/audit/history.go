package audit

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Event fields that mark the deploy records this plugin writes.
const (
	// EventReason is the reason of a deploy Event.
	EventReason = "Deployed"
	// ReportingController names the plugin as the Event's reporter.
	ReportingController = "envops.io/kubectl-envops"
	// AppAnnotation names the app on a deploy Event.
	AppAnnotation = "envops.io/app"
)

// Entry is one past deploy of an app.
type Entry struct {
	Record
	// Controller is the object deployed, as kind/name.
	Controller string `json:"controller"`
	Namespace  string `json:"namespace"`
	// Revision is the Deployment revision, when the entry is a ReplicaSet.
	Revision string `json:"revision,omitempty"`
	// Source says where the record was found: controller, replicaset or event.
	Source string `json:"source"`
}

// DeployEvent returns the Event that records a deploy of app to the
// controller obj (kind is its Kind), so that history outlives the old
// controller a rolling update deletes.
func DeployEvent(app, kind string, obj metav1.Object, r Record) *corev1.Event {
	now := metav1.NewTime(r.Time)
	if r.Time.IsZero() {
		now = metav1.Now()
	}
	ann := r.Annotations()
	ann[AppAnnotation] = app
	msg := fmt.Sprintf("%s deployed %s to %s", r.User, r.Image, r.Environment)
	if r.Cause != "" {
		msg += ": " + r.Cause
	}
	apiVersion := "v1"
	if kind == "Deployment" {
		apiVersion = "apps/v1"
	}
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: obj.GetName() + ".envops-", Namespace: obj.GetNamespace(), Annotations: ann},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: apiVersion, Kind: kind, Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(),
		},
		Reason:              EventReason,
		Message:             msg,
		Type:                corev1.EventTypeNormal,
		Source:              corev1.EventSource{Component: FieldManager},
		ReportingController: ReportingController,
		ReportingInstance:   FieldManager,
		Action:              "Deploy",
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
	}
}

// RecordDeploy writes the Event of DeployEvent.
func RecordDeploy(ctx context.Context, client kubernetes.Interface, app, kind string, obj metav1.Object, r Record) error {
	ev := DeployEvent(app, kind, obj, r)
	if _, err := client.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("cannot record the deploy of %q as an Event: %w", app, err)
	}
	return nil
}

// History lists the deploys of app in namespace, newest first, from the
// records on its ReplicationControllers and Deployments, on the
// ReplicaSets that keep a Deployment's old revisions, and on the deploy
// Events. The same deploy found in several places is listed once.
func History(ctx context.Context, client kubernetes.Interface, namespace, app, appLabel string) ([]Entry, error) {
	sel := labels.SelectorFromSet(labels.Set{appLabel: app}).String()
	var out []Entry
	rcs, err := client.CoreV1().ReplicationControllers(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("cannot list the ReplicationControllers of app %q in namespace %q: %w", app, namespace, err)
	}
	for _, rc := range rcs.Items {
		if r, ok := FromAnnotations(rc.Annotations); ok {
			out = append(out, Entry{Record: r, Controller: "ReplicationController/" + rc.Name, Namespace: namespace, Source: "controller"})
		}
	}
	deps, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil && !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("cannot list the Deployments of app %q in namespace %q: %w", app, namespace, err)
	}
	if deps != nil && len(deps.Items) > 0 {
		for _, d := range deps.Items {
			if r, ok := FromAnnotations(d.Annotations); ok {
				out = append(out, Entry{Record: r, Controller: "Deployment/" + d.Name, Namespace: namespace, Revision: d.Annotations[revisionAnnotation], Source: "controller"})
			}
		}
		rss, err := client.AppsV1().ReplicaSets(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("cannot list the ReplicaSets of app %q in namespace %q: %w", app, namespace, err)
		}
		for _, rs := range rss.Items {
			owner := ownerDeployment(&rs)
			if owner == "" {
				continue
			}
			if r, ok := FromAnnotations(rs.Annotations); ok {
				out = append(out, Entry{Record: r, Controller: "Deployment/" + owner, Namespace: namespace, Revision: rs.Annotations[revisionAnnotation], Source: "replicaset"})
			}
		}
	}
	events, err := client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", EventReason).String()})
	if err != nil {
		return nil, fmt.Errorf("cannot list the deploy Events of app %q in namespace %q: %w", app, namespace, err)
	}
	for _, ev := range events.Items {
		if ev.Annotations[AppAnnotation] != app {
			continue
		}
		if r, ok := FromAnnotations(ev.Annotations); ok {
			out = append(out, Entry{Record: r, Controller: ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name, Namespace: namespace, Source: "event"})
		}
	}
	return dedupe(out), nil
}

const revisionAnnotation = "deployment.kubernetes.io/revision"

func ownerDeployment(rs *appsv1.ReplicaSet) string {
	if ref := metav1.GetControllerOf(rs); ref != nil && ref.Kind == "Deployment" {
		return ref.Name
	}
	return ""
}

// dedupe keeps one entry per deploy (same time, user and image), preferring
// the live controller's, and sorts newest first.
func dedupe(in []Entry) []Entry {
	type key struct {
		at          time.Time
		user, image string
	}
	rank := map[string]int{"controller": 0, "replicaset": 1, "event": 2}
	best := map[key]int{}
	var out []Entry
	for _, e := range in {
		k := key{e.Time.UTC(), e.User, e.Image}
		i, seen := best[k]
		switch {
		case !seen:
			best[k] = len(out)
			out = append(out, e)
		case rank[e.Source] < rank[out[i].Source]:
			if e.Revision == "" {
				e.Revision = out[i].Revision
			}
			out[i] = e
		case out[i].Revision == "" && e.Revision != "":
			out[i].Revision = e.Revision
		}
	}
	// Newest first; entries of the same time keep the order they were found in.
	slices.SortStableFunc(out, func(a, b Entry) int { return b.Time.Compare(a.Time) })
	return out
}
