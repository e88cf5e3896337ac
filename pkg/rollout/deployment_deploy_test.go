package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
)

// startedDeployment is a cluster running the web Deployment at image.
func startedDeployment(t *testing.T, seed uint64, image string, replicas int32) *depCluster {
	t.Helper()
	c := newDepCluster(t, seed)
	c.run()
	res, err := c.deployImage(testCtx(t), image, replicas, fast(Options{}), nil)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if res.Action != ActionCreated || res.Replicas != replicas || res.DryRun {
		t.Fatalf("create: %+v", res)
	}
	c.checkRolledOut(t, image, replicas)
	return c
}

func TestDeploymentRollsOutAndWaitsForTheController(t *testing.T) {
	c := startedDeployment(t, 31, "web:1", 4)
	var events []Event
	res, err := c.deployImage(testCtx(t), "web:2", 4, fast(Options{}), &events)
	if err != nil {
		t.Fatal(err)
	}
	if res.Action != ActionRolledOut || res.Replicas != 4 {
		t.Fatalf("result %+v, want rolled out with 4", res)
	}
	// Deploy returned only once the controller said so.
	c.checkRolledOut(t, "web:2", 4)
	if got := eventTypes(events); !strings.HasPrefix(got, "started,progress") || !strings.HasSuffix(got, "done") {
		t.Fatalf("events %s", got)
	}
	if !strings.Contains(events[0].Message, "web:2") || events[0].Kind != kindDeployment || events[0].Name != "web" || events[0].Namespace != "shop" {
		t.Fatalf("started event %+v", events[0])
	}

	// The same Deployment again changes nothing and says so at once.
	before := c.deployment("web")
	events = nil
	res, err = c.deployImage(testCtx(t), "web:2", 4, fast(Options{}), &events)
	if err != nil || res.Action != ActionUnchanged || res.Replicas != 4 {
		t.Fatalf("deploy again: %+v, %v; want unchanged with 4 available", res, err)
	}
	if after := c.deployment("web"); after.Generation != before.Generation {
		t.Fatalf("an unchanged deploy moved the generation from %d to %d", before.Generation, after.Generation)
	}
	if got := eventTypes(events); got != "started,done" {
		t.Fatalf("events of an unchanged deploy: %s", got)
	}

	// More replicas of the same template: updated, no pod replaced.
	res, err = c.deployImage(testCtx(t), "web:2", 6, fast(Options{}), nil)
	if err != nil || res.Action != ActionUpdated || res.Replicas != 6 {
		t.Fatalf("scale: %+v, %v", res, err)
	}
	c.checkRolledOut(t, "web:2", 6)
}

func TestDeploymentFailingImageRollsBackToThePreviousRevision(t *testing.T) {
	c := startedDeployment(t, 32, "web:1", 3)
	var events []Event
	_, err := c.deployImage(testCtx(t), "web:notfound", 3, fast(Options{FailureGrace: time.Hour}), &events)
	var fe *FailedError
	if !errors.As(err, &fe) || !fe.RolledBack || fe.Kind != kindDeployment || fe.Name != "web" {
		t.Fatalf("err = %v, want a rolled-back FailedError of Deployment web", err)
	}
	var pf *PodFailure
	if !errors.As(err, &pf) || !pf.Definite || !strings.HasPrefix(pf.Pod, "web-") || pf.Reason != "ErrImagePull" {
		t.Fatalf("err = %v, want the failing pod and its reason", err)
	}
	if msg := err.Error(); !strings.Contains(msg, `update of Deployment "web" failed and was rolled back`) || !strings.Contains(msg, "not found") {
		t.Fatalf("message %q", msg)
	}
	c.checkRolledOut(t, "web:1", 3)
	if got := eventTypes(events); !strings.Contains(got, "failed,rolling back") || !strings.HasSuffix(got, "rolled back") {
		t.Fatalf("events %s", got)
	}
}

func TestDeploymentFailureWithNoRollbackIsLeftInPlace(t *testing.T) {
	c := startedDeployment(t, 33, "web:1", 2)
	_, err := c.deployImage(testCtx(t), "web:notfound", 2, fast(Options{NoRollback: true}), nil)
	var fe *FailedError
	if !errors.As(err, &fe) || fe.RolledBack {
		t.Fatalf("err = %v, want a FailedError left in place", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, `update of Deployment "web" failed: `) {
		t.Fatalf("message %q", msg)
	}
	if got := c.deployment("web").Spec.Template.Spec.Containers[0].Image; got != "web:notfound" {
		t.Fatalf("template image %s, want the failed one left in place", got)
	}
}

func TestDeploymentFirstDeployFailingHasNothingToRollBackTo(t *testing.T) {
	c := newDepCluster(t, 34)
	c.run()
	_, err := c.deployImage(testCtx(t), "web:notfound", 2, fast(Options{}), nil)
	var fe *FailedError
	if !errors.As(err, &fe) || fe.RolledBack {
		t.Fatalf("err = %v, want a FailedError not rolled back", err)
	}
	if c.deployment("web") == nil {
		t.Fatal("the Deployment was removed")
	}
}

func TestDeploymentProgressDeadlineRollsBack(t *testing.T) {
	c := startedDeployment(t, 35, "web:1", 2)
	c.mu.Lock()
	c.stuckTicks = 50
	c.mu.Unlock()
	_, err := c.deployImage(testCtx(t), "web:stuck", 2, fast(Options{}), nil)
	var fe *FailedError
	if !errors.As(err, &fe) || !fe.RolledBack || !errors.Is(err, errDeadlineExceeded) {
		t.Fatalf("err = %v, want a rollout past its deadline, rolled back", err)
	}
	if !strings.Contains(err.Error(), "progress deadline") {
		t.Fatalf("message %q does not name the deadline", err)
	}
	c.checkRolledOut(t, "web:1", 2)
}

func TestDeploymentWithoutProgressTimesOut(t *testing.T) {
	c := startedDeployment(t, 36, "web:1", 2)
	c.mu.Lock()
	c.stuckTicks = 1 << 30
	c.mu.Unlock()
	_, err := c.deployImage(testCtx(t), "web:stuck", 2, fast(Options{Timeout: 300 * time.Millisecond, NoRollback: true}), nil)
	if !errors.Is(err, ErrNoProgress) || !strings.Contains(err.Error(), "300ms") {
		t.Fatalf("err = %v, want no progress for 300ms", err)
	}
}

func TestDeploymentRollback(t *testing.T) {
	c := startedDeployment(t, 37, "web:1", 3)
	if _, err := c.deployImage(testCtx(t), "web:2", 3, fast(Options{}), nil); err != nil {
		t.Fatal(err)
	}
	d := &Deployments{Client: c.cs, Namespace: c.ns}
	res, err := d.Rollback(testCtx(t), "web", fast(Options{DryRun: DryRunClient}))
	if err != nil || !res.DryRun || res.Action != ActionRolledBack {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if got := c.deployment("web").Spec.Template.Spec.Containers[0].Image; got != "web:2" {
		t.Fatalf("a dry-run rollback changed the template to %s", got)
	}
	res, err = d.Rollback(testCtx(t), "web", fast(Options{}))
	if err != nil || res.Action != ActionRolledBack || res.Replicas != 3 {
		t.Fatalf("rollback: %+v, %v", res, err)
	}
	c.checkRolledOut(t, "web:1", 3)

	for _, o := range []Options{{}, {DryRun: DryRunClient}} {
		_, err = d.Rollback(testCtx(t), "shop-front", fast(o))
		if err == nil || !strings.Contains(err.Error(), `cannot read Deployment "shop-front" in namespace "shop"`) {
			t.Fatalf("rollback of a missing Deployment (dry run %d): %v", o.DryRun, err)
		}
	}
}

func TestDeploymentDryRunsChangeNothing(t *testing.T) {
	c := startedDeployment(t, 38, "web:1", 2)
	d := &Deployments{Client: c.cs, Namespace: c.ns}
	before := c.deployment("web")
	for _, mode := range []DryRun{DryRunClient, DryRunServer} {
		res, err := d.Deploy(testCtx(t), webDeployment("web:2", 2), fast(Options{DryRun: mode}))
		if err != nil || !res.DryRun || res.Action != ActionRolledOut || res.Replicas != 2 {
			t.Fatalf("dry run %d: %+v, %v", mode, res, err)
		}
		after := c.deployment("web")
		if after.ResourceVersion != before.ResourceVersion || after.Spec.Template.Spec.Containers[0].Image != "web:1" {
			t.Fatalf("dry run %d changed the Deployment", mode)
		}
	}
	for _, mode := range []DryRun{DryRunClient, DryRunServer} {
		obj := webDeployment("web:1", 2)
		obj.SetName("api")
		res, err := d.Deploy(testCtx(t), obj, fast(Options{DryRun: mode}))
		if err != nil || !res.DryRun || res.Action != ActionCreated {
			t.Fatalf("dry run %d of a new Deployment: %+v, %v", mode, res, err)
		}
		if c.deployment("api") != nil {
			t.Fatalf("dry run %d created the Deployment", mode)
		}
	}
}

func TestDeploymentRefusesWhatIsNotOne(t *testing.T) {
	d := &Deployments{Client: newDepCluster(t, 39).cs, Namespace: "shop"}
	notOne := webDeployment("web:1", 1)
	notOne.SetKind("StatefulSet")
	if _, err := d.Deploy(testCtx(t), notOne, Options{}); err == nil || !strings.Contains(err.Error(), `StatefulSet "web" is not an apps/v1 Deployment`) {
		t.Fatalf("StatefulSet: %v", err)
	}
	unnamed := webDeployment("web:1", 1)
	unnamed.SetName("")
	if _, err := d.Deploy(testCtx(t), unnamed, Options{}); err == nil || !strings.Contains(err.Error(), "set metadata.name") {
		t.Fatalf("no name: %v", err)
	}
	recreate := webDeployment("web:1", 1)
	recreate.Object["spec"].(map[string]any)["strategy"] = map[string]any{"type": "Recreate"}
	if _, err := d.Deploy(testCtx(t), recreate, Options{MaxSurge: count(1)}); err == nil || !strings.Contains(err.Error(), "Recreate") {
		t.Fatalf("Recreate with a surge: %v", err)
	}
}

func TestDeploymentWatchRefusedFailsWithoutRollback(t *testing.T) {
	c := startedDeployment(t, 40, "web:1", 2)
	c.cs.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "", errors.New("RBAC: access denied"))
	})
	_, err := c.deployImage(testCtx(t), "web:2", 2, fast(Options{}), nil)
	var fe *FailedError
	if !errors.As(err, &fe) || fe.RolledBack || !apierrors.IsForbidden(err) {
		t.Fatalf("err = %v, want the refused watch, not rolled back", err)
	}
	if !strings.Contains(err.Error(), `Deployment "web"`) {
		t.Fatalf("message %q does not name the Deployment", err)
	}
}

func TestDeploymentPreview(t *testing.T) {
	c := startedDeployment(t, 41, "web:1", 2)
	d := &Deployments{Client: c.cs, Namespace: c.ns}
	live, merged, err := d.Preview(testCtx(t), webDeployment("web:2", 5), Options{MaxSurge: count(1)})
	if err != nil {
		t.Fatal(err)
	}
	l, m := live.(*appsv1.Deployment), merged.(*appsv1.Deployment)
	if l.Kind != "Deployment" || m.Kind != "Deployment" || m.APIVersion != "apps/v1" {
		t.Fatalf("kinds %q, %q", l.Kind, m.Kind)
	}
	if l.Spec.Template.Spec.Containers[0].Image != "web:1" || m.Spec.Template.Spec.Containers[0].Image != "web:2" || *m.Spec.Replicas != 5 {
		t.Fatalf("live %s, merged %s x%d", l.Spec.Template.Spec.Containers[0].Image, m.Spec.Template.Spec.Containers[0].Image, *m.Spec.Replicas)
	}
	if ru := m.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.IntValue() != 1 {
		t.Fatalf("merged strategy %+v, want the max surge asked for", m.Spec.Strategy)
	}
	if got := c.deployment("web"); got.Spec.Template.Spec.Containers[0].Image != "web:1" || *got.Spec.Replicas != 2 {
		t.Fatal("a preview changed the Deployment")
	}
	obj := webDeployment("web:1", 1)
	obj.SetName("api")
	live, merged, err = d.Preview(testCtx(t), obj, Options{})
	if err != nil || live != nil || merged.(*appsv1.Deployment).Name != "api" {
		t.Fatalf("preview of a new Deployment: %v, %v, %v", live, merged, err)
	}
	if c.deployment("api") != nil {
		t.Fatal("a preview created the Deployment")
	}
}
