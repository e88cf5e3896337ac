package nodeagent

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
)

// Preset is a known agent, described as data: its image, the ports it
// claims on every node, its fixed settings, and where it takes the
// convention's labels, the environment and its API key from. Another agent
// is another value of this type in Presets.
type Preset struct {
	// Name is what --preset takes.
	Name string
	// Image is the image run unless --image names another.
	Image string
	// Ports are claimed on every node (hostPort), so the scheduler places
	// at most one agent per node.
	Ports []Port
	// Env holds the agent's fixed settings.
	Env []corev1.EnvVar
	// LabelsAsTags names the variable that receives the convention's labels
	// as a JSON map of label to tag ("" for none).
	LabelsAsTags string
	// EnvironmentVar names the variable that receives the environment,
	// referenced from the environment Secret's key, never copied.
	EnvironmentVar string
	// APIKeyVar names the variable that receives the API key from the
	// Secret --api-key-secret names ("" for an agent that needs none);
	// APIKeyKey is the key read when --api-key-secret gives only a name.
	APIKeyVar string
	APIKeyKey string
	// ServiceAccount is the account the agent's pods run as, granted
	// what the agent reads from the API server by
	// "kubectl envops rbac --for node-agent --preset NAME" (pkg/rbac).
	ServiceAccount string
	// Mounts are read-only host paths the agent reads the node's processes
	// and cgroups from.
	Mounts []HostMount
	// Requests are the container's resource requests.
	Requests corev1.ResourceList
}

// Port is one port an agent listens on and claims on its node.
type Port struct {
	Name     string
	Port     int32
	Protocol corev1.Protocol
}

// HostMount is a host path mounted read-only into the agent.
type HostMount struct {
	Name, HostPath, MountPath string
}

// Datadog is the Datadog agent: DogStatsD on 8125/UDP and traces (APM) on
// 8126/TCP accepted from every pod of the node, the convention's labels as
// pod tags, the environment as its env tag, and the kubelet of its own
// node as the source of container metrics.
var Datadog = Preset{
	Name:  "datadog",
	Image: "datadog/agent:7",
	Ports: []Port{
		{Name: "dogstatsd", Port: 8125, Protocol: corev1.ProtocolUDP},
		{Name: "apm", Port: 8126, Protocol: corev1.ProtocolTCP},
	},
	Env: []corev1.EnvVar{
		{Name: "DD_DOGSTATSD_NON_LOCAL_TRAFFIC", Value: "true"},
		{Name: "DD_APM_ENABLED", Value: "true"},
		{Name: "DD_APM_NON_LOCAL_TRAFFIC", Value: "true"},
		{Name: "DD_KUBERNETES_KUBELET_HOST", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
		{Name: "DD_KUBERNETES_KUBELET_NODENAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
	},
	LabelsAsTags:   "DD_KUBERNETES_POD_LABELS_AS_TAGS",
	EnvironmentVar: "DD_ENV",
	APIKeyVar:      "DD_API_KEY",
	APIKeyKey:      "api-key",
	ServiceAccount: "datadog-agent",
	Mounts: []HostMount{
		{Name: "procdir", HostPath: "/proc", MountPath: "/host/proc"},
		{Name: "cgroups", HostPath: "/sys/fs/cgroup", MountPath: "/host/sys/fs/cgroup"},
	},
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
}

// Presets are the agents --preset knows.
var Presets = []Preset{Datadog}

// PresetNames are the values --preset takes.
func PresetNames() []string {
	names := make([]string, len(Presets))
	for i, p := range Presets {
		names[i] = p.Name
	}
	return names
}

// LookupPreset finds a preset by name.
func LookupPreset(name string) (Preset, error) {
	for _, p := range Presets {
		if p.Name == name {
			return p, nil
		}
	}
	return Preset{}, fmt.Errorf("unknown preset %q: use %s", name, strings.Join(PresetNames(), " or "))
}

// SecretKeyRef names a key of a Secret in the agent's namespace.
type SecretKeyRef struct {
	Name, Key string
}

// looksLikeAKey matches what API keys look like (32 or more hexadecimal
// digits), which a Secret name almost never is.
var looksLikeAKey = regexp.MustCompile(`^[0-9a-fA-F]{32,}$`)

// ParseSecretKeyRef reads --api-key-secret NAME[/KEY]; defaultKey is used
// without /KEY. A value that looks like an API key itself is refused
// without echoing it, so that it reaches no output, annotation or Event.
func ParseSecretKeyRef(s, defaultKey string) (SecretKeyRef, error) {
	name, key, hasKey := strings.Cut(s, "/")
	if looksLikeAKey.MatchString(name) || looksLikeAKey.MatchString(key) {
		return SecretKeyRef{}, fmt.Errorf("--api-key-secret takes the name of the Secret that holds the API key, not the key itself: " +
			"create the Secret (kubectl create secret generic datadog --from-literal api-key=KEY -n NAMESPACE) and pass --api-key-secret datadog")
	}
	if !hasKey {
		key = defaultKey
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return SecretKeyRef{}, fmt.Errorf("invalid --api-key-secret %q: NAME[/KEY] names a Secret (a DNS subdomain: lowercase letters, digits, '-' and '.') and optionally its key", s)
	}
	if errs := validation.IsConfigMapKey(key); len(errs) > 0 {
		return SecretKeyRef{}, fmt.Errorf("invalid key %q in --api-key-secret: a Secret key is letters, digits, '-', '_' and '.'", key)
	}
	return SecretKeyRef{Name: name, Key: key}, nil
}

// String is NAME/KEY.
func (r SecretKeyRef) String() string { return r.Name + "/" + r.Key }

// LabelsAsTags is the JSON map of each convention label to the tag of the
// same name, in the order of the keys.
func LabelsAsTags(labels []string) string {
	m := map[string]string{}
	for _, l := range labels {
		m[l] = l
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}

// presetContainer fills the preset's part of the agent's container and pod.
func (s Spec) presetContainer(c *corev1.Container, pod *corev1.PodSpec) {
	p := s.Preset
	c.Ports = nil
	for _, port := range p.Ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: port.Name, ContainerPort: port.Port, HostPort: port.Port, Protocol: port.Protocol})
	}
	c.Env = append(c.Env, p.Env...)
	if p.LabelsAsTags != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: p.LabelsAsTags, Value: LabelsAsTags(append(slices.Clone(s.Labels.Required), s.Labels.Optional...))})
	}
	if p.EnvironmentVar != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: p.EnvironmentVar, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s.Secret.Name}, Key: s.Secret.Key}}})
	}
	if p.APIKeyVar != "" {
		c.Env = append(c.Env, corev1.EnvVar{Name: p.APIKeyVar, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: s.APIKeySecret.Name}, Key: s.APIKeySecret.Key}}})
	}
	for _, m := range p.Mounts {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: m.Name, MountPath: m.MountPath, ReadOnly: true})
		pod.Volumes = append(pod.Volumes, corev1.Volume{Name: m.Name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: m.HostPath}}})
	}
	if len(p.Requests) > 0 {
		c.Resources.Requests = p.Requests.DeepCopy()
	}
	pod.ServiceAccountName = p.ServiceAccount
}

// portsText names the host ports the agent claims: "8125/UDP" or
// "8125/UDP and 8126/TCP".
func (s Spec) portsText() string {
	if s.Preset == nil {
		proto := s.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		return fmt.Sprintf("%d/%s", s.HostPort, proto)
	}
	var parts []string
	for _, p := range s.Preset.Ports {
		parts = append(parts, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
	}
	return strings.Join(parts, " and ")
}

// presetReady checks what a preset agent's pods need in its namespace:
// the ServiceAccount they run as and the API key Secret and key. Each
// missing one is a problem saying how to create it; a refusal to read is
// no problem (the pods then say it), and other failures are errors. The
// Secret's data is dropped at once: only its keys are looked at.
func presetReady(ctx context.Context, client kubernetes.Interface, s Spec) (problems []error, err error) {
	p := s.Preset
	if p.ServiceAccount != "" {
		_, err := client.CoreV1().ServiceAccounts(s.Namespace).Get(ctx, p.ServiceAccount, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			problems = append(problems, fmt.Errorf("the %s agent runs as ServiceAccount %q, which namespace %q lacks: create it and its role with \"kubectl envops rbac --for node-agent --preset %s -n %s --apply\"",
				p.Name, p.ServiceAccount, s.Namespace, p.Name, s.Namespace))
		case err != nil && !apierrors.IsForbidden(err):
			return nil, fmt.Errorf("cannot read ServiceAccount %q in namespace %q: %w", p.ServiceAccount, s.Namespace, err)
		}
	}
	if p.APIKeyVar != "" {
		ref := s.APIKeySecret
		create := fmt.Sprintf("kubectl create secret generic %s --from-literal %s=YOUR_API_KEY -n %s", ref.Name, ref.Key, s.Namespace)
		secret, err := client.CoreV1().Secrets(s.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			problems = append(problems, fmt.Errorf("the API key Secret %q does not exist in namespace %q: create it with %q", ref.Name, s.Namespace, create))
		case apierrors.IsForbidden(err):
		case err != nil:
			return nil, fmt.Errorf("cannot read the API key Secret %q in namespace %q: %w", ref.Name, s.Namespace, err)
		default:
			_, inData := secret.Data[ref.Key]
			_, inString := secret.StringData[ref.Key]
			secret.Data, secret.StringData = nil, nil
			if !inData && !inString {
				problems = append(problems, fmt.Errorf("the Secret %q in namespace %q has no key %q for the API key: pass --api-key-secret %s/KEY with its key, or add it (%s)", ref.Name, s.Namespace, ref.Key, ref.Name, create))
			}
		}
	}
	return problems, nil
}

// validatePreset checks what a preset agent needs besides the common spec.
func (s Spec) validatePreset() error {
	p := s.Preset
	for _, port := range p.Ports {
		if err := ValidateHostPort(int(port.Port)); err != nil {
			return fmt.Errorf("preset %s: %w", p.Name, err)
		}
	}
	if p.APIKeyVar != "" && s.APIKeySecret.Name == "" {
		return fmt.Errorf("the %s agent needs its API key: pass --api-key-secret NAME[/KEY], the Secret in namespace %q that holds it (key %q by default)", p.Name, s.Namespace, p.APIKeyKey)
	}
	return nil
}
