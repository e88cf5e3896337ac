package nodeagent

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/envops/kubectl-envops/pkg/config"
)

func spec(mutate ...func(*Spec)) Spec {
	cfg := config.Default()
	s := Spec{
		Name: "datadog", Namespace: "monitoring", Image: "datadog/agent:7",
		HostPort: 8125, Protocol: corev1.ProtocolUDP,
		Secret: cfg.Secret, Labels: cfg.Labels,
	}
	for _, m := range mutate {
		m(&s)
	}
	return s
}

func TestRenderReplicationController(t *testing.T) {
	for _, tc := range []struct {
		name       string
		spec       Spec
		replicas   int32
		wantLabels map[string]string
		wantSecret corev1.Volume
		wantMount  corev1.VolumeMount
		wantEnv    []corev1.EnvFromSource
	}{
		{
			name:       "default convention: name label from {app}-{role}, environment Secret mounted read-only",
			spec:       spec(),
			replicas:   3,
			wantLabels: map[string]string{"name": "datadog-agent", "app": "datadog", "tier": "monitoring", "role": "agent"},
			wantSecret: corev1.Volume{Name: "environment", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "environment"}}},
			wantMount:  corev1.VolumeMount{Name: "environment", MountPath: "/etc/secrets", ReadOnly: true},
		},
		{
			name: "project's Secret, mount path, name pattern and recommended labels",
			spec: spec(func(s *Spec) {
				s.Secret = config.Secret{Name: "env.cfg", Key: "env", MountPath: "/run/env"}
				s.Labels.Name = "{role}-{app}"
				s.Labels.Recommended = map[string]string{"app": "app.kubernetes.io/name"}
				s.EnvFromSecret = true
			}),
			replicas: 5,
			wantLabels: map[string]string{"name": "agent-datadog", "app": "datadog", "tier": "monitoring", "role": "agent",
				"app.kubernetes.io/name": "datadog"},
			wantSecret: corev1.Volume{Name: "env-cfg", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "env.cfg"}}},
			wantMount:  corev1.VolumeMount{Name: "env-cfg", MountPath: "/run/env", ReadOnly: true},
			wantEnv:    []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env.cfg"}}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, err := RenderReplicationController(tc.spec, tc.replicas)
			if err != nil {
				t.Fatal(err)
			}
			if rc.Kind != "ReplicationController" || rc.APIVersion != "v1" || rc.Name != "datadog" || rc.Namespace != "monitoring" {
				t.Errorf("object is %s %s %s/%s", rc.APIVersion, rc.Kind, rc.Namespace, rc.Name)
			}
			if rc.Spec.Replicas == nil || *rc.Spec.Replicas != tc.replicas {
				t.Errorf("replicas = %v, want %d", rc.Spec.Replicas, tc.replicas)
			}
			for _, got := range []map[string]string{rc.Labels, rc.Spec.Template.Labels} {
				if !equality.Semantic.DeepEqual(got, tc.wantLabels) {
					t.Errorf("labels = %v, want %v", got, tc.wantLabels)
				}
			}
			if want := map[string]string{"name": tc.wantLabels["name"]}; !equality.Semantic.DeepEqual(rc.Spec.Selector, want) {
				t.Errorf("selector = %v, want %v", rc.Spec.Selector, want)
			}
			pod := rc.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("want one container, got %d", len(pod.Containers))
			}
			c := pod.Containers[0]
			if c.Name != "datadog" || c.Image != "datadog/agent:7" {
				t.Errorf("container %s image %s", c.Name, c.Image)
			}
			wantPort := []corev1.ContainerPort{{Name: "agent", ContainerPort: 8125, HostPort: 8125, Protocol: corev1.ProtocolUDP}}
			if !equality.Semantic.DeepEqual(c.Ports, wantPort) {
				t.Errorf("ports = %+v, want %+v", c.Ports, wantPort)
			}
			if len(pod.Volumes) != 1 || !equality.Semantic.DeepEqual(pod.Volumes[0], tc.wantSecret) {
				t.Errorf("volumes = %+v, want %+v", pod.Volumes, tc.wantSecret)
			}
			if len(c.VolumeMounts) != 1 || !equality.Semantic.DeepEqual(c.VolumeMounts[0], tc.wantMount) {
				t.Errorf("mounts = %+v, want %+v", c.VolumeMounts, tc.wantMount)
			}
			if !equality.Semantic.DeepEqual(c.EnvFrom, tc.wantEnv) {
				t.Errorf("envFrom = %+v, want %+v", c.EnvFrom, tc.wantEnv)
			}
		})
	}
}

func TestRenderDaemonSet(t *testing.T) {
	ds, err := RenderDaemonSet(spec(func(s *Spec) { s.Protocol = "" }))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Kind != "DaemonSet" || ds.APIVersion != "apps/v1" {
		t.Errorf("object is %s %s", ds.APIVersion, ds.Kind)
	}
	if ds.Spec.Selector == nil || !equality.Semantic.DeepEqual(ds.Spec.Selector.MatchLabels, map[string]string{"name": "datadog-agent"}) {
		t.Errorf("selector = %+v, want matchLabels name=datadog-agent", ds.Spec.Selector)
	}
	if got := ds.Spec.Template.Labels["tier"] + "/" + ds.Spec.Template.Labels["role"]; got != "monitoring/agent" {
		t.Errorf("pod tier/role = %s", got)
	}
	if p := ds.Spec.Template.Spec.Containers[0].Ports[0]; p.Protocol != corev1.ProtocolTCP || p.HostPort != 8125 {
		t.Errorf("port = %+v, want TCP host port 8125", p)
	}
	if len(ds.Spec.Template.Spec.Volumes) != 1 {
		t.Errorf("volumes = %+v, want the environment Secret", ds.Spec.Template.Spec.Volumes)
	}
}

func TestSpecValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string // substring of the error; "" for none
	}{
		{"valid", spec(), ""},
		{"host port 0", spec(func(s *Spec) { s.HostPort = 0 }), "invalid host port 0: use a port from 1 to 65535"},
		{"host port above 65535", spec(func(s *Spec) { s.HostPort = 70000 }), "invalid host port 70000"},
		{"name with capitals", spec(func(s *Spec) { s.Name = "DataDog" }), `invalid agent name "DataDog"`},
		{"name with a dot", spec(func(s *Spec) { s.Name = "data.dog" }), `invalid agent name "data.dog"`},
		{"invalid image", spec(func(s *Spec) { s.Image = "Agent:7" }), `invalid image reference "Agent:7"`},
		{"unknown protocol", spec(func(s *Spec) { s.Protocol = "SCTP" }), `unknown protocol "SCTP"`},
		{"tier not allowed by the project", spec(func(s *Spec) { s.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend"}} }),
			`the agent's tier "monitoring" is not in labels.allowed.tier of .envops.yaml (frontend, backend): pass --tier with one of them, or add "monitoring" there`},
		{"a tier the project allows", spec(func(s *Spec) {
			s.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend", "infra"}}
			s.Tier = "infra"
		}), ""},
		{"an invalid role", spec(func(s *Spec) { s.Role = "node agent" }), `invalid --role "node agent"`},
		{"tier allowed by the project", spec(func(s *Spec) { s.Labels.Allowed = map[string][]string{"tier": {"backend", "monitoring"}} }), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
			if _, rerr := RenderReplicationController(tc.spec, 1); rerr == nil {
				t.Error("an invalid spec was rendered")
			}
		})
	}
}

func TestRenderWithoutNameLabel(t *testing.T) {
	s := spec(func(s *Spec) {
		s.Labels.Required = []string{"app", "tier", "role"}
		s.Labels.Name = "{app}"
	})
	_, err := RenderReplicationController(s, 1)
	if err == nil || !strings.Contains(err.Error(), `no "name" label to select its pods by`) {
		t.Fatalf("error = %v, want one about the missing name label", err)
	}
}

func TestRenderWithTierAndRole(t *testing.T) {
	s := spec(func(s *Spec) {
		s.Labels.Allowed = map[string][]string{"tier": {"frontend", "backend", "infra"}}
		s.Tier, s.Role = "infra", "collector"
	})
	ds, err := RenderDaemonSet(s)
	if err != nil {
		t.Fatal(err)
	}
	for what, labels := range map[string]map[string]string{"controller": ds.Labels, "pod template": ds.Spec.Template.Labels} {
		if labels["tier"] != "infra" || labels["role"] != "collector" {
			t.Errorf("%s labels %v, want tier=infra and role=collector", what, labels)
		}
	}
}

func TestParseModeAndProtocol(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"auto", ModeAuto, false},
		{"DaemonSet", ModeDaemonSet, false},
		{"replicationcontroller", ModeReplicationController, false},
		{"deployment", "", true},
	} {
		got, err := ParseMode(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseMode(%q) = %q, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in      string
		want    corev1.Protocol
		wantErr bool
	}{
		{"", corev1.ProtocolTCP, false},
		{"udp", corev1.ProtocolUDP, false},
		{"TCP", corev1.ProtocolTCP, false},
		{"http", "", true},
	} {
		got, err := ParseProtocol(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseProtocol(%q) = %q, %v", tc.in, got, err)
		}
	}
}
