package transform

import (
	"fmt"
	"path"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// EnvSecret mounts the environment Secret read-only into every container of
// every pod template, adding the volume where the template lacks it. A
// template that already mounts the Secret at MountPath is left unchanged.
type EnvSecret struct {
	// SecretName is the environment Secret's name.
	SecretName string `json:"secretName" yaml:"secretName"`
	// MountPath is where containers see the Secret's keys as files.
	MountPath string `json:"mountPath" yaml:"mountPath"`
	// Key is the Secret's key that pods read as MountPath/Key; empty means
	// "environment".
	Key string `json:"key,omitempty" yaml:"key,omitempty"`
}

// defaultKey is the environment Secret's key when none is configured.
const defaultKey = "environment"

func (f EnvSecret) key() string {
	if f.Key == "" {
		return defaultKey
	}
	return f.Key
}

// Filter implements kio.Filter.
func (f EnvSecret) Filter(objs []*yaml.RNode) ([]*yaml.RNode, error) {
	if f.SecretName == "" || f.MountPath == "" {
		return nil, fmt.Errorf("environment secret injection needs both secretName and mountPath, got %q and %q", f.SecretName, f.MountPath)
	}
	if err := eachPodTemplate(objs, f.inject); err != nil {
		return nil, err
	}
	return objs, nil
}

func (f EnvSecret) inject(obj, tmpl *yaml.RNode) error {
	spec, err := tmpl.Pipe(yaml.LookupCreate(yaml.MappingNode, "spec"))
	if err != nil {
		return fmt.Errorf("%s: reading the pod spec: %w", describe(obj), err)
	}
	volume, err := f.ensureVolume(obj, spec)
	if err != nil {
		return err
	}
	containers, err := elements(spec, "containers")
	if err != nil {
		return fmt.Errorf("%s: reading containers: %w", describe(obj), err)
	}
	for _, c := range containers {
		mounts, err := elements(c, "volumeMounts")
		if err != nil {
			return fmt.Errorf("%s: reading volume mounts of container %q: %w", describe(obj), stringField(c, "name"), err)
		}
		mounted := false
		for _, m := range mounts {
			if stringField(m, "mountPath") != f.MountPath {
				continue
			}
			if name := stringField(m, "name"); name != volume {
				return fmt.Errorf("%s: container %q already mounts volume %q at %s, where the environment Secret %q belongs: move that mount or change secret.mountPath in .envops.yaml",
					describe(obj), stringField(c, "name"), name, f.MountPath, f.SecretName)
			}
			mounted = true
		}
		if mounted {
			continue
		}
		mount := stringMap("name", volume, "mountPath", f.MountPath)
		mount.YNode().Content = append(mount.YNode().Content,
			yaml.NewStringRNode("readOnly").YNode(), &yaml.Node{Kind: yaml.ScalarNode, Tag: yaml.NodeTagBool, Value: "true"})
		if err := c.PipeE(yaml.LookupCreate(yaml.SequenceNode, "volumeMounts"), yaml.Append(mount.YNode())); err != nil {
			return fmt.Errorf("%s: adding the environment Secret mount to container %q: %w", describe(obj), stringField(c, "name"), err)
		}
	}
	return nil
}

// ensureItem makes a Secret volume that lists items project the key to
// its own file name: with items, only the keys listed become files, and
// pods read MountPath/Key.
func (f EnvSecret) ensureItem(obj, volume *yaml.RNode) error {
	key := f.key()
	items, err := elements(volume, "secret", "items")
	if err != nil {
		return fmt.Errorf("%s: reading the items of volume %q: %w", describe(obj), stringField(volume, "name"), err)
	}
	if len(items) == 0 {
		return nil // every key is a file named after it
	}
	for _, it := range items {
		k, p := stringField(it, "key"), path.Clean(stringField(it, "path"))
		if k == key && p == key {
			return nil
		}
		if p == key {
			return fmt.Errorf("%s: volume %q of the environment Secret maps key %q to the file %s, where pods read the key %q: remove that item from the volume's items",
				describe(obj), stringField(volume, "name"), k, key, key)
		}
	}
	item := stringMap("key", key, "path", key)
	if err := volume.PipeE(yaml.Lookup("secret", "items"), yaml.Append(item.YNode())); err != nil {
		return fmt.Errorf("%s: adding the key %q to the items of volume %q: %w", describe(obj), key, stringField(volume, "name"), err)
	}
	return nil
}

// ensureVolume returns the name of the template's volume for the Secret,
// adding one when none refers to it.
func (f EnvSecret) ensureVolume(obj, spec *yaml.RNode) (string, error) {
	volumes, err := elements(spec, "volumes")
	if err != nil {
		return "", fmt.Errorf("%s: reading volumes: %w", describe(obj), err)
	}
	// A Secret name may contain dots; a volume name may not.
	name := strings.ReplaceAll(f.SecretName, ".", "-")
	for _, v := range volumes {
		secret, err := v.Pipe(yaml.Lookup("secret", "secretName"))
		if err != nil {
			return "", fmt.Errorf("%s: reading volume %q: %w", describe(obj), stringField(v, "name"), err)
		}
		if secret != nil && yaml.GetValue(secret) == f.SecretName {
			if err := f.ensureItem(obj, v); err != nil {
				return "", err
			}
			return stringField(v, "name"), nil
		}
	}
	for _, v := range volumes {
		if stringField(v, "name") == name {
			return "", fmt.Errorf("%s: volume %q exists but is not the environment Secret %q: rename that volume so the Secret can be mounted", describe(obj), name, f.SecretName)
		}
	}
	volume := stringMap("name", name)
	volume.YNode().Content = append(volume.YNode().Content,
		yaml.NewStringRNode("secret").YNode(), stringMap("secretName", f.SecretName).YNode())
	if err := spec.PipeE(yaml.LookupCreate(yaml.SequenceNode, "volumes"), yaml.Append(volume.YNode())); err != nil {
		return "", fmt.Errorf("%s: adding the environment Secret volume: %w", describe(obj), err)
	}
	return name, nil
}
