package rollout

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func deployment(mutate func(*appsv1.Deployment)) *unstructured.Unstructured {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(4)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: *podTemplate("nginx:1.27"),
		},
	}
	if mutate != nil {
		mutate(d)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		panic(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func TestApplyStrategy(t *testing.T) {
	two, zero := intstr.FromInt32(2), intstr.FromInt32(0)
	withHostPort := func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
	}
	tests := []struct {
		name                      string
		obj                       *unstructured.Unstructured
		o                         Options
		wantSurge, wantUnavail    any // nil: the field is left out
		wantNotice, wantErr       string
		wantMinReady              any
		wantStrategyTypeUntouched bool
	}{
		{name: "no flags leave the strategy alone", obj: deployment(nil), wantStrategyTypeUntouched: true},
		{name: "flags are written into the strategy", obj: deployment(nil), o: Options{MaxSurge: &two, MaxUnavailable: &zero, MinReadySeconds: 5},
			wantSurge: int64(2), wantUnavail: int64(0), wantMinReady: int64(5)},
		{name: "a percentage stays a percentage", obj: deployment(nil), o: Options{MaxSurge: ptr.To(intstr.FromString("50%"))},
			wantSurge: "50%", wantUnavail: "25%"},
		{name: "a hostPort forces surge 0", obj: deployment(withHostPort), wantSurge: int64(0), wantUnavail: "25%", wantNotice: "hostPort 8080"},
		{name: "a hostPort with unavailable 0 is refused", obj: deployment(withHostPort), o: Options{MaxUnavailable: &zero}, wantErr: "hostPort 8080"},
		{name: "Recreate takes no surge", obj: deployment(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }),
			o: Options{MaxSurge: &two}, wantErr: "Recreate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notice, err := applyStrategy(tt.obj, tt.o)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(notice, tt.wantNotice) || (tt.wantNotice == "") != (notice == "") {
				t.Errorf("notice = %q, want %q", notice, tt.wantNotice)
			}
			surge, _, _ := unstructured.NestedFieldNoCopy(tt.obj.Object, "spec", "strategy", "rollingUpdate", "maxSurge")
			unavail, _, _ := unstructured.NestedFieldNoCopy(tt.obj.Object, "spec", "strategy", "rollingUpdate", "maxUnavailable")
			if surge != tt.wantSurge || unavail != tt.wantUnavail {
				t.Errorf("maxSurge, maxUnavailable = %v, %v; want %v, %v", surge, unavail, tt.wantSurge, tt.wantUnavail)
			}
			minReady, _, _ := unstructured.NestedFieldNoCopy(tt.obj.Object, "spec", "minReadySeconds")
			if tt.wantMinReady != nil && minReady != tt.wantMinReady {
				t.Errorf("minReadySeconds = %v, want %v", minReady, tt.wantMinReady)
			}
			if typ, _, _ := unstructured.NestedString(tt.obj.Object, "spec", "strategy", "type"); tt.wantStrategyTypeUntouched && typ != "" {
				t.Errorf("strategy type set to %q without any flag", typ)
			}
		})
	}
}

func TestPlanDeployment(t *testing.T) {
	typed := func(u *unstructured.Unstructured) *appsv1.Deployment {
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	live := typed(deployment(func(d *appsv1.Deployment) {
		d.Spec.Template = *defaulted(&d.Spec.Template)
		d.Annotations = map[string]string{"envops.io/deployed-at": "yesterday"}
	}))
	tests := []struct {
		name string
		want *appsv1.Deployment
		live *appsv1.Deployment
		act  Action
	}{
		{name: "missing", want: typed(deployment(nil)), act: ActionCreated},
		{name: "same template, other record", want: typed(deployment(func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{"envops.io/deployed-at": "today"}
		})), live: live, act: ActionUnchanged},
		{name: "more replicas", want: typed(deployment(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(6)) })), live: live, act: ActionUpdated},
		{name: "new image", want: typed(deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" })), live: live, act: ActionRolledOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := planDeployment(tt.want, tt.live); got != tt.act {
				t.Errorf("planDeployment = %q, want %q", got, tt.act)
			}
		})
	}
}
