package rollout

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/kube"
)

var (
	deploymentResource = appsv1.SchemeGroupVersion.WithResource("deployments")
	replicaSetResource = appsv1.SchemeGroupVersion.WithResource("replicasets")
)

// depCluster is a fake API server with a simulated Deployment controller,
// ReplicaSet controller and kubelet: each Deployment gets a ReplicaSet per
// pod template (labelled with its pod-template-hash and numbered by
// revision, a template seen before reusing its ReplicaSet), the new
// ReplicaSet is scaled to the desired replicas and the old ones to zero once
// the new pods are all available, and the Deployment's status (observed
// generation, replicas, conditions) is kept as the real controller keeps it.
// A rollout that makes no progress for stuckTicks reports
// ProgressDeadlineExceeded.
type depCluster struct {
	*cluster
	progressStart map[string]int
	stuckTicks    int
}

func newDepCluster(t *testing.T, seed uint64) *depCluster {
	t.Helper()
	c := &cluster{t: t, cs: fake.NewClientset(), ns: "shop", rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), readyAt: map[types.UID]int{}, minAvailable: 1 << 30, name: "web", requests: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	serverWrites(&c.cs.Fake, c.cs.Tracker(), &c.mu)
	return &depCluster{cluster: c, progressStart: map[string]int{}, stuckTicks: 300}
}

func (c *depCluster) run() {
	go func() {
		defer close(c.done)
		for {
			select {
			case <-c.stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
			c.mu.Lock()
			c.tick++
			c.reconcileDeployments()
			c.mu.Unlock()
		}
	}()
	c.t.Cleanup(func() { close(c.stop); <-c.done })
}

func (c *depCluster) deployment(name string) *appsv1.Deployment {
	c.mu.Lock()
	defer c.mu.Unlock()
	obj, err := c.cs.Tracker().Get(deploymentResource, c.ns, name)
	if err != nil {
		return nil
	}
	return obj.(*appsv1.Deployment).DeepCopy()
}

func (c *depCluster) replicaSets() []*appsv1.ReplicaSet {
	objs, err := c.cs.Tracker().List(replicaSetResource, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"), c.ns)
	if err != nil {
		c.t.Errorf("list replicasets: %v", err)
		return nil
	}
	var out []*appsv1.ReplicaSet
	for i := range objs.(*appsv1.ReplicaSetList).Items {
		out = append(out, &objs.(*appsv1.ReplicaSetList).Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func revisionOf(obj metav1.Object) int {
	n, _ := strconv.Atoi(obj.GetAnnotations()[deploymentutil.RevisionAnnotation])
	return n
}

func templateWithoutHash(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	t = *t.DeepCopy()
	delete(t.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(t.Labels) == 0 {
		t.Labels = nil
	}
	return t
}

func (c *depCluster) ownPods(uid types.UID) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range c.pods() {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == uid && kube.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

func (c *depCluster) reconcileDeployments() {
	tracker := c.cs.Tracker()
	objs, err := tracker.List(deploymentResource, appsv1.SchemeGroupVersion.WithKind("Deployment"), c.ns)
	if err != nil {
		return
	}
	for i := range objs.(*appsv1.DeploymentList).Items {
		dep := objs.(*appsv1.DeploymentList).Items[i].DeepCopy()
		var own []*appsv1.ReplicaSet
		var newRS *appsv1.ReplicaSet
		maxRev := 0
		for _, rs := range c.replicaSets() {
			if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != dep.UID {
				continue
			}
			own = append(own, rs)
			maxRev = max(maxRev, revisionOf(rs))
			if equality.Semantic.DeepEqual(templateWithoutHash(rs.Spec.Template), templateWithoutHash(dep.Spec.Template)) {
				newRS = rs
			}
		}
		switch {
		case newRS == nil:
			h := fnv.New32a()
			fmt.Fprintf(h, "%v", dep.Spec.Template)
			hash := fmt.Sprintf("%x", h.Sum32())
			tmpl := dep.Spec.Template.DeepCopy()
			tmpl.Labels = merged(tmpl.Labels, map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash})
			sel := dep.Spec.Selector.DeepCopy()
			sel.MatchLabels = merged(sel.MatchLabels, map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash})
			c.seq++
			newRS = &appsv1.ReplicaSet{
				ObjectMeta: metav1.ObjectMeta{
					Name: dep.Name + "-" + hash, Namespace: c.ns, UID: types.UID(fmt.Sprintf("rs-%d", c.seq)), Labels: tmpl.Labels,
					Annotations:     map[string]string{deploymentutil.RevisionAnnotation: strconv.Itoa(maxRev + 1)},
					OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(dep, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
				},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(int32(0)), Selector: sel, Template: *tmpl},
			}
			if err := tracker.Create(replicaSetResource, newRS, c.ns); err != nil {
				c.t.Errorf("create replicaset: %v", err)
				return
			}
			own = append(own, newRS)
		case revisionOf(newRS) < maxRev:
			// A template seen before is the newest revision again.
			newRS.Annotations[deploymentutil.RevisionAnnotation] = strconv.Itoa(maxRev + 1)
			_ = tracker.Update(replicaSetResource, newRS, c.ns)
		}
		rev := newRS.Annotations[deploymentutil.RevisionAnnotation]
		if dep.Annotations[deploymentutil.RevisionAnnotation] != rev {
			dep.Annotations = merged(dep.Annotations, map[string]string{deploymentutil.RevisionAnnotation: rev})
			_ = tracker.Update(deploymentResource, dep, c.ns)
		}
		desired := ptr.Deref(dep.Spec.Replicas, 1)
		newAvailable := int32(0)
		for _, p := range c.ownPods(newRS.UID) {
			if podReady(p) {
				newAvailable++
			}
		}
		var st appsv1.DeploymentStatus
		for _, rs := range own {
			want := int32(0)
			if rs.UID == newRS.UID {
				want = desired
			} else if newAvailable < desired {
				want = ptr.Deref(rs.Spec.Replicas, 0)
			}
			if ptr.Deref(rs.Spec.Replicas, 0) != want {
				rs.Spec.Replicas = ptr.To(want)
				_ = tracker.Update(replicaSetResource, rs, c.ns)
			}
			n, ready := c.reconcileReplicaSet(rs, want)
			st.Replicas += n
			st.ReadyReplicas += ready
			st.AvailableReplicas += ready
			if rs.UID == newRS.UID {
				st.UpdatedReplicas = n
			}
		}
		st.ObservedGeneration = dep.Generation
		key := fmt.Sprintf("%s/%d", dep.UID, dep.Generation)
		if _, ok := c.progressStart[key]; !ok {
			c.progressStart[key] = c.tick
		}
		complete := st.UpdatedReplicas == desired && st.Replicas == desired && st.AvailableReplicas == desired
		switch {
		case complete:
			st.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}
		case c.tick-c.progressStart[key] > c.stuckTicks:
			st.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: fmt.Sprintf("ReplicaSet %q has timed out progressing.", newRS.Name)}}
		default:
			st.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"}}
		}
		cur, err := tracker.Get(deploymentResource, c.ns, dep.Name)
		if err != nil {
			continue
		}
		d := cur.(*appsv1.Deployment).DeepCopy()
		if !equality.Semantic.DeepEqual(d.Status, st) {
			d.Status = st
			_ = tracker.Update(deploymentResource, d, c.ns)
		}
	}
}

// reconcileReplicaSet creates and deletes pods to match want and runs the
// kubelet on them; it returns the active and the Ready pods.
func (c *depCluster) reconcileReplicaSet(rs *appsv1.ReplicaSet, want int32) (int32, int32) {
	own := c.ownPods(rs.UID)
	for i := int32(len(own)); i < want; i++ {
		c.seq++
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: fmt.Sprintf("%s-%05d", rs.Name, c.seq), Namespace: c.ns, UID: types.UID(fmt.Sprintf("pod-%d", c.seq)),
				Labels: rs.Spec.Template.Labels, CreationTimestamp: metav1.NewTime(time.Unix(int64(c.seq), 0)),
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
			},
			Spec:   *rs.Spec.Template.Spec.DeepCopy(),
			Status: corev1.PodStatus{Phase: corev1.PodPending},
		}
		if err := c.cs.Tracker().Create(podResource, p, c.ns); err != nil {
			c.t.Errorf("create pod: %v", err)
		}
		c.readyAt[p.UID] = c.tick + c.rng.IntN(20)
		own = append(own, p)
	}
	if surplus := len(own) - int(want); surplus > 0 {
		sort.SliceStable(own, func(i, j int) bool { return !podReady(own[i]) && podReady(own[j]) })
		for _, p := range own[:surplus] {
			_ = c.cs.Tracker().Delete(podResource, c.ns, p.Name)
		}
		own = own[surplus:]
	}
	var ready int32
	for _, p := range own {
		if !podReady(p) {
			c.kubelet(p)
		}
		if cur, err := c.cs.Tracker().Get(podResource, c.ns, p.Name); err == nil && podReady(cur.(*corev1.Pod)) {
			ready++
		}
	}
	return int32(len(own)), ready
}

// deployImage applies the web Deployment with image and replicas.
func (c *depCluster) deployImage(ctx context.Context, image string, replicas int32, o Options, events *[]Event) (Result, error) {
	d := &Deployments{Client: c.cs, Namespace: c.ns}
	if events != nil {
		d.Events = func(e Event) { *events = append(*events, e) }
	}
	return d.Deploy(ctx, webDeployment(image, replicas), o)
}

func webDeployment(image string, replicas int32) *unstructured.Unstructured {
	return deployment(func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To(replicas)
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"name": "web-server"}}
		d.Spec.Template = *podTemplate(image)
	})
}

// podsByImage counts the active pods of the namespace by image.
func (c *depCluster) podsByImage() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, p := range c.pods() {
		if kube.IsPodActive(p) {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

// checkRolledOut asserts the web Deployment runs replicas Ready pods of image
// and its status says so.
func (c *depCluster) checkRolledOut(t *testing.T, image string, replicas int32) {
	t.Helper()
	if got := c.podsByImage(); len(got) != 1 || got[image] != int(replicas) {
		t.Fatalf("pods by image %v, want %d of %s", got, replicas, image)
	}
	d := c.deployment("web")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Fatalf("Deployment template image %s, want %s", got, image)
	}
	if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != replicas || d.Status.AvailableReplicas != replicas {
		t.Fatalf("Deployment status %+v at generation %d, want %d updated and available", d.Status, d.Generation, replicas)
	}
}

func eventTypes(events []Event) string {
	var out []string
	for _, e := range events {
		if len(out) == 0 || out[len(out)-1] != string(e.Type) {
			out = append(out, string(e.Type))
		}
	}
	return strings.Join(out, ",")
}
