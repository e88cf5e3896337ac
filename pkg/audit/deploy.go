package audit

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// Cause is the change cause a command records: given (its --change-cause)
// with the user information of URLs redacted, or else its command line:
// commandPath without the plugin's display name "kubectl envops", then
// args, then the flags set as "--name=value", credentials redacted.
func Cause(given, commandPath string, args, flags []string) string {
	if given != "" {
		// A URL quoted in the cause keeps its host, never its password.
		return RedactURLs(given)
	}
	line := strings.Fields(commandPath)
	if len(line) > 2 {
		line = line[2:]
	}
	line = append(append(line, args...), flags...)
	return CommandLine(line)
}

// StampControllers adds r to each controller a deploy rolls out, with the
// controller's own image (its first container's), and returns the records
// by controller.
func StampControllers(controllers []*unstructured.Unstructured, r Record) []Record {
	out := make([]Record, 0, len(controllers))
	for _, obj := range controllers {
		c := r
		if containers, ok, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers"); ok && len(containers) > 0 {
			if first, ok := containers[0].(map[string]any); ok {
				if image, ok := first["image"].(string); ok {
					c.Image = image
				}
			}
		}
		c.Stamp(obj)
		out = append(out, c)
	}
	return out
}

// RecordControllers writes one deploy Event per controller, with the
// record StampControllers returned for it, so that history keeps the
// deploy after a later update replaces the controller. namespaceOf says
// where each controller went.
func RecordControllers(ctx context.Context, client kubernetes.Interface, app string, controllers []*unstructured.Unstructured, records []Record, namespaceOf func(*unstructured.Unstructured) string) error {
	for i, obj := range controllers {
		ref := obj.DeepCopy()
		ref.SetNamespace(namespaceOf(obj))
		if err := RecordDeploy(ctx, client, app, obj.GetKind(), ref, records[i]); err != nil {
			return err
		}
	}
	return nil
}
