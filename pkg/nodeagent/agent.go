// Package nodeagent runs an agent once on every node: as a DaemonSet where
// the cluster serves apps/v1 daemonsets, or else as a ReplicationController
// whose pods claim a hostPort (so the scheduler places at most one per node)
// and whose replicas are kept equal to the number of schedulable nodes.
package nodeagent

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/transform"
)

// Every agent carries these convention labels unless its Spec names others.
const (
	Tier = "monitoring"
	Role = "agent"
)

// Mode is the kind of controller that runs the agent.
type Mode string

// Modes of Spec.Mode.
const (
	// ModeAuto picks ModeDaemonSet when the cluster serves apps/v1
	// daemonsets, else ModeReplicationController.
	ModeAuto Mode = "auto"
	// ModeDaemonSet runs the agent as a DaemonSet.
	ModeDaemonSet Mode = "daemonset"
	// ModeReplicationController runs the agent as a ReplicationController
	// with one replica per schedulable node and a hostPort.
	ModeReplicationController Mode = "replicationcontroller"
)

// ParseMode reads a --mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(s)); m {
	case ModeAuto, ModeDaemonSet, ModeReplicationController:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q: use auto, daemonset or replicationcontroller", s)
}

// ParseProtocol reads a --protocol value; the empty string is TCP.
func ParseProtocol(s string) (corev1.Protocol, error) {
	switch strings.ToUpper(s) {
	case "", "TCP":
		return corev1.ProtocolTCP, nil
	case "UDP":
		return corev1.ProtocolUDP, nil
	}
	return "", fmt.Errorf("unknown protocol %q: use TCP or UDP", s)
}

// Spec describes one node agent.
type Spec struct {
	// Name names the controller, its container and the app label.
	Name      string
	Namespace string
	Image     string
	// HostPort is claimed on every node; the container listens on the same port.
	HostPort int32
	Protocol corev1.Protocol
	// EnvFromSecret also exposes the environment Secret's keys as
	// environment variables, for agents that read their settings there.
	EnvFromSecret bool
	// Tier and Role are the agent's tier and role labels; empty means
	// Tier and Role, the package's defaults.
	Tier, Role string
	// Secret and Labels are the project's conventions.
	Secret config.Secret
	Labels config.Labels
	// Record, when set, is the audit record annotated on the controller.
	Record *audit.Record
	// Preset, when set, shapes the agent: its ports (in place of HostPort
	// and Protocol), settings, ServiceAccount and mounts.
	Preset *Preset
	// APIKeySecret is the Secret key a preset's agent reads its API key
	// from; only the reference is ever written.
	APIKeySecret SecretKeyRef
}

// ValidateName checks an agent name: a DNS-1123 label, because it also
// names the container and takes a suffix during an update.
func ValidateName(name string) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("invalid agent name %q: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// ValidateHostPort checks a host port number.
func ValidateHostPort(port int) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("invalid host port %d: use a port from 1 to 65535", port)
	}
	return nil
}

// Validate checks the spec without a cluster.
func (s Spec) Validate() error {
	if err := ValidateName(s.Name); err != nil {
		return err
	}
	if err := transform.ValidateImage(s.Image); err != nil {
		return err
	}
	if s.Preset != nil {
		if err := s.validatePreset(); err != nil {
			return err
		}
	} else {
		if err := ValidateHostPort(int(s.HostPort)); err != nil {
			return err
		}
		if _, err := ParseProtocol(string(s.Protocol)); err != nil {
			return err
		}
	}
	for _, l := range []struct{ key, value string }{{"tier", s.tier()}, {"role", s.role()}} {
		if errs := validation.IsValidLabelValue(l.value); len(errs) > 0 {
			return fmt.Errorf("invalid --%s %q: a label value is at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", l.key, l.value)
		}
		if allowed, ok := s.Labels.Allowed[l.key]; ok && !slices.Contains(allowed, l.value) {
			return fmt.Errorf("the agent's %s %q is not in labels.allowed.%s of .envops.yaml (%s): pass --%s with one of them, or add %q there", l.key, l.value, l.key, strings.Join(allowed, ", "), l.key, l.value)
		}
	}
	return nil
}

func (s Spec) tier() string {
	if s.Tier == "" {
		return Tier
	}
	return s.Tier
}

func (s Spec) role() string {
	if s.Role == "" {
		return Role
	}
	return s.Role
}

// RenderDaemonSet returns the agent as a DaemonSet.
func RenderDaemonSet(s Spec) (*appsv1.DaemonSet, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: s.objectMeta(),
		Spec:       appsv1.DaemonSetSpec{Template: s.podTemplate()},
	}
	out := &appsv1.DaemonSet{}
	if err := s.convention(ds, out); err != nil {
		return nil, err
	}
	if out.Spec.Selector == nil || len(out.Spec.Selector.MatchLabels) == 0 {
		return nil, s.noSelector()
	}
	return out, nil
}

// RenderReplicationController returns the agent as a ReplicationController
// with the given number of replicas (one per schedulable node).
func RenderReplicationController(s Spec, replicas int32) (*corev1.ReplicationController, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	tmpl := s.podTemplate()
	rc := &corev1.ReplicationController{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"},
		ObjectMeta: s.objectMeta(),
		Spec:       corev1.ReplicationControllerSpec{Replicas: &replicas, Template: &tmpl},
	}
	out := &corev1.ReplicationController{}
	if err := s.convention(rc, out); err != nil {
		return nil, err
	}
	if len(out.Spec.Selector) == 0 {
		return nil, s.noSelector()
	}
	return out, nil
}

func (s Spec) objectMeta() metav1.ObjectMeta {
	m := metav1.ObjectMeta{
		Name:      s.Name,
		Namespace: s.Namespace,
		Labels:    map[string]string{"tier": s.tier(), "role": s.role()},
	}
	if s.Record != nil {
		m.Annotations = s.Record.Annotations()
	}
	return m
}

func (s Spec) podTemplate() corev1.PodTemplateSpec {
	protocol := s.Protocol
	if protocol == "" {
		protocol = corev1.ProtocolTCP
	}
	c := corev1.Container{
		Name:  s.Name,
		Image: s.Image,
		Ports: []corev1.ContainerPort{{
			Name:          "agent",
			ContainerPort: s.HostPort,
			HostPort:      s.HostPort,
			Protocol:      protocol,
		}},
	}
	if s.EnvFromSecret {
		c.EnvFrom = []corev1.EnvFromSource{{
			SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: s.Secret.Name}},
		}}
	}
	var pod corev1.PodSpec
	if s.Preset != nil {
		s.presetContainer(&c, &pod)
	}
	pod.Containers = []corev1.Container{c}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"tier": s.tier(), "role": s.role()}},
		Spec:       pod,
	}
}

// convention runs the project's transforms (environment Secret mount, label
// convention and selector) over in and decodes the result into out, so the
// agent is labelled exactly like every rendered app.
func (s Spec) convention(in, out runtime.Object) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding the agent: %w", err)
	}
	node, err := yaml.ConvertJSONToYamlNode(string(b))
	if err != nil {
		return fmt.Errorf("encoding the agent: %w", err)
	}
	// encoding/json writes a missing selector as null, which would read as
	// a selector already set; leave the field out so the convention fills it.
	if sel, err := node.Pipe(yaml.Lookup("spec", "selector")); err == nil && sel != nil && yaml.IsMissingOrNull(sel) {
		if err := node.PipeE(yaml.Lookup("spec"), yaml.Clear("selector")); err != nil {
			return fmt.Errorf("encoding the agent: %w", err)
		}
	}
	filters := []kio.Filter{
		transform.EnvSecret{SecretName: s.Secret.Name, MountPath: s.Secret.MountPath, Key: s.Secret.Key},
		transform.LabelConvention{
			App:         s.Name,
			Labels:      append(slices.Clone(s.Labels.Required), s.Labels.Optional...),
			NamePattern: s.Labels.Name,
			Recommended: s.Labels.Recommended,
		},
	}
	for _, f := range filters {
		if _, err := f.Filter([]*yaml.RNode{node}); err != nil {
			return err
		}
	}
	rendered, err := node.MarshalJSON()
	if err != nil {
		return fmt.Errorf("decoding the agent: %w", err)
	}
	if err := json.Unmarshal(rendered, out); err != nil {
		return fmt.Errorf("decoding the agent: %w", err)
	}
	return nil
}

func (s Spec) noSelector() error {
	return fmt.Errorf("the label convention gives agent %q no %q label to select its pods by (pattern %q): keep %q in labels.required with a pattern such as {app}-{role}",
		s.Name, transform.SelectorLabel, s.Labels.Name, transform.SelectorLabel)
}
