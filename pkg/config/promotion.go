package config

import (
	"fmt"
	"os"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// PromotionOrder is the order promote ships an image in: the promotion
// key, or else the environments in the order the project file lists them
// (the file is read again for that order, which the map of environments
// does not keep; without a file, by name).
func (c *Config) PromotionOrder() []string {
	if len(c.Promotion) > 0 {
		return append([]string(nil), c.Promotion...)
	}
	if c.Path != "" {
		if data, err := os.ReadFile(c.Path); err == nil {
			var root yaml.Node
			if yaml.Unmarshal(data, &root) == nil {
				if order := mappingKeys(&root, "environments"); len(order) == len(c.Environments) {
					return order
				}
			}
		}
	}
	return c.EnvironmentNames()
}

// validatePromotion checks that promotion names each defined environment
// at most once.
func (c *Config) validatePromotion() []error {
	var errs []error
	seen := map[string]bool{}
	for i, name := range c.Promotion {
		if _, ok := c.Environments[name]; !ok {
			errs = append(errs, fieldErr(fmt.Sprintf("promotion names environment %q, which environments does not define (defined: %s)", name, strings.Join(c.EnvironmentNames(), ", ")), "promotion", fmt.Sprint(i)))
			continue
		}
		if seen[name] {
			errs = append(errs, fieldErr(fmt.Sprintf("promotion lists environment %q twice: keep one", name), "promotion", fmt.Sprint(i)))
		}
		seen[name] = true
	}
	return errs
}

// mappingKeys returns the keys of the mapping at key of the document's
// top level, in the order written.
func mappingKeys(root *yaml.Node, key string) []string {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Value != key || doc.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		m := doc.Content[i+1]
		out := make([]string, 0, len(m.Content)/2)
		for j := 0; j+1 < len(m.Content); j += 2 {
			out = append(out, m.Content[j].Value)
		}
		return out
	}
	return nil
}
