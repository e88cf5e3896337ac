package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
)

// readyCounter follows a set of pods through one list and then a watch,
// and remembers the fewest Ready, non-terminating pods it saw.
//
// Each watch event is one change in the cluster, so each count taken after
// one is a count the cluster really had. When the watch is lost (an API
// server restart), the counter lists again and takes the new state as a
// whole: the changes a list folds together were never seen one at a time,
// and counting them one by one would invent states that never existed.
// They are counted as unseen instead.
type readyCounter struct {
	mu      sync.Mutex
	pods    map[types.UID]*corev1.Pod
	ready   int
	fewest  int
	started bool
	since   time.Time
	// changes are the latest changes of the count, and atFewest those
	// that led to the fewest, so that a failure can say which pods left.
	changes, atFewest []string
	// unseen counts the pod changes made while the watch was down.
	unseen int
}

// keptChanges bounds what a counter remembers of how its count moved.
const keptChanges = 24

// rewatchPause is how long the counter waits before it tries the API server
// again: short, so that it sees again as soon as the server is back.
const rewatchPause = 50 * time.Millisecond

func watchReady(t *testing.T, cs kubernetes.Interface, ns string) *readyCounter {
	t.Helper()
	return watchReadySelector(t, cs, ns, labels.SelectorFromSet(webLabels).String())
}

// watchReadySelector is watchReady for the pods matching selector.
func watchReadySelector(t *testing.T, cs kubernetes.Interface, ns, selector string) *readyCounter {
	t.Helper()
	c := &readyCounter{pods: map[types.UID]*corev1.Pod{}}
	ctx, cancel := context.WithCancel(context.Background())
	listed := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.follow(ctx, cs.CoreV1().Pods(ns), selector, listed)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-listed:
	case <-time.After(time.Minute):
		t.Fatalf("could not list the pods %s in namespace %s", selector, ns)
	}
	return c
}

// follow lists and watches until ctx ends. A watch that ends is resumed
// from the last change seen; only when the API server no longer holds
// that point does the counter list again.
func (c *readyCounter) follow(ctx context.Context, pods typedcorev1.PodInterface, selector string, listed chan<- struct{}) {
	var once sync.Once
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				pause(ctx)
				continue
			}
			c.replace(list.Items)
			rv = list.ResourceVersion
			once.Do(func() { close(listed) })
		}
		w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			if expired(err) {
				rv = ""
			}
			pause(ctx)
			continue
		}
		rv = c.drain(w, rv)
		w.Stop()
	}
}

// drain applies the events of one watch and returns the resource version
// to resume from, or "" when the server no longer holds it.
func (c *readyCounter) drain(w watch.Interface, rv string) string {
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Error:
			if expired(apierrors.FromObject(ev.Object)) {
				return ""
			}
			return rv
		case watch.Bookmark:
			if p, ok := ev.Object.(*corev1.Pod); ok {
				rv = p.ResourceVersion
			}
		case watch.Added, watch.Modified, watch.Deleted:
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			c.apply(p, ev.Type == watch.Deleted)
			rv = p.ResourceVersion
		}
	}
	return rv
}

func expired(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}

func pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(rewatchPause):
	}
}

// readyOrWhy tells whether a pod counts as Ready, and why not.
func readyOrWhy(p *corev1.Pod) (bool, string) {
	switch {
	case p.DeletionTimestamp != nil:
		return false, "terminating"
	case !podReady(p):
		return false, "not ready"
	}
	return true, "ready"
}

func (c *readyCounter) apply(p *corev1.Pod, gone bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.pods[p.UID]; ok {
		if r, _ := readyOrWhy(prev); r {
			c.ready--
		}
	}
	why := "gone"
	if gone {
		delete(c.pods, p.UID)
	} else {
		c.pods[p.UID] = p
		var r bool
		if r, why = readyOrWhy(p); r {
			c.ready++
		}
	}
	c.note(fmt.Sprintf("%s %s (image %s)", p.Name, why, p.Spec.Containers[0].Image))
}

// replace takes a whole list as the new state, counting the changes it
// holds that no watch event showed.
func (c *readyCounter) replace(items []corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[types.UID]*corev1.Pod, len(items))
	changed, ready := 0, 0
	for i := range items {
		p := &items[i]
		next[p.UID] = p
		if prev, ok := c.pods[p.UID]; !ok || prev.ResourceVersion != p.ResourceVersion {
			changed++
		}
		if r, _ := readyOrWhy(p); r {
			ready++
		}
	}
	for uid := range c.pods {
		if _, ok := next[uid]; !ok {
			changed++
		}
	}
	c.pods, c.ready = next, ready
	if c.started && changed > 0 {
		c.unseen += changed
		c.note(fmt.Sprintf("listed again after the watch was lost: %d pod changes unseen", changed))
	}
}

// note records a change of the count; the caller holds mu.
func (c *readyCounter) note(what string) {
	if !c.started {
		return
	}
	c.changes = append(c.changes, fmt.Sprintf("%7.3fs %s: %d ready", time.Since(c.since).Seconds(), what, c.ready))
	if len(c.changes) > keptChanges {
		c.changes = c.changes[len(c.changes)-keptChanges:]
	}
	if c.ready < c.fewest {
		c.fewest = c.ready
		c.atFewest = slices.Clone(c.changes)
	}
}

// start begins remembering the minimum from the current count.
func (c *readyCounter) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started = true
	c.fewest = c.ready
	c.since = time.Now()
}

func (c *readyCounter) min() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fewest
}

// unseenChanges is how many pod changes happened while the watch was down.
func (c *readyCounter) unseenChanges() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unseen
}

// story tells how the count came down to its fewest, for a failure message.
func (c *readyCounter) story() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "the changes of the Ready count that led to its fewest:\n  " + strings.Join(c.atFewest, "\n  ")
}

// TestReadyCounterCountsEveryEventAndEachListAsOne checks the counter the
// availability tests rely on: a watch event that takes a Ready pod away
// lowers the floor, while a list that swaps old pods for new ones at once
// does not, and counts its changes as unseen.
func TestReadyCounterCountsEveryEventAndEachListAsOne(t *testing.T) {
	pod := func(name string, ready bool) corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), ResourceVersion: "1"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Image: "web:" + name}}},
			Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
		}
	}
	c := &readyCounter{pods: map[types.UID]*corev1.Pod{}}
	c.replace([]corev1.Pod{pod("a", true), pod("b", true), pod("c", true)})
	c.start()
	if c.min() != 3 {
		t.Fatalf("floor %d after listing 3 Ready pods", c.min())
	}
	c.replace([]corev1.Pod{pod("a", true), pod("d", true), pod("e", true)})
	if c.min() != 3 || c.unseenChanges() != 4 {
		t.Errorf("after a list that swapped two pods: floor %d, unseen %d; want 3 and 4", c.min(), c.unseenChanges())
	}
	gone := pod("d", true)
	c.apply(&gone, true)
	notReady := pod("e", false)
	notReady.ResourceVersion = "2"
	c.apply(&notReady, false)
	fresh := pod("f", true)
	c.apply(&fresh, false)
	if c.min() != 1 {
		t.Errorf("after two watch events each taking a Ready pod away: floor %d, want 1\n%s", c.min(), c.story())
	}
}
