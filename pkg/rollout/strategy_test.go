package rollout

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestParseIntOrPercent(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    intstr.IntOrString
		wantErr bool
	}{
		{name: "a count", in: "3", want: intstr.FromInt32(3)},
		{name: "zero", in: "0", want: intstr.FromInt32(0)},
		{name: "a percentage", in: "25%", want: intstr.FromString("25%")},
		{name: "spaces are trimmed", in: " 10% ", want: intstr.FromString("10%")},
		{name: "negative count is refused", in: "-1", wantErr: true},
		{name: "negative percentage is refused", in: "-5%", wantErr: true},
		{name: "a word is refused", in: "many", wantErr: true},
		{name: "a fraction is refused", in: "1.5", wantErr: true},
		{name: "a bare percent sign is refused", in: "%", wantErr: true},
		{name: "empty is refused", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIntOrPercent(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseIntOrPercent(%q) = %v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIntOrPercent(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseIntOrPercent(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateStrategy(t *testing.T) {
	tests := []struct {
		name               string
		surge, unavailable intstr.IntOrString
		wantErr            string
	}{
		{name: "defaults are valid", surge: DefaultMaxSurge, unavailable: DefaultMaxUnavailable},
		{name: "surge only", surge: intstr.FromInt32(1), unavailable: intstr.FromInt32(0)},
		{name: "unavailable only", surge: intstr.FromString("0%"), unavailable: intstr.FromString("100%")},
		{name: "both zero counts", surge: intstr.FromInt32(0), unavailable: intstr.FromInt32(0), wantErr: "both 0"},
		{name: "both zero percentages", surge: intstr.FromString("0%"), unavailable: intstr.FromString("0%"), wantErr: "both 0"},
		{name: "unavailable above 100%", surge: intstr.FromInt32(1), unavailable: intstr.FromString("150%"), wantErr: "may not exceed 100%"},
		{name: "malformed percentage", surge: intstr.FromString("x%"), unavailable: intstr.FromInt32(1), wantErr: "invalid max surge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateStrategy(tt.surge, tt.unavailable)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		name               string
		surge, unavailable intstr.IntOrString
		desired, hostPort  int32
		wantSurge, wantUn  int32
		wantNotice         bool
		wantErr            string
	}{
		{name: "defaults on 4 replicas", surge: DefaultMaxSurge, unavailable: DefaultMaxUnavailable, desired: 4, wantSurge: 1, wantUn: 1},
		{name: "surge rounds up and unavailable down", surge: intstr.FromString("25%"), unavailable: intstr.FromString("25%"), desired: 3, wantSurge: 1, wantUn: 0},
		{name: "30 replicas at 10%", surge: intstr.FromString("10%"), unavailable: intstr.FromString("10%"), desired: 30, wantSurge: 3, wantUn: 3},
		{name: "counts are taken as they are", surge: intstr.FromInt32(3), unavailable: intstr.FromInt32(0), desired: 30, wantSurge: 3, wantUn: 0},
		{name: "both rounding to zero allows one unavailable", surge: intstr.FromString("0%"), unavailable: intstr.FromString("10%"), desired: 5, wantSurge: 0, wantUn: 1},
		{name: "a hostPort forces surge 0 and says so", surge: intstr.FromInt32(2), unavailable: intstr.FromInt32(1), desired: 3, hostPort: 8080, wantSurge: 0, wantUn: 1, wantNotice: true},
		{name: "a hostPort with defaults on 3 replicas still replaces one at a time", surge: DefaultMaxSurge, unavailable: DefaultMaxUnavailable, desired: 3, hostPort: 8080, wantSurge: 0, wantUn: 1, wantNotice: true},
		{name: "a hostPort with surge already 0 needs no notice", surge: intstr.FromInt32(0), unavailable: intstr.FromInt32(1), desired: 3, hostPort: 8080, wantSurge: 0, wantUn: 1},
		{name: "a hostPort with unavailable 0 cannot progress", surge: intstr.FromInt32(1), unavailable: intstr.FromInt32(0), desired: 3, hostPort: 8080, wantErr: "hostPort 8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := resolveFenceposts(tt.surge, tt.unavailable, tt.desired, tt.hostPort)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.surge != tt.wantSurge || f.unavailable != tt.wantUn {
				t.Errorf("surge, unavailable = %d, %d; want %d, %d", f.surge, f.unavailable, tt.wantSurge, tt.wantUn)
			}
			if (f.notice != "") != tt.wantNotice {
				t.Errorf("notice = %q, want a notice: %v", f.notice, tt.wantNotice)
			}
		})
	}
}

func TestTemplateHostPort(t *testing.T) {
	tmpl := func(ports ...corev1.ContainerPort) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Ports: ports}}}}
	}
	if got := templateHostPort(tmpl(corev1.ContainerPort{ContainerPort: 80})); got != 0 {
		t.Errorf("container port only: got hostPort %d, want 0", got)
	}
	if got := templateHostPort(tmpl(corev1.ContainerPort{ContainerPort: 80}, corev1.ContainerPort{ContainerPort: 9100, HostPort: 9100})); got != 9100 {
		t.Errorf("got hostPort %d, want 9100", got)
	}
}
