package rollout

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/envops/kubectl-envops/pkg/kube"
	"github.com/envops/kubectl-envops/pkg/kube/watcher"
)

// dryRunWrites records the controller writes the server was asked to only
// validate.
func dryRunWrites(c *cluster) *[]*corev1.ReplicationController {
	var mu sync.Mutex
	var seen []*corev1.ReplicationController
	c.cs.PrependReactor("*", "replicationcontrollers", func(a k8stesting.Action) (bool, runtime.Object, error) {
		var obj runtime.Object
		switch a := a.(type) {
		case k8stesting.CreateActionImpl:
			if len(a.CreateOptions.DryRun) > 0 {
				obj = a.GetObject()
			}
		case k8stesting.UpdateActionImpl:
			if len(a.UpdateOptions.DryRun) > 0 {
				obj = a.GetObject()
			}
		}
		if obj != nil {
			mu.Lock()
			seen = append(seen, obj.(*corev1.ReplicationController).DeepCopy())
			mu.Unlock()
		}
		return false, nil, nil
	})
	return &seen
}

func TestServerDryRunHasTheServerValidateTheWrite(t *testing.T) {
	c := started(t, 50, "web:1", 3)
	seen := dryRunWrites(c)
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	res, err := u.Deploy(testCtx(t), webRC("web:2", 3), fast(Options{DryRun: DryRunServer}))
	if err != nil || !res.DryRun || res.Action != ActionRolledOut {
		t.Fatalf("server dry run: %+v, %v", res, err)
	}
	if len(*seen) != 1 || (*seen)[0].Spec.Template.Spec.Containers[0].Image != "web:2" {
		t.Fatalf("dry-run writes %d, want the one update to web:2", len(*seen))
	}
	checkSteady(t, c, "web:1", 3)

	// An unchanged controller needs no write to validate.
	if res, err = u.Deploy(testCtx(t), webRC("web:1", 3), fast(Options{DryRun: DryRunServer})); err != nil || res.Action != ActionUnchanged || len(*seen) != 1 {
		t.Fatalf("server dry run of the same controller: %+v, %v, %d writes", res, err, len(*seen))
	}

	// A new controller is validated by a dry-run create.
	api := webRC("api:1", 2)
	api.Name = "api"
	if res, err = u.Deploy(testCtx(t), api, fast(Options{DryRun: DryRunServer})); err != nil || res.Action != ActionCreated || res.Replicas != 2 {
		t.Fatalf("server dry run of a new controller: %+v, %v", res, err)
	}
	if len(*seen) != 2 || (*seen)[1].Name != "api" || c.rc("api") != nil {
		t.Fatalf("dry-run writes %d; controller api stored: %v", len(*seen), c.rc("api") != nil)
	}
}

func TestServerDryRunRejectionIsReported(t *testing.T) {
	c := started(t, 51, "web:1", 2)
	c.cs.PrependReactor("update", "replicationcontrollers", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: kindRC}, "web", field.ErrorList{field.Invalid(field.NewPath("spec", "template", "spec", "containers").Index(0).Child("image"), "web:2 ", "must not have trailing whitespace")})
	})
	_, err := (&ReplicationControllers{Client: c.cs, Namespace: c.ns}).Deploy(testCtx(t), webRC("web:2 ", 2), fast(Options{DryRun: DryRunServer}))
	if err == nil || !strings.Contains(err.Error(), `the server rejected ReplicationController "web"`) || !strings.Contains(err.Error(), "trailing whitespace") {
		t.Fatalf("err = %v, want the server's rejection", err)
	}
}

func TestReplicationControllerPreviewIsWhatDeployWrites(t *testing.T) {
	c := started(t, 52, "web:1", 3)
	u := &ReplicationControllers{Client: c.cs, Namespace: c.ns}
	live, merged, err := u.Preview(testCtx(t), webRC("web:2", 3), Options{MaxSurge: count(1)})
	if err != nil {
		t.Fatal(err)
	}
	l, m := live.(*corev1.ReplicationController), merged.(*corev1.ReplicationController)
	if l.Kind != kindRC || m.Kind != kindRC || m.APIVersion != "v1" {
		t.Fatalf("kinds %q, %q", l.Kind, m.Kind)
	}
	if l.Spec.Template.Spec.Containers[0].Image != "web:1" || m.Spec.Template.Spec.Containers[0].Image != "web:2" {
		t.Fatal("live and merged templates are not the current and the new one")
	}
	if st := updateStateOf(m); st == nil || st.Desired != 3 || *m.Spec.Replicas != 4 {
		t.Fatalf("merged update state %+v replicas %d, want an update to 3 with one surge pod", st, *m.Spec.Replicas)
	}
	if revs := revisionsOf(m); len(revs) != 1 || revs[0].Images[0] != "web:1" {
		t.Fatalf("merged revisions %+v, want web:1 recorded", revs)
	}
	checkSteady(t, c, "web:1", 3)

	api := webRC("api:1", 2)
	api.Name = "api"
	live, merged, err = u.Preview(testCtx(t), api, Options{})
	if err != nil || live != nil || merged.(*corev1.ReplicationController).Name != "api" {
		t.Fatalf("preview of a new controller: %v, %v, %v", live, merged, err)
	}
	if c.rc("api") != nil {
		t.Fatal("a preview created the controller")
	}
}

func TestMinReadySecondsHoldsOldPodsUntilNewOnesAreAvailable(t *testing.T) {
	c := started(t, 53, "web:1", 2)
	c.mu.Lock()
	c.freshReady = true
	c.mu.Unlock()
	// At every delete of a pod, count the pods that stay available in the
	// sense of minReadySeconds: Ready for at least a second.
	var mu sync.Mutex
	gone := map[string]bool{}
	fewest := 1 << 30
	c.cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		gone[a.(k8stesting.DeleteAction).GetName()] = true
		objs, err := c.cs.Tracker().List(podResource, corev1.SchemeGroupVersion.WithKind("Pod"), c.ns)
		if err != nil {
			return true, nil, err
		}
		n := 0
		for i := range objs.(*corev1.PodList).Items {
			p := &objs.(*corev1.PodList).Items[i]
			if !gone[p.Name] && kube.IsPodActive(p) && podutils.IsPodAvailable(p, 1, metav1.Now()) {
				n++
			}
		}
		fewest = min(fewest, n)
		return false, nil, nil
	})
	if _, err := c.deploy(testCtx(t), "web:2", 2, fast(Options{MaxSurge: count(2), MaxUnavailable: count(0), MinReadySeconds: 1})); err != nil {
		t.Fatal(err)
	}
	checkSteady(t, c, "web:2", 2)
	if got := c.rc("web").Spec.MinReadySeconds; got != 1 {
		t.Fatalf("minReadySeconds %d, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if fewest < 2 {
		t.Fatalf("available pods fell to %d at a delete; new pods Ready for less than minReadySeconds counted as available", fewest)
	}
}

func TestControllerThatCannotCreatePodsFailsAfterTheGrace(t *testing.T) {
	c := started(t, 54, "web:1", 3)
	c.mu.Lock()
	c.podQuota = 3
	c.mu.Unlock()
	_, err := c.deploy(testCtx(t), "web:2", 3, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), FailureGrace: time.Second}))
	var fe *FailedError
	if !errors.As(err, &fe) || !fe.RolledBack || !errors.Is(err, ErrCannotCreatePods) {
		t.Fatalf("err = %v, want a rolled-back update that cannot create pods", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "FailedCreate") || !strings.Contains(msg, "exceeded quota") {
		t.Fatalf("message %q does not say why", msg)
	}
	checkSteady(t, c, "web:1", 3)
}

func TestNoProgressNamesAPodThatIsNotReady(t *testing.T) {
	c := started(t, 55, "web:1", 3)
	// Left in place: the short timeout would also bound a rollback.
	_, err := c.deploy(testCtx(t), "web:stuck", 3, fast(Options{MaxSurge: count(1), MaxUnavailable: count(0), Timeout: 500 * time.Millisecond, NoRollback: true}))
	var fe *FailedError
	if !errors.As(err, &fe) || fe.RolledBack || !errors.Is(err, ErrNoProgress) {
		t.Fatalf("err = %v, want an update without progress, left in place", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "0 of 3 pods on the new template available") || !strings.Contains(msg, "is not Ready (not scheduled)") || !strings.Contains(msg, "pod web-") {
		t.Fatalf("message %q does not name the pod and why", msg)
	}
	if !strings.Contains(msg, "deploy --rollback to undo it") {
		t.Fatalf("message %q does not say how to undo", msg)
	}
	if got := c.images("web"); got["web:1"] != 3 {
		t.Fatalf("pods %v, want the 3 old ones still running", got)
	}
}

func TestRefusedWatchStopsTheUpdateForAResume(t *testing.T) {
	c := started(t, 56, "web:1", 2)
	c.cs.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("RBAC: watch denied"))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.deploy(ctx, "web:2", 2, fast(Options{}))
	var fe *FailedError
	if !errors.As(err, &fe) || fe.RolledBack || !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want the refused watch, not rolled back", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the update waited for its context instead of stopping at the refusal")
	}
	if !strings.Contains(err.Error(), "run deploy again") {
		t.Fatalf("message %q does not say how to resume", err)
	}
	if updateStateOf(c.rc("web")) == nil {
		t.Fatal("the update is not recorded as in progress for a resume")
	}
}

func TestUpdateInProgressAndRenamingTo(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		inProgress  bool
		renaming    string
	}{
		{name: "idle", annotations: map[string]string{AnnotationTemplateHash: "abc"}},
		{name: "this release's update", annotations: map[string]string{AnnotationUpdate: `{"desired":3}`}, inProgress: true},
		{name: "earlier release, first controller", annotations: map[string]string{legacyNextController: "web-def"}, inProgress: true},
		{name: "earlier release, second controller", annotations: map[string]string{legacyOriginalName: "web"}, inProgress: true, renaming: "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := webRC("web:1", 1)
			rc.Annotations = tt.annotations
			if got := UpdateInProgress(rc); got != tt.inProgress {
				t.Errorf("UpdateInProgress = %v, want %v", got, tt.inProgress)
			}
			if got := RenamingTo(rc); got != tt.renaming {
				t.Errorf("RenamingTo = %q, want %q", got, tt.renaming)
			}
		})
	}
}

func TestConnectionEventNamesTheCauseNotTheRequest(t *testing.T) {
	since := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	o := watcher.Outage{Since: since, Err: &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/shop/pods?watch=true",
		Err: errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")}}
	lost := connectionEvent(o)
	if lost.Type != EventNotice || lost.Message != "cannot reach the API server (dial tcp 127.0.0.1:6443: connect: connection refused); the update holds where it is until it answers" {
		t.Errorf("lost: %+v", lost)
	}
	o.Until = since.Add(14*time.Second + 320*time.Millisecond)
	if back := connectionEvent(o); back.Type != EventNotice || back.Message != "the API server answers again after 14.3s out of reach (dial tcp 127.0.0.1:6443: connect: connection refused)" {
		t.Errorf("back: %+v", back)
	}
}
