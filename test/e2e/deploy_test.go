package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/rollout"
)

// webLabels select the pods of the test app, old and new alike.
var webLabels = map[string]string{"app": "web", "role": "api"}

// baseNodes keeps the app on the dev cluster's own three nodes: other tests
// add nodes and remove them, which would take pods with them.
var baseNodes = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
	RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
		MatchExpressions: []corev1.NodeSelectorRequirement{{
			Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn,
			Values: []string{"dev-node-1", "dev-node-2", "dev-node-3"},
		}},
	}}},
}}

// webRC is the app's ReplicationController as a render would produce it.
func webRC(replicas int32, image string) *corev1.ReplicationController {
	return &corev1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: maps.Clone(webLabels)},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(replicas),
			Selector: maps.Clone(webLabels),
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(webLabels)},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "web", Image: image}},
					Affinity:   baseNodes,
				},
			},
		},
	}
}

// neverReady makes pods that are never scheduled and never fail: a
// scheduling gate nobody removes keeps them Pending.
func neverReady(rc *corev1.ReplicationController) *corev1.ReplicationController {
	rc.Spec.Template.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "envops.io/e2e-hold"}}
	return rc
}

// readyCounter follows every pod change in a namespace and remembers the
// fewest Ready, non-terminating app pods it ever saw.
type readyCounter struct {
	mu      sync.Mutex
	ready   map[types.UID]bool
	fewest  int
	started bool
}

func watchReady(t *testing.T, cs kubernetes.Interface, ns string) *readyCounter {
	t.Helper()
	return watchReadySelector(t, cs, ns, labels.SelectorFromSet(webLabels).String())
}

// watchReadySelector is watchReady for the pods matching selector. The
// informer lists again when its watch drops, so it keeps counting across
// an API server restart.
func watchReadySelector(t *testing.T, cs kubernetes.Interface, ns, selector string) *readyCounter {
	t.Helper()
	rc := &readyCounter{ready: map[types.UID]bool{}}
	f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.LabelSelector = selector }))
	inf := f.Core().V1().Pods().Informer()
	update := func(obj any, gone bool) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				p, _ = d.Obj.(*corev1.Pod)
			}
		}
		if p == nil {
			return
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if gone || p.DeletionTimestamp != nil || !podReady(p) {
			delete(rc.ready, p.UID)
		} else {
			rc.ready[p.UID] = true
		}
		if rc.started {
			rc.fewest = min(rc.fewest, len(rc.ready))
		}
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { update(obj, false) },
		UpdateFunc: func(_, obj any) { update(obj, false) },
		DeleteFunc: func(obj any) { update(obj, true) },
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	f.Start(stop)
	t.Cleanup(func() { close(stop); f.Shutdown() })
	// The handler, not just the cache, must have seen every pod before the count means anything.
	if !cache.WaitForCacheSync(stop, reg.HasSynced) {
		t.Fatal("the pod watch did not sync")
	}
	return rc
}

// start begins remembering the minimum from the current count.
func (c *readyCounter) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	c.fewest = len(c.ready)
}

func (c *readyCounter) min() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fewest
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// events collects what the updater reports.
type events struct {
	mu   sync.Mutex
	list []rollout.Event
	// on, when set, sees every event as it happens.
	on func(rollout.Event)
}

func (e *events) add(ev rollout.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	on := e.on
	e.mu.Unlock()
	if on != nil {
		on(ev)
	}
}

func (e *events) has(typ rollout.EventType, text string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.list {
		if ev.Type == typ && strings.Contains(ev.Message, text) {
			return true
		}
	}
	return false
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var b strings.Builder
	for _, ev := range e.list {
		fmt.Fprintf(&b, "  %s %s %s\n", ev.Type, ev.Controller, ev.Message)
	}
	return b.String()
}

func rcUpdater(cs kubernetes.Interface, ns string, ev *events) *rollout.ReplicationControllers {
	return &rollout.ReplicationControllers{Client: cs, Namespace: ns, Events: ev.add}
}

func intOrPercent(s string) *intstr.IntOrString {
	v := intstr.Parse(s)
	return &v
}

// appPods lists the app's pods that are not terminating.
func appPods(t *testing.T, cs kubernetes.Interface, ns string) []corev1.Pod {
	t.Helper()
	list, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.SelectorFromSet(webLabels).String()})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func podUIDs(pods []corev1.Pod) []string {
	var uids []string
	for _, p := range pods {
		uids = append(uids, string(p.UID))
	}
	slices.Sort(uids)
	return uids
}

// assertSettled checks the end state users care about: one controller under
// the original name, exactly the desired pods, all on image, all owned by it.
func assertSettled(t *testing.T, cs kubernetes.Interface, ns string, replicas int, image string) {
	t.Helper()
	rcs, err := cs.CoreV1().ReplicationControllers(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rc := range rcs.Items {
		names = append(names, rc.Name)
	}
	if len(names) != 1 || names[0] != "web" {
		t.Fatalf("ReplicationControllers = %v, want only web", names)
	}
	web := rcs.Items[0]
	for _, a := range []string{rollout.AnnotationNextController, rollout.AnnotationOriginalReplicas, rollout.AnnotationUpdateSource, rollout.AnnotationOriginalName} {
		if v, ok := web.Annotations[a]; ok {
			t.Errorf("web still carries the update annotation %s=%s", a, v)
		}
	}
	// Pods may still be settling for a moment after the controller was re-created.
	settled := func() bool {
		pods := appPods(t, cs, ns)
		if len(pods) != replicas {
			return false
		}
		for _, p := range pods {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.UID != web.UID || p.Spec.Containers[0].Image != image || !podReady(&p) {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(30 * time.Second); !settled(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			var b strings.Builder
			all, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
			for _, p := range all.Items {
				fmt.Fprintf(&b, "  pod %s image %s ready %v deleting %v owners %v\n", p.Name, p.Spec.Containers[0].Image, podReady(&p), p.DeletionTimestamp != nil, p.OwnerReferences)
			}
			evs, _ := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
			for _, e := range evs.Items {
				fmt.Fprintf(&b, "  event %s/%s %s: %s\n", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
			}
			t.Fatalf("want %d Ready pods of web (uid %s) on %s, have:\n%s", replicas, web.UID, image, b.String())
		}
	}
}

func createByHand(t *testing.T, cs kubernetes.Interface, ns string, rc *corev1.ReplicationController) {
	t.Helper()
	if _, err := cs.CoreV1().ReplicationControllers(ns).Create(t.Context(), rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the hand-made controller's pods Ready", func() bool {
		pods := appPods(t, cs, ns)
		n := 0
		for _, p := range pods {
			if podReady(&p) {
				n++
			}
		}
		return n == int(*rc.Spec.Replicas)
	})
}

func TestRolloutReplicationControllerKeepsPodsAvailable(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	ev := &events{}
	u := rcUpdater(cs, ns, ev)
	ctx := t.Context()

	// An app first deployed by hand, as the old scripts did.
	createByHand(t, cs, ns, webRC(6, "nginx:1.27"))
	before := podUIDs(appPods(t, cs, ns))

	res, err := u.Deploy(ctx, webRC(6, "nginx:1.27"), rollout.Options{})
	if err != nil {
		t.Fatalf("deploy of the live template: %v\nevents:\n%s", err, ev)
	}
	if res.Action == rollout.ActionRolledOut || res.Action == rollout.ActionCreated {
		t.Fatalf("deploy of the live template did %q, want no rollout", res.Action)
	}
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Fatalf("deploy of the live template replaced pods: %v -> %v", before, after)
	}
	res, err = u.Deploy(ctx, webRC(6, "nginx:1.27"), rollout.Options{})
	if err != nil || res.Action != rollout.ActionUnchanged {
		t.Fatalf("second deploy of the same template: action %q, err %v; want unchanged", res.Action, err)
	}

	counter := watchReady(t, cs, ns)
	counter.start()
	o := rollout.Options{MaxSurge: intOrPercent("1"), MaxUnavailable: intOrPercent("2"), Timeout: 2 * time.Minute}
	res, err = u.Deploy(ctx, webRC(6, "nginx:1.28"), o)
	if err != nil {
		t.Fatalf("rolling update: %v\nevents:\n%s", err, ev)
	}
	if res.Action != rollout.ActionRolledOut {
		t.Errorf("action = %q, want %q", res.Action, rollout.ActionRolledOut)
	}
	assertSettled(t, cs, ns, 6, "nginx:1.28")
	if got, floor := counter.min(), 6-2; got < floor {
		t.Errorf("Ready pods fell to %d during the update, below desired-maxUnavailable = %d\nevents:\n%s", got, floor, ev)
	}
	if !ev.has(rollout.EventStep, "renamed") {
		t.Errorf("no rename step reported:\n%s", ev)
	}

	// The renamed controller is a normal starting point for the next update,
	// with surge only, so no pod may ever be missing.
	counter.start()
	o = rollout.Options{MaxSurge: intOrPercent("50%"), MaxUnavailable: intOrPercent("0"), Timeout: 2 * time.Minute}
	if _, err := u.Deploy(ctx, webRC(6, "nginx:1.29"), o); err != nil {
		t.Fatalf("second rolling update: %v\nevents:\n%s", err, ev)
	}
	assertSettled(t, cs, ns, 6, "nginx:1.29")
	if got := counter.min(); got < 6 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}
}

func TestRolloutRollsBackPodsThatNeverBecomeReady(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	ev := &events{}
	u := rcUpdater(cs, ns, ev)
	ctx := t.Context()

	if _, err := u.Deploy(ctx, webRC(4, "nginx:1.27"), rollout.Options{}); err != nil {
		t.Fatal(err)
	}
	counter := watchReady(t, cs, ns)
	counter.start()
	o := rollout.Options{MaxSurge: intOrPercent("1"), MaxUnavailable: intOrPercent("1"), Timeout: 5 * time.Second}
	_, err := u.Deploy(ctx, neverReady(webRC(4, "nginx:broken")), o)
	var fe *rollout.FailedError
	if !errors.As(err, &fe) || !fe.RolledBack {
		t.Fatalf("deploy of pods that never become Ready: err = %v, want a rolled-back failure\nevents:\n%s", err, ev)
	}
	if !errors.Is(err, rollout.ErrNoProgress) {
		t.Errorf("err = %v, want it to say the update made no progress", err)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.27")
	if got := counter.min(); got < 3 {
		t.Errorf("Ready pods fell to %d during the update and rollback, below desired-maxUnavailable = 3", got)
	}
	if !ev.has(rollout.EventRolledBack, "") {
		t.Errorf("no rolled-back event:\n%s", ev)
	}
}

func TestRolloutFailsFastOnUnschedulablePods(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	ev := &events{}
	u := rcUpdater(cs, ns, ev)
	ctx := t.Context()

	if _, err := u.Deploy(ctx, webRC(3, "nginx:1.27"), rollout.Options{}); err != nil {
		t.Fatal(err)
	}
	bad := webRC(3, "nginx:1.28")
	bad.Spec.Template.Spec.NodeSelector = map[string]string{"type": "no-such-node"}
	// The timeout is far away: the failure must come from the pod's state.
	_, err := u.Deploy(ctx, bad, rollout.Options{Timeout: 10 * time.Minute})
	var pf *rollout.PodFailure
	if !errors.As(err, &pf) || pf.Reason != "Unschedulable" || !strings.HasPrefix(pf.Pod, "web-") {
		t.Fatalf("err = %v, want an Unschedulable failure naming a web pod\nevents:\n%s", err, ev)
	}
	var fe *rollout.FailedError
	if !errors.As(err, &fe) || !fe.RolledBack {
		t.Fatalf("err = %v, want the update rolled back", err)
	}
	assertSettled(t, cs, ns, 3, "nginx:1.27")
}

func TestRolloutWithHostPortDoesNotSurge(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	ev := &events{}
	u := rcUpdater(cs, ns, ev)
	ctx := t.Context()

	// One pod per node: a surge pod could not be placed anywhere.
	port := int32(30000 + time.Now().UnixNano()%2000)
	withPort := func(image string) *corev1.ReplicationController {
		rc := webRC(3, image)
		rc.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port}}
		return rc
	}
	if _, err := u.Deploy(ctx, withPort("nginx:1.27"), rollout.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Deploy(ctx, withPort("nginx:1.28"), rollout.Options{Timeout: 2 * time.Minute}); err != nil {
		t.Fatalf("rolling update with a hostPort: %v\nevents:\n%s", err, ev)
	}
	if !ev.has(rollout.EventNotice, fmt.Sprintf("hostPort %d", port)) {
		t.Errorf("the switch to max surge 0 was not reported:\n%s", ev)
	}
	assertSettled(t, cs, ns, 3, "nginx:1.28")
}

// interruptAt returns an event hook that cancels the deploy right after the
// first event that matches.
func interruptAt(cancel context.CancelFunc, match func(rollout.Event) bool) func(rollout.Event) {
	var once sync.Once
	return func(e rollout.Event) {
		if match(e) {
			once.Do(cancel)
		}
	}
}

func TestRolloutResumesAfterInterruption(t *testing.T) {
	points := []struct {
		name  string
		match func(rollout.Event) bool
	}{
		{name: "after creating the new controller", match: func(e rollout.Event) bool {
			return e.Type == rollout.EventStep && strings.HasPrefix(e.Message, "created web-")
		}},
		{name: "mid-way", match: func(e rollout.Event) bool {
			return e.Type == rollout.EventProgress && e.Ready >= 3 && e.Old > 0
		}},
		{name: "after deleting the old controller, before the rename", match: func(e rollout.Event) bool {
			return e.Type == rollout.EventStep && strings.HasPrefix(e.Message, "deleted the old controller")
		}},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			cs := clientset(t, devContext)
			ns := newNamespace(t, devContext)
			ev := &events{}
			u := rcUpdater(cs, ns, ev)
			if _, err := u.Deploy(t.Context(), webRC(6, "nginx:1.27"), rollout.Options{}); err != nil {
				t.Fatal(err)
			}
			counter := watchReady(t, cs, ns)
			counter.start()
			o := rollout.Options{MaxSurge: intOrPercent("1"), MaxUnavailable: intOrPercent("1"), Timeout: 2 * time.Minute}

			ctx, cancel := context.WithCancel(t.Context())
			ev.on = interruptAt(cancel, p.match)
			_, err := u.Deploy(ctx, webRC(6, "nginx:1.28"), o)
			cancel()
			ev.on = nil
			var fe *rollout.FailedError
			if !errors.As(err, &fe) || fe.RolledBack || !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted deploy: err = %v, want an interrupted, not rolled back, update\nevents:\n%s", err, ev)
			}

			res, err := u.Deploy(t.Context(), webRC(6, "nginx:1.28"), o)
			if err != nil {
				t.Fatalf("resumed deploy: %v\nevents:\n%s", err, ev)
			}
			if res.Action != rollout.ActionRolledOut {
				t.Errorf("resumed deploy did %q, want %q", res.Action, rollout.ActionRolledOut)
			}
			if !ev.has(rollout.EventResumed, "") {
				t.Errorf("the second deploy did not say it resumed:\n%s", ev)
			}
			assertSettled(t, cs, ns, 6, "nginx:1.28")
			if got := counter.min(); got < 5 {
				t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 5", got)
			}
		})
	}
}

// TestRolloutAdoptsPodsOrphanedByAnInterruptedRename covers the narrowest
// window: the new controller was deleted with its pods orphaned, and the
// process died before re-creating it under the original name.
func TestRolloutAdoptsPodsOrphanedByAnInterruptedRename(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	ev := &events{}
	u := rcUpdater(cs, ns, ev)
	if _, err := u.Deploy(t.Context(), webRC(4, "nginx:1.27"), rollout.Options{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ev.on = interruptAt(cancel, func(e rollout.Event) bool {
		return e.Type == rollout.EventStep && strings.HasPrefix(e.Message, "deleted the old controller")
	})
	_, err := u.Deploy(ctx, webRC(4, "nginx:1.28"), rollout.Options{Timeout: 2 * time.Minute})
	cancel()
	ev.on = nil
	if err == nil {
		t.Fatal("the interrupted deploy succeeded")
	}
	// Finish the first half of the rename by hand: orphan-delete the new controller.
	rcs, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(rcs.Items) != 1 || rcs.Items[0].Name == "web" {
		t.Fatalf("after the interruption: controllers %v, err %v; want only the new one", rcs, err)
	}
	if err := cs.CoreV1().ReplicationControllers(ns).Delete(t.Context(), rcs.Items[0].Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the new controller gone and its pods orphaned", func() bool {
		l, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
		if l == nil || len(l.Items) != 0 {
			return false
		}
		for _, p := range appPods(t, cs, ns) {
			if metav1.GetControllerOf(&p) != nil {
				return false
			}
		}
		return true
	})
	orphans := podUIDs(appPods(t, cs, ns))

	if _, err := u.Deploy(t.Context(), webRC(4, "nginx:1.28"), rollout.Options{Timeout: 2 * time.Minute}); err != nil {
		t.Fatalf("deploy after the interrupted rename: %v\nevents:\n%s", err, ev)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if got := podUIDs(appPods(t, cs, ns)); !slices.Equal(got, orphans) {
		t.Errorf("the orphaned pods were replaced instead of adopted: %v -> %v", orphans, got)
	}
}

func TestRolloutExplicitRollback(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	ev := &events{}
	u := rcUpdater(cs, ns, ev)
	if _, err := u.Deploy(t.Context(), webRC(4, "nginx:1.27"), rollout.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Rollback(t.Context(), "web", rollout.Options{}); err == nil || !strings.Contains(err.Error(), "nothing to roll back") {
		t.Errorf("rollback with no update in progress: err = %v, want it to say there is nothing to roll back", err)
	}
	counter := watchReady(t, cs, ns)
	counter.start()
	o := rollout.Options{MaxSurge: intOrPercent("1"), MaxUnavailable: intOrPercent("1"), Timeout: 5 * time.Second, NoRollback: true}
	_, err := u.Deploy(t.Context(), neverReady(webRC(4, "nginx:broken")), o)
	var fe *rollout.FailedError
	if !errors.As(err, &fe) || fe.RolledBack {
		t.Fatalf("failed deploy with NoRollback: err = %v, want a failure left in place", err)
	}
	if l, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{}); l == nil || len(l.Items) != 2 {
		t.Fatalf("after a failure left in place, want the old and the new controller, got %v", l)
	}
	res, err := u.Rollback(t.Context(), "web", rollout.Options{Timeout: time.Minute})
	if err != nil || res.Action != rollout.ActionRolledBack {
		t.Fatalf("rollback: action %q, err %v\nevents:\n%s", res.Action, err, ev)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.27")
	if got := counter.min(); got < 3 {
		t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 3", got)
	}
}

func webDeployment(replicas int32, image string) *unstructured.Unstructured {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: maps.Clone(webLabels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(webLabels)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(webLabels)},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "web", Image: image}},
					Affinity:   baseNodes,
				},
			},
		},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		panic(err)
	}
	obj := &unstructured.Unstructured{Object: u}
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(obj.Object, "spec", "template", "metadata", "creationTimestamp")
	return obj
}

func TestDeployDeploymentAndRollBack(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	ev := &events{}
	d := &rollout.Deployments{Client: cs, Namespace: ns, Events: ev.add}
	ctx := t.Context()

	res, err := d.Deploy(ctx, webDeployment(4, "nginx:1.27"), rollout.Options{})
	if err != nil || res.Action != rollout.ActionCreated {
		t.Fatalf("first deploy: action %q, err %v\nevents:\n%s", res.Action, err, ev)
	}
	before := podUIDs(appPods(t, cs, ns))
	res, err = d.Deploy(ctx, webDeployment(4, "nginx:1.27"), rollout.Options{})
	if err != nil || res.Action != rollout.ActionUnchanged {
		t.Fatalf("same deploy again: action %q, err %v", res.Action, err)
	}
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Fatalf("an unchanged deploy replaced pods")
	}
	live, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(live.ManagedFields, func(m metav1.ManagedFieldsEntry) bool {
		return m.Manager == rollout.FieldManager && m.Operation == metav1.ManagedFieldsOperationApply
	}) {
		t.Errorf("the Deployment has no server-side apply entry of field manager %q", rollout.FieldManager)
	}

	counter := watchReady(t, cs, ns)
	counter.start()
	o := rollout.Options{MaxSurge: intOrPercent("1"), MaxUnavailable: intOrPercent("0"), Timeout: 2 * time.Minute}
	res, err = d.Deploy(ctx, webDeployment(4, "nginx:1.28"), o)
	if err != nil || res.Action != rollout.ActionRolledOut {
		t.Fatalf("new image: action %q, err %v\nevents:\n%s", res.Action, err, ev)
	}
	if got := counter.min(); got < 4 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}

	o = rollout.Options{Timeout: 5 * time.Second}
	_, err = d.Deploy(ctx, neverReadyDeployment(webDeployment(4, "nginx:broken")), o)
	var fe *rollout.FailedError
	if !errors.As(err, &fe) || !fe.RolledBack {
		t.Fatalf("deploy of pods that never become Ready: err = %v, want a rolled-back failure\nevents:\n%s", err, ev)
	}
	waitFor(t, time.Minute, "4 Ready pods on nginx:1.28 after the rollback", func() bool {
		pods := appPods(t, cs, ns)
		if len(pods) != 4 {
			return false
		}
		for _, p := range pods {
			if p.Spec.Containers[0].Image != "nginx:1.28" || !podReady(&p) {
				return false
			}
		}
		return true
	})
}

func neverReadyDeployment(obj *unstructured.Unstructured) *unstructured.Unstructured {
	gates := []any{map[string]any{"name": "envops.io/e2e-hold"}}
	if err := unstructured.SetNestedSlice(obj.Object, gates, "spec", "template", "spec", "schedulingGates"); err != nil {
		panic(err)
	}
	return obj
}

// deployProject writes a project whose app "web" is a ReplicationController
// of replicas pods, with environments dev and prod mapped to the two
// clusters and the given namespaces, and declares dev in devNS. It returns
// the project directory.
func deployProject(t *testing.T, devNS, prodNS string, replicas int) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		".envops.yaml": fmt.Sprintf("environments:\n  dev: {context: %s, namespace: %s}\n  prod: {context: %s, namespace: %s, confirm: true}\n",
			devContext, devNS, prodContext, prodNS),
		"apps/web/base/kustomization.yaml": "resources:\n- rc.yaml\nlabels:\n- pairs: {app: web, tier: frontend, role: api}\n  includeTemplates: true\n",
		"apps/web/base/rc.yaml": fmt.Sprintf(`apiVersion: v1
kind: ReplicationController
metadata:
  name: web
spec:
  replicas: %d
  template:
    spec:
      affinity:
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
            - matchExpressions:
              - {key: kubernetes.io/hostname, operator: In, values: [dev-node-1, dev-node-2, dev-node-3]}
      containers:
      - name: web
        image: nginx:1.27
`, replicas),
		"apps/web/overlays/dev/kustomization.yaml":  "resources:\n- ../../base\n",
		"apps/web/overlays/prod/kustomization.yaml": "resources:\n- ../../base\n",
	}
	for p, c := range files {
		writeProjectFile(t, filepath.Join(dir, p), c)
	}
	declareEnvironment(t, devContext, devNS, "dev")
	return dir
}

func writeProjectFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// declareEnvironment creates the environment Secret, as init-env does.
func declareEnvironment(t *testing.T, kubeContext, ns, env string) {
	t.Helper()
	cs := clientset(t, kubeContext)
	_, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "environment", Annotations: boundTo(t, cs)},
		Data:       map[string][]byte{"environment": []byte(env)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// holdPods makes the dev overlay's pods wait forever on a scheduling gate:
// they never become Ready and never report a failure.
func holdPods(t *testing.T, dir string) {
	t.Helper()
	writeProjectFile(t, filepath.Join(dir, "apps/web/overlays/dev/kustomization.yaml"), `resources:
- ../../base
patches:
- target: {kind: ReplicationController, name: web}
  patch: |
    - op: add
      path: /spec/template/spec/schedulingGates
      value: [{name: envops.io/e2e-hold}]
`)
}

// deployKilled runs deploy with -o jsonl and kills the process with SIGKILL
// right after it reports the first event that matches; it reports whether
// that happened before the process ended by itself.
func deployKilled(t *testing.T, dir string, match func(rollout.Event) bool, args ...string) bool {
	t.Helper()
	cmd := exec.Command(filepath.Join(pathDir, "kubectl"), append([]string{"envops", "deploy"}, append(args, "-o", "jsonl")...)...)
	cmd.Dir, cmd.Env = dir, commandEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var e rollout.Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && !killed && match(e) {
			// kubectl execs the plugin, so its pid is the plugin's.
			killed = cmd.Process.Signal(syscall.SIGKILL) == nil
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Logf("deploy ended before the kill point; stderr:\n%s", stderr.String())
	}
	return killed
}

// rcState describes each controller by what a deploy may change (its
// status moves on by itself, so resourceVersions would not do).
func rcState(t *testing.T, cs kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	list, err := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, rc := range list.Items {
		out[rc.Name] = fmt.Sprintf("uid %s generation %d labels %v annotations %v", rc.UID, rc.Generation, rc.Labels, rc.Annotations)
	}
	return out
}

func TestDeployCommandCreatesUpdatesAndRollsBack(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web created (4 replicas)") {
		t.Fatalf("first deploy should create web:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.27")
	before := podUIDs(appPods(t, cs, ns))

	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.27")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web unchanged") {
		t.Fatalf("deploying the same image again should change nothing:\n%s", r)
	}
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Fatalf("an unchanged deploy restarted pods: %v -> %v", before, after)
	}

	// A Deployment beside the ReplicationController would double the pods.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "already runs") {
		t.Fatalf("--kind Deployment over a live ReplicationController should be refused:\n%s", r)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{}); err == nil {
		t.Fatal("the refused deploy created a Deployment")
	}

	// --diff and --dry-run show the update and change nothing.
	state := rcState(t, cs, ns)
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--diff")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "-      - image: nginx:1.27") || !strings.Contains(r.Stdout, "+      - image: nginx:1.28") {
		t.Fatalf("--diff should show the image change:\n%s", r)
	}
	for _, mode := range []string{"client", "server"} {
		r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--dry-run="+mode)
		if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled out") || !strings.Contains(r.Stdout, "dry run") {
			t.Fatalf("--dry-run=%s should report the rollout:\n%s", mode, r)
		}
	}
	if got := rcState(t, cs, ns); !maps.Equal(got, state) {
		t.Fatalf("--diff or --dry-run changed the controllers: %v -> %v", state, got)
	}

	counter := watchReady(t, cs, ns)
	counter.start()
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "1")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled out (4 replicas)") {
		t.Fatalf("the new image should roll out:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if got := counter.min(); got < 3 {
		t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 3", got)
	}

	// Pods that never become Ready: the update times out and is rolled back.
	holdPods(t, dir)
	before = podUIDs(appPods(t, cs, ns))
	counter.start()
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.29", "--max-surge", "1", "--max-unavailable", "0", "--timeout", "5s")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, "rolled back") || !strings.Contains(r.Stderr, "no progress") {
		t.Fatalf("pods that never become Ready should fail, roll back and exit 1:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Errorf("with max unavailable 0 the rollback should keep the old pods: %v -> %v", before, after)
	}
	if got := counter.min(); got < 4 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}

	// With --no-rollback the failure is left for a resume (exit 3), and
	// --rollback undoes it on request.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.29", "--max-surge", "1", "--timeout", "5s", "--no-rollback")
	if r.ExitCode != 3 {
		t.Fatalf("a failure with --no-rollback should exit 3:\n%s", r)
	}
	if got := rcState(t, cs, ns); len(got) != 2 {
		t.Fatalf("after --no-rollback, want the old and the new controller, got %v", got)
	}
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--rollback")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled back") {
		t.Fatalf("--rollback should restore the old pods:\n%s", r)
	}
	assertSettled(t, cs, ns, 4, "nginx:1.28")
}

func TestDeployCommandDeploysADeployment(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Deployment/web created (4 replicas)") {
		t.Fatalf("first deploy should create the Deployment:\n%s", r)
	}
	before := podUIDs(appPods(t, cs, ns))
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Deployment/web unchanged") {
		t.Fatalf("the same deploy again should change nothing:\n%s", r)
	}
	if after := podUIDs(appPods(t, cs, ns)); !slices.Equal(before, after) {
		t.Fatalf("an unchanged deploy restarted pods")
	}
	counter := watchReady(t, cs, ns)
	counter.start()
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--kind", "Deployment", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "0")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "Deployment/web rolled out") {
		t.Fatalf("the new image should roll out:\n%s", r)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.String() != "1" || ru.MaxUnavailable.String() != "0" {
		t.Errorf("the Deployment's strategy is %+v, want max surge 1 and max unavailable 0 from the flags", d.Spec.Strategy)
	}
	if got := counter.min(); got < 4 {
		t.Errorf("Ready pods fell to %d with max unavailable 0", got)
	}
	if l, _ := cs.CoreV1().ReplicationControllers(ns).List(t.Context(), metav1.ListOptions{}); l == nil || len(l.Items) != 0 {
		t.Errorf("deploying a Deployment left ReplicationControllers: %v", l)
	}
}

func TestDeployCommandRefusesTheWrongCluster(t *testing.T) {
	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, ns, 2)
	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev")
	if r.ExitCode != 0 {
		t.Fatalf("deploy to dev:\n%s", r)
	}
	state := rcState(t, cs, ns)

	// The prod overlay, pointed at the dev cluster.
	r = runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "prod", "--context", devContext, "--image", "nginx:1.28", "--yes")
	if r.ExitCode != 1 || !strings.Contains(r.Stderr, `"dev"`) || !strings.Contains(r.Stderr, `"prod"`) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("the prod overlay on the dev cluster should be refused in one line naming both environments:\n%s", r)
	}
	if got := rcState(t, cs, ns); !maps.Equal(got, state) {
		t.Fatalf("the refused deploy changed the controllers: %v -> %v", state, got)
	}
}

func TestDeployCommandResumesAfterKill(t *testing.T) {
	points := []struct {
		name  string
		match func(rollout.Event) bool
	}{
		{name: "after creating the new controller", match: func(e rollout.Event) bool {
			return e.Type == rollout.EventStep && strings.HasPrefix(e.Message, "created web-")
		}},
		{name: "mid-way", match: func(e rollout.Event) bool {
			return e.Type == rollout.EventProgress && e.Ready >= 3 && e.Old > 0
		}},
		{name: "before the rename", match: func(e rollout.Event) bool {
			return e.Type == rollout.EventStep && strings.HasPrefix(e.Message, "deleted the old controller")
		}},
	}
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			cs := clientset(t, devContext)
			ns := newNamespace(t, devContext)
			dir := deployProject(t, ns, "shop", 6)
			if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
				t.Fatalf("first deploy:\n%s", r)
			}
			counter := watchReady(t, cs, ns)
			counter.start()
			args := []string{"web", "--env", "dev", "--image", "nginx:1.28", "--max-surge", "1", "--max-unavailable", "1"}
			if !deployKilled(t, dir, p.match, args...) {
				t.Fatal("the deploy was not killed at the chosen point")
			}
			r := runKubectl(t, dir, "", append([]string{"envops", "deploy"}, args...)...)
			if r.ExitCode != 0 || !strings.Contains(r.Stdout, "ReplicationController/web rolled out") {
				t.Fatalf("the deploy after kill -9 should finish the update:\n%s", r)
			}
			assertSettled(t, cs, ns, 6, "nginx:1.28")
			if got := counter.min(); got < 5 {
				t.Errorf("Ready pods fell to %d, below desired-maxUnavailable = 5", got)
			}
			all, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, pod := range all.Items {
				if pod.DeletionTimestamp == nil && metav1.GetControllerOf(&pod) == nil {
					t.Errorf("pod %s was left without a controller", pod.Name)
				}
			}
		})
	}
}

func TestDeployCommandNotifies(t *testing.T) {
	var mu sync.Mutex
	var texts []string
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var msg struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&msg)
		mu.Lock()
		texts = append(texts, msg.Text)
		mu.Unlock()
	}))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer hanging.Close()
	defer close(release)

	cs := clientset(t, devContext)
	ns := newNamespace(t, devContext)
	dir := deployProject(t, ns, "shop", 4)
	if r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev"); r.ExitCode != 0 {
		t.Fatalf("first deploy:\n%s", r)
	}

	r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", "nginx:1.28", "--notify", ok.URL)
	if r.ExitCode != 0 || strings.Contains(r.Stderr, "warning") {
		t.Fatalf("deploy with a working webhook:\n%s", r)
	}
	mu.Lock()
	got := append([]string(nil), texts...)
	mu.Unlock()
	var phases []string
	for _, text := range got {
		for _, phase := range []string{"deploy started", "deploy done", "%"} {
			if strings.Contains(text, phase) {
				phases = append(phases, phase)
			}
		}
	}
	if len(phases) < 3 || phases[0] != "deploy started" || phases[len(phases)-1] != "deploy done" || !slices.Contains(phases, "%") {
		t.Errorf("the webhook received %q, want started, progress, then done:\n%s", phases, strings.Join(got, "\n"))
	}

	for _, hook := range []struct{ name, url, image string }{{"failing", failing.URL, "nginx:1.29"}, {"hanging", hanging.URL, "nginx:1.30"}} {
		r := runKubectl(t, dir, "", "envops", "deploy", "web", "--env", "dev", "--image", hook.image, "--notify", hook.url)
		if r.ExitCode != 0 || !strings.Contains(r.Stderr, "warning:") || !strings.Contains(r.Stderr, "not delivered") {
			t.Fatalf("a %s webhook should only cost a warning:\n%s", hook.name, r)
		}
		assertSettled(t, cs, ns, 4, hook.image)
	}
}

// countingTransport counts the requests a client sends.
type countingTransport struct {
	base http.RoundTripper
	n    *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

// BenchmarkRollingUpdate30Replicas rolls a 30-replica ReplicationController
// with max surge 3 and max unavailable 0, then the equivalent Deployment
// through its controller, and reports both wall times, their ratio and the
// requests the updater sent.
func BenchmarkRollingUpdate30Replicas(b *testing.B) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: devContext}).ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	var requests atomic.Int64
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{base: rt, n: &requests} })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	o := rollout.Options{MaxSurge: intOrPercent("3"), MaxUnavailable: intOrPercent("0"), Timeout: 5 * time.Minute}
	var rcTime, deployTime time.Duration
	var rcRequests int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-rollout-"}}, metav1.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			if _, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
				break
			} else if time.Now().After(deadline) {
				b.Fatalf("no default ServiceAccount in %s: %v", ns.Name, err)
			}
		}
		rcs := &rollout.ReplicationControllers{Client: cs, Namespace: ns.Name}
		deps := &rollout.Deployments{Client: cs, Namespace: ns.Name}
		if _, err := rcs.Deploy(ctx, webRC(30, "nginx:1.27"), o); err != nil {
			b.Fatal(err)
		}
		dep := webDeployment(30, "nginx:1.27")
		dep.SetName("web-deployment")
		if _, err := deps.Deploy(ctx, dep, o); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		requests.Store(0)
		start := time.Now()
		if _, err := rcs.Deploy(ctx, webRC(30, "nginx:1.28"), o); err != nil {
			b.Fatal(err)
		}
		rcTime += time.Since(start)
		rcRequests += requests.Load()

		start = time.Now()
		dep = webDeployment(30, "nginx:1.28")
		dep.SetName("web-deployment")
		if _, err := deps.Deploy(ctx, dep, o); err != nil {
			b.Fatal(err)
		}
		deployTime += time.Since(start)

		b.StopTimer()
		_ = cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(rcTime.Seconds()/n, "rc-s/op")
	b.ReportMetric(deployTime.Seconds()/n, "deployment-s/op")
	b.ReportMetric(rcTime.Seconds()/deployTime.Seconds(), "rc/deployment")
	b.ReportMetric(float64(rcRequests)/n, "rc-requests/op")
}
