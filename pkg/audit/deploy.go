package audit

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
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
