package render

import (
	"bytes"
	"fmt"
	"strings"
)

// secretLiteralError checks the literals of a kustomization's
// secretGenerators as kustomize will: each must be KEY=VALUE, with a key.
// kustomize's own error for one that is not echoes every literal of the
// generator, values included, so the error here names the file, the
// generator and the literal's position, never its text.
func secretLiteralError(path string, data []byte) error {
	if !bytes.Contains(data, []byte("secretGenerator")) {
		return nil
	}
	k := parseKustomization(data)
	for g, gen := range k.SecretGenerator {
		for i, lit := range gen.LiteralSources {
			if j := strings.IndexByte(lit, '='); j > 0 {
				continue
			}
			name := fmt.Sprintf("number %d", g+1)
			if gen.Name != "" {
				name = fmt.Sprintf("%q", gen.Name)
			}
			return inputError{fmt.Errorf("%s: secretGenerator %s: literal %d of %d is not KEY=VALUE (its text is not shown: it may be a secret value); write it as KEY=VALUE", path, name, i+1, len(gen.LiteralSources))}
		}
	}
	return nil
}

// withoutLiterals is a kustomize error message with the text of the
// generator literals it quotes taken out: when a literal is not KEY=VALUE,
// kustomize lists every literal of the generator, and those of a
// secretGenerator are secrets.
func withoutLiterals(msg string) string {
	const start, end = "literal sources [", ", expected key=value"
	i, j := strings.Index(msg, start), strings.LastIndex(msg, end)
	if i < 0 || j < i {
		return msg
	}
	return msg[:i] + "literal sources [not shown]: a literal is not KEY=VALUE" + msg[j+len(end):]
}
