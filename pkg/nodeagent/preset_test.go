package nodeagent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

func datadog(mutate ...func(*Spec)) Spec {
	p := Datadog
	return spec(append([]func(*Spec){func(s *Spec) {
		s.Image, s.HostPort, s.Protocol = p.Image, 0, ""
		s.Preset = &p
		s.APIKeySecret = SecretKeyRef{Name: "datadog", Key: "api-key"}
	}}, mutate...)...)
}

func env(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// The Datadog agent as both controllers: its two host ports, the
// convention's labels of the project as tags, DD_ENV referenced from the
// project's environment Secret key, DD_API_KEY referenced from the named
// Secret, its ServiceAccount, and the environment Secret mounted as for
// every agent.
func TestDatadogPreset(t *testing.T) {
	s := datadog(func(s *Spec) {
		s.Secret = config.Secret{Name: "cluster-env", Key: "env", MountPath: "/etc/secrets"}
		s.Labels.Required = []string{"name", "app", "tier", "role", "team"}
		s.Labels.Optional = []string{"language"}
		s.APIKeySecret = SecretKeyRef{Name: "dd", Key: "key"}
	})
	ds, err := RenderDaemonSet(s)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := RenderReplicationController(s, 3)
	if err != nil {
		t.Fatal(err)
	}
	for kind, pod := range map[string]corev1.PodSpec{"DaemonSet": ds.Spec.Template.Spec, "ReplicationController": rc.Spec.Template.Spec} {
		t.Run(kind, func(t *testing.T) {
			c := pod.Containers[0]
			if c.Image != "datadog/agent:7" {
				t.Errorf("image %s", c.Image)
			}
			wantPorts := []corev1.ContainerPort{
				{Name: "dogstatsd", ContainerPort: 8125, HostPort: 8125, Protocol: corev1.ProtocolUDP},
				{Name: "apm", ContainerPort: 8126, HostPort: 8126, Protocol: corev1.ProtocolTCP},
			}
			if !equality.Semantic.DeepEqual(c.Ports, wantPorts) {
				t.Errorf("ports %+v", c.Ports)
			}
			tags := env(c, "DD_KUBERNETES_POD_LABELS_AS_TAGS")
			var got map[string]string
			if tags == nil || json.Unmarshal([]byte(tags.Value), &got) != nil {
				t.Fatalf("DD_KUBERNETES_POD_LABELS_AS_TAGS = %+v", tags)
			}
			want := map[string]string{"name": "name", "app": "app", "tier": "tier", "role": "role", "team": "team", "language": "language"}
			if !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("labels as tags = %v, want the project's labels %v", got, want)
			}
			ddEnv := env(c, "DD_ENV")
			if ddEnv == nil || ddEnv.Value != "" || ddEnv.ValueFrom == nil || ddEnv.ValueFrom.SecretKeyRef == nil ||
				ddEnv.ValueFrom.SecretKeyRef.Name != "cluster-env" || ddEnv.ValueFrom.SecretKeyRef.Key != "env" {
				t.Errorf("DD_ENV = %+v, want a reference to key env of Secret cluster-env", ddEnv)
			}
			key := env(c, "DD_API_KEY")
			if key == nil || key.Value != "" || key.ValueFrom.SecretKeyRef.Name != "dd" || key.ValueFrom.SecretKeyRef.Key != "key" {
				t.Errorf("DD_API_KEY = %+v, want a reference to dd/key", key)
			}
			for _, name := range []string{"DD_DOGSTATSD_NON_LOCAL_TRAFFIC", "DD_APM_NON_LOCAL_TRAFFIC"} {
				if v := env(c, name); v == nil || v.Value != "true" {
					t.Errorf("%s = %+v", name, v)
				}
			}
			if pod.ServiceAccountName != "datadog-agent" {
				t.Errorf("service account %q", pod.ServiceAccountName)
			}
			mounted := map[string]string{}
			for _, m := range c.VolumeMounts {
				if !m.ReadOnly {
					t.Errorf("mount %s is writable", m.Name)
				}
				mounted[m.Name] = m.MountPath
			}
			if mounted["cluster-env"] != "/etc/secrets" || mounted["procdir"] != "/host/proc" || mounted["cgroups"] != "/host/sys/fs/cgroup" {
				t.Errorf("mounts %v", mounted)
			}
			if c.Resources.Requests.Cpu().String() != "200m" || c.Resources.Requests.Memory().String() != "256Mi" {
				t.Errorf("requests %v", c.Resources.Requests)
			}
		})
	}
	if h, p := hostPortOf(rc.Spec.Template); h != 8125 || p != corev1.ProtocolUDP {
		t.Errorf("the port conflicts are reported for %d/%s, want 8125/UDP", h, p)
	}
}

// The preset's value is data: a copy changed in one field renders the
// change, and the package's own Datadog is left as it was.
func TestPresetIsData(t *testing.T) {
	p := Datadog
	p.Name, p.Image = "statsd", "statsd/exporter:1"
	p.Ports = []Port{{Name: "statsd", Port: 9125, Protocol: corev1.ProtocolUDP}}
	p.LabelsAsTags, p.EnvironmentVar, p.APIKeyVar, p.ServiceAccount, p.Mounts, p.Env = "", "STATSD_ENV", "", "", nil, nil
	s := spec(func(s *Spec) { s.Preset, s.Image, s.Name = &p, p.Image, "statsd" })
	ds, err := RenderDaemonSet(s)
	if err != nil {
		t.Fatal(err)
	}
	c := ds.Spec.Template.Spec.Containers[0]
	if len(c.Ports) != 1 || c.Ports[0].HostPort != 9125 || env(c, "STATSD_ENV") == nil || env(c, "DD_API_KEY") != nil || ds.Spec.Template.Spec.ServiceAccountName != "" {
		t.Errorf("container %+v", c)
	}
	if Datadog.Name != "datadog" || len(Datadog.Ports) != 2 {
		t.Error("rendering another preset changed Datadog")
	}
}

func TestPresetNeedsItsAPIKey(t *testing.T) {
	s := datadog(func(s *Spec) { s.APIKeySecret = SecretKeyRef{} })
	if _, err := RenderDaemonSet(s); err == nil || !strings.Contains(err.Error(), "--api-key-secret") {
		t.Errorf("err = %v", err)
	}
	if _, err := LookupPreset("newrelic"); err == nil || !strings.Contains(err.Error(), "datadog") {
		t.Errorf("unknown preset: %v", err)
	}
}

func TestParseSecretKeyRef(t *testing.T) {
	for in, want := range map[string]SecretKeyRef{
		"datadog":         {Name: "datadog", Key: "api-key"},
		"dd/API_KEY":      {Name: "dd", Key: "API_KEY"},
		"dd.keys/key.txt": {Name: "dd.keys", Key: "key.txt"},
	} {
		if got, err := ParseSecretKeyRef(in, "api-key"); err != nil || got != want {
			t.Errorf("%q: %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "Datadog", "dd/", "dd/a/b", "dd/bad key"} {
		if _, err := ParseSecretKeyRef(bad, "api-key"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// An API key given where the Secret's name belongs is refused, and the
	// error does not repeat it.
	const apiKey = "0123456789abcdef0123456789abcdef"
	for _, in := range []string{apiKey, "datadog/" + apiKey} {
		_, err := ParseSecretKeyRef(in, "api-key")
		if err == nil || strings.Contains(err.Error(), apiKey) || !strings.Contains(err.Error(), "not the key itself") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// Before a preset agent is applied, its ServiceAccount and API key Secret
// must exist; what is missing says how to create it. The Secret's value
// never leaves the check.
func TestPresetReady(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "datadog-agent", Namespace: "monitoring"}}
	key := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: "monitoring"}, Data: map[string][]byte{"api-key": []byte("s3cr3t")}}
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: "monitoring"}, Data: map[string][]byte{"token": []byte("s3cr3t")}}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    []string
	}{
		{"all there", []runtime.Object{sa, key}, nil},
		{"no ServiceAccount", []runtime.Object{key}, []string{`ServiceAccount "datadog-agent"`, "kubectl envops rbac --for node-agent --preset datadog -n monitoring --apply"}},
		{"no Secret", []runtime.Object{sa}, []string{`API key Secret "datadog" does not exist`, "kubectl create secret generic datadog --from-literal api-key=YOUR_API_KEY -n monitoring"}},
		{"no such key", []runtime.Object{sa, other}, []string{`has no key "api-key"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, err := presetReady(t.Context(), fake.NewClientset(tc.objects...), datadog())
			if err != nil {
				t.Fatal(err)
			}
			var msgs []string
			for _, p := range problems {
				msgs = append(msgs, p.Error())
			}
			all := strings.Join(msgs, "\n")
			if len(tc.want) == 0 && len(problems) > 0 {
				t.Errorf("problems: %s", all)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("%q lacks %q", all, w)
				}
			}
			if strings.Contains(all, "s3cr3t") {
				t.Errorf("the Secret's value reached a message: %s", all)
			}
		})
	}
	t.Run("refused reads are left to the pods", func(t *testing.T) {
		client := fake.NewClientset()
		client.PrependReactor("get", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "x", nil)
		})
		if problems, err := presetReady(t.Context(), client, datadog()); err != nil || len(problems) > 0 {
			t.Errorf("%v, %v", problems, err)
		}
	})
}

// A real install refuses while something is missing; a client dry run
// prints the agent and warns.
func TestInstallPresetChecksFirst(t *testing.T) {
	objs := []runtime.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: "monitoring"}, Data: map[string][]byte{"environment": []byte("dev")}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
	}
	client := fake.NewClientset(objs...)
	ap := &Installer{Client: client, Discovery: client.Discovery(),
		Deploy: func(context.Context, string, *unstructured.Unstructured, rollout.Options) (rollout.Result, error) {
			t.Error("the agent was deployed before what it needs was checked")
			return rollout.Result{}, nil
		}}
	_, err := ap.Install(t.Context(), datadog(), InstallOptions{Mode: ModeDaemonSet})
	if err == nil || !strings.Contains(err.Error(), "ServiceAccount") || !strings.Contains(err.Error(), "API key Secret") {
		t.Fatalf("err = %v, want both missing pieces named", err)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" || a.GetVerb() == "patch" {
			t.Errorf("wrote before refusing: %v", a)
		}
	}
	res, err := ap.Install(t.Context(), datadog(), InstallOptions{Mode: ModeDaemonSet, DryRun: rollout.DryRunClient})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || res.Object == nil {
		t.Errorf("client dry run: warnings %v, object %v", res.Warnings, res.Object)
	}
	b, _ := yaml.Marshal(res.Object)
	if !strings.Contains(string(b), "secretKeyRef") {
		t.Errorf("the dry run's object has no Secret references:\n%s", b)
	}
}
