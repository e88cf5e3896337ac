package rollout

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/envops/kubectl-envops/pkg/kube"
)

// cluster is a fake API server with a simulated replication manager and
// kubelet: it creates and deletes pods to match each controller's replicas
// (not-ready and youngest pods deleted first, as the real one does), adopts
// orphans its selector matches, releases the pods of deleted controllers,
// makes pods Ready after a delay or fail as their image says, and keeps the
// controllers' status. It records the fewest available pods ever seen.
type cluster struct {
	t       *testing.T
	cs      *fake.Clientset
	ns      string
	rng     *rand.Rand
	mu      sync.Mutex
	tick    int
	readyAt map[types.UID]int
	seq     int
	// minAvailable is the fewest available pods of name seen at any change.
	minAvailable int32
	name         string
	// writes counts the updater's writes; onWrite, when set, sees each.
	writes  int
	onWrite func(n int)
	// requests counts every request of the updater by verb and resource.
	requests map[string]int
	stop     chan struct{}
	done     chan struct{}
	// freshReady, when set, dates a pod's Ready condition from the moment
	// it becomes Ready (by default an hour earlier, so minReadySeconds never
	// holds a pod back).
	freshReady bool
	// podQuota, when above zero, is how many active pods the namespace's
	// quota admits; the replication manager creates no more and reports a
	// ReplicaFailure condition, as the real one does.
	podQuota int
}

var rcResource = corev1.SchemeGroupVersion.WithResource("replicationcontrollers")
var podResource = corev1.SchemeGroupVersion.WithResource("pods")

func newCluster(t *testing.T, seed uint64, objs ...runtime.Object) *cluster {
	t.Helper()
	c := &cluster{t: t, cs: fake.NewClientset(objs...), ns: "shop", rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), readyAt: map[types.UID]int{}, minAvailable: 1 << 30, name: "web", requests: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	tracker := c.cs.Tracker()
	react := k8stesting.ObjectReaction(tracker)
	// Every write is applied under the simulation's lock, as the API server
	// serialises writes; a pod delete is where availability could drop, so
	// it is checked there.
	c.cs.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		verb := a.GetVerb()
		c.mu.Lock()
		c.requests[verb+" "+a.GetResource().Resource]++
		if verb == "get" || verb == "list" || verb == "watch" {
			c.mu.Unlock()
			return false, nil, nil
		}
		c.writes++
		n, hook := c.writes, c.onWrite
		if verb == "delete" && a.GetResource().Resource == "pods" {
			c.observeAvailability(a.(k8stesting.DeleteAction).GetName())
		}
		handled, obj, err := c.apply(react, a)
		c.mu.Unlock()
		if hook != nil {
			hook(n)
		}
		return handled, obj, err
	})
	return c
}

// apply performs a write as the API server would: dry runs change nothing,
// and a change of a controller's spec bumps its generation.
func (c *cluster) apply(react k8stesting.ReactionFunc, a k8stesting.Action) (bool, runtime.Object, error) {
	switch a := a.(type) {
	case k8stesting.CreateActionImpl:
		if len(a.CreateOptions.DryRun) > 0 {
			return true, a.GetObject(), nil
		}
		if rc, ok := a.GetObject().(*corev1.ReplicationController); ok {
			rc.Generation = 1
			c.seq++
			rc.UID = types.UID(fmt.Sprintf("rc-%d", c.seq))
		}
	case k8stesting.UpdateActionImpl:
		if len(a.UpdateOptions.DryRun) > 0 {
			return true, a.GetObject(), nil
		}
	}
	var old *corev1.ReplicationController
	if a.GetResource().Resource == "replicationcontrollers" && (a.GetVerb() == "update" || a.GetVerb() == "patch") && a.GetSubresource() == "" {
		var name string
		if pa, ok := a.(k8stesting.PatchAction); ok {
			name = pa.GetName()
		} else if m, err := meta.Accessor(a.(k8stesting.UpdateAction).GetObject()); err == nil {
			name = m.GetName()
		}
		if o, err := c.cs.Tracker().Get(rcResource, a.GetNamespace(), name); err == nil {
			old = o.(*corev1.ReplicationController)
		}
	}
	handled, obj, err := react(a)
	if err != nil || old == nil {
		return handled, obj, err
	}
	rc := obj.(*corev1.ReplicationController).DeepCopy()
	rc.Generation = old.Generation
	if !equality.Semantic.DeepEqual(old.Spec, rc.Spec) {
		rc.Generation++
	}
	if err := c.cs.Tracker().Update(rcResource, rc, rc.Namespace); err != nil {
		return true, nil, err
	}
	return true, rc, nil
}

// run starts the simulated controllers; they stop with the test.
func (c *cluster) run() {
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
			c.reconcile()
			c.mu.Unlock()
		}
	}()
	c.t.Cleanup(func() { close(c.stop); <-c.done })
}

func (c *cluster) pods() []*corev1.Pod {
	objs, err := c.cs.Tracker().List(podResource, corev1.SchemeGroupVersion.WithKind("Pod"), c.ns)
	if err != nil {
		c.t.Errorf("list pods: %v", err)
		return nil
	}
	var out []*corev1.Pod
	for i := range objs.(*corev1.PodList).Items {
		out = append(out, &objs.(*corev1.PodList).Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c *cluster) rcs() []*corev1.ReplicationController {
	objs, err := c.cs.Tracker().List(rcResource, corev1.SchemeGroupVersion.WithKind("ReplicationController"), c.ns)
	if err != nil {
		c.t.Errorf("list rcs: %v", err)
		return nil
	}
	var out []*corev1.ReplicationController
	for i := range objs.(*corev1.ReplicationControllerList).Items {
		out = append(out, &objs.(*corev1.ReplicationControllerList).Items[i])
	}
	return out
}

func podReady(p *corev1.Pod) bool { return isReady(p) }

// observeAvailability records the available pods of c.name's controller
// as they are once the named pod (if any) is gone.
func (c *cluster) observeAvailability(deleting string) {
	var uid types.UID
	for _, rc := range c.rcs() {
		if rc.Name == c.name {
			uid = rc.UID
		}
	}
	if uid == "" {
		return
	}
	var n int32
	for _, p := range c.pods() {
		if p.Name != deleting && kube.IsPodActive(p) && podReady(p) {
			n++
		}
	}
	c.minAvailable = min(c.minAvailable, n)
}

func (c *cluster) reconcile() {
	tracker := c.cs.Tracker()
	rcs := c.rcs()
	byUID := map[types.UID]*corev1.ReplicationController{}
	for _, rc := range rcs {
		byUID[rc.UID] = rc
	}
	pods := c.pods()
	// The garbage collector releases the pods of deleted controllers, and
	// each controller adopts orphans its selector matches.
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref != nil && byUID[ref.UID] == nil {
			p.OwnerReferences = nil
			_ = tracker.Update(podResource, p, c.ns)
			ref = nil
		}
		if ref == nil {
			for _, rc := range rcs {
				if labels.SelectorFromSet(rc.Spec.Selector).Matches(labels.Set(p.Labels)) {
					p.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(rc, corev1.SchemeGroupVersion.WithKind("ReplicationController"))}
					_ = tracker.Update(podResource, p, c.ns)
					break
				}
			}
		}
	}
	for _, rc := range rcs {
		var own []*corev1.Pod
		for _, p := range c.pods() {
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rc.UID && kube.IsPodActive(p) {
				own = append(own, p)
			}
		}
		want := ptr.Deref(rc.Spec.Replicas, 1)
		var quotaFailure []corev1.ReplicationControllerCondition
		for i := int32(len(own)); i < want; i++ {
			if c.podQuota > 0 && c.activePods() >= c.podQuota {
				quotaFailure = []corev1.ReplicationControllerCondition{{Type: corev1.ReplicationControllerReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate", Message: "pods \"web\" is forbidden: exceeded quota: pods"}}
				break
			}
			c.seq++
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Name: fmt.Sprintf("%s-%05d", rc.Name, c.seq), Namespace: c.ns, UID: types.UID(fmt.Sprintf("pod-%d", c.seq)),
					Labels: rc.Spec.Template.Labels, Annotations: rc.Spec.Template.Annotations,
					CreationTimestamp: metav1.NewTime(time.Unix(int64(c.seq), 0)),
					OwnerReferences:   []metav1.OwnerReference{*metav1.NewControllerRef(rc, corev1.SchemeGroupVersion.WithKind("ReplicationController"))},
				},
				Spec:   *rc.Spec.Template.Spec.DeepCopy(),
				Status: corev1.PodStatus{Phase: corev1.PodPending},
			}
			if err := tracker.Create(podResource, p, c.ns); err != nil {
				c.t.Errorf("create pod: %v", err)
			}
			c.readyAt[p.UID] = c.tick + c.rng.IntN(20)
			own = append(own, p)
		}
		if surplus := int32(len(own)) - want; surplus > 0 {
			// Not-ready pods go first, then the youngest.
			sort.SliceStable(own, func(i, j int) bool {
				ri, rj := podReady(own[i]), podReady(own[j])
				if ri != rj {
					return !ri
				}
				return own[i].CreationTimestamp.After(own[j].CreationTimestamp.Time)
			})
			for _, p := range own[:surplus] {
				if rc.Name == c.name {
					c.observeAvailability(p.Name)
				}
				_ = tracker.Delete(podResource, c.ns, p.Name)
			}
			own = own[surplus:]
		}
		// The kubelet: pods become Ready, or fail as their image says.
		var ready int32
		for _, p := range own {
			if !podReady(p) {
				c.kubelet(p)
			}
			if podReady(p) {
				ready++
			}
		}
		cur, err := tracker.Get(rcResource, c.ns, rc.Name)
		if err != nil {
			continue
		}
		st := cur.(*corev1.ReplicationController).DeepCopy()
		st.Status = corev1.ReplicationControllerStatus{Replicas: int32(len(own)), ReadyReplicas: ready, AvailableReplicas: ready, FullyLabeledReplicas: int32(len(own)), ObservedGeneration: st.Generation, Conditions: quotaFailure}
		if !equality.Semantic.DeepEqual(st.Status, cur.(*corev1.ReplicationController).Status) {
			_ = tracker.Update(rcResource, st, c.ns)
		}
	}
}

// kubelet moves a pod towards Ready, or into the failure its image names:
// "notfound" (the image does not exist), "pullbackoff" (a registry error),
// "crash" (a crash loop), "flaky" (crashes for a while, then runs).
func (c *cluster) kubelet(p *corev1.Pod) {
	image := p.Spec.Containers[0].Image
	var waiting *corev1.ContainerStateWaiting
	switch {
	case strings.Contains(image, "notfound"):
		waiting = &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "rpc error: manifest for " + image + " not found"}
	case strings.Contains(image, "pullbackoff"):
		waiting = &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image " + image + ": connection refused"}
	case strings.Contains(image, "crash"):
		waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting failed container"}
	case strings.Contains(image, "flaky") && c.tick < c.readyAt[p.UID]+40:
		waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting failed container"}
	case strings.Contains(image, "stuck"), c.tick < c.readyAt[p.UID]:
		// "stuck" pods are never scheduled.
		return
	}
	p = p.DeepCopy()
	p.Spec.NodeName = "node-1"
	if waiting != nil {
		if p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) > 0 {
			return
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, State: corev1.ContainerState{Waiting: waiting}}}
	} else {
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		readySince := time.Now().Add(-time.Hour)
		if c.freshReady {
			readySince = time.Now()
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(readySince)}}
	}
	_ = c.cs.Tracker().Update(podResource, p, c.ns)
}

// activePods counts the namespace's active pods, as a pod quota does.
func (c *cluster) activePods() int {
	n := 0
	for _, p := range c.pods() {
		if kube.IsPodActive(p) {
			n++
		}
	}
	return n
}

// rc is the controller named name as the fake holds it.
func (c *cluster) rc(name string) *corev1.ReplicationController {
	obj, err := c.cs.Tracker().Get(rcResource, c.ns, name)
	if err != nil {
		return nil
	}
	return obj.(*corev1.ReplicationController)
}

// images counts the active pods of the named controller by image.
func (c *cluster) images(name string) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	rc := c.rc(name)
	out := map[string]int{}
	if rc == nil {
		return out
	}
	for _, p := range c.pods() {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rc.UID && kube.IsPodActive(p) {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

// podUIDs lists the active pods' UIDs by image.
func (c *cluster) podUIDs() map[types.UID]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[types.UID]string{}
	for _, p := range c.pods() {
		if kube.IsPodActive(p) {
			out[p.UID] = p.Spec.Containers[0].Image
		}
	}
	return out
}

func webRC(image string, replicas int32) *corev1.ReplicationController {
	return &corev1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr.To(replicas),
			Selector: map[string]string{"name": "web-server"},
			Template: &corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"name": "web-server", "app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
			},
		},
	}
}

func podTemplate(image string) *corev1.PodTemplateSpec {
	return webRC(image, 1).Spec.Template
}

// settle deploys image with generous limits and fails the test on error.
func (c *cluster) deploy(ctx context.Context, image string, replicas int32, o Options) (Result, error) {
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	return u.Deploy(ctx, webRC(image, replicas), o)
}

// defaulted mimics what the API server adds to a stored pod template.
func defaulted(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	d := t.DeepCopy()
	d.Spec.RestartPolicy = corev1.RestartPolicyAlways
	d.Spec.DNSPolicy = corev1.DNSClusterFirst
	d.Spec.SchedulerName = "default-scheduler"
	for i := range d.Spec.Containers {
		d.Spec.Containers[i].ImagePullPolicy = corev1.PullIfNotPresent
		d.Spec.Containers[i].TerminationMessagePath = "/dev/termination-log"
	}
	return d
}

type (
	k8sAction     = k8stesting.Action
	k8sUpdate     = k8stesting.UpdateAction
	runtimeObject = runtime.Object
)

func typesUID(s string) types.UID { return types.UID(s) }
