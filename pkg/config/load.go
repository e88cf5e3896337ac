package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/envops/kubectl-envops/pkg/inputfile"
)

// MaxFileBytes bounds the project file; --config /dev/zero, or a FIFO,
// is refused before it is read.
const MaxFileBytes = 1 << 20

// readBounded reads the project file: a regular file of at most
// MaxFileBytes. A FIFO is refused before it is opened, as opening it would
// wait for a writer.
func readBounded(path string) ([]byte, error) {
	return inputfile.Read(path, "project file", MaxFileBytes)
}

// ErrUnknownEnvironment is wrapped by Environment when the name is not defined.
var ErrUnknownEnvironment = errors.New("unknown environment")

// Load reads the project file at path strictly: unknown keys, wrong types
// and invalid names are errors of the form "path:line: message". Keys the
// file leaves out keep their defaults.
func Load(path string) (*Config, error) {
	data, err := readBounded(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("project file %s does not exist: create it or fix the --config path", path)
		}
		if errors.Is(err, inputfile.ErrNotRegular) || errors.Is(err, inputfile.ErrTooLarge) {
			return nil, fmt.Errorf("%w: fix the --config path", err)
		}
		return nil, fmt.Errorf("cannot read project file: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve project file path %s: %w", path, err)
	}
	cfg, err := Parse(data, abs)
	if err != nil {
		return nil, err
	}
	cfg.Path = abs
	return cfg, nil
}

// Parse decodes the content of a project file; name is used in error
// messages. Keys the content leaves out keep their defaults.
func Parse(data []byte, name string) (*Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// Every problem of the file is reported at once: type errors and
	// unknown keys from the decoder, then what validation finds in the
	// rest. Only a file that is not YAML at all stops at its first error.
	var problems []problem
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			return nil, decodeError(name, err)
		}
		problems = decodeProblems(te.Errors)
	}
	// A second document is almost always a paste mistake; say so rather
	// than silently ignoring it.
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		problems = append(problems, problem{extra.Line, "more than one YAML document: keep a single document in the project file"})
	}

	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, decodeError(name, err)
	}
	problems = append(problems, booleansOnly(&root)...)
	cfg.fillDefaults()
	for _, err := range cfg.validate() {
		var fe *fieldError
		if errors.As(err, &fe) {
			problems = append(problems, problem{lineOf(&root, fe.path), fe.msg})
		} else {
			problems = append(problems, problem{0, err.Error()})
		}
	}
	if len(problems) > 0 {
		return nil, problemsError(name, problems)
	}
	return cfg, nil
}

// problem is one mistake in the project file, at a line (0 when unknown).
type problem struct {
	line int
	msg  string
}

// problemsError names every problem, in the order of their lines, each as
// "name:line: message", on one line; the same problem found twice (by the
// decoder and by a check of its own) is named once.
func problemsError(name string, problems []problem) error {
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].line < problems[j].line })
	var parts []string
	for _, p := range problems {
		part := fmt.Sprintf("%s: %s", name, p.msg)
		if p.line > 0 {
			part = fmt.Sprintf("%s:%d: %s", name, p.line, p.msg)
		}
		// The message is one line whatever the values quoted in it hold.
		part = strings.Join(strings.Fields(part), " ")
		if !slices.Contains(parts, part) {
			parts = append(parts, part)
		}
	}
	return errors.New(strings.Join(parts, "; "))
}

// UnmarshalYAML decodes the environments mapping in time linear in its
// size: the YAML decoder checks a map's keys for duplicates pair by pair,
// which grows with the square of the number of environments. It reports
// what the decoder would: duplicate keys, unknown keys and wrong types.
func (e *Environments) UnmarshalYAML(n *yaml.Node) error {
	m := n
	if m.Kind == yaml.AliasNode && m.Alias != nil {
		m = m.Alias
	}
	if m.Kind != yaml.MappingNode {
		var plain map[string]Environment
		if err := n.Decode(&plain); err != nil {
			return err
		}
		*e = plain
		return nil
	}
	known := map[string]bool{}
	for _, k := range yamlKeys(reflect.TypeOf(Environment{})) {
		known[k] = true
	}
	out := make(Environments, len(m.Content)/2)
	seen := make(map[string]int, len(m.Content)/2)
	var errs []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		var name string
		if ok, err := decodeCollecting(k, &name, &errs); !ok {
			if err != nil {
				return err
			}
			continue
		}
		if line, dup := seen[name]; dup {
			errs = append(errs, fmt.Sprintf("line %d: mapping key %q already defined at line %d", k.Line, name, line))
			continue
		}
		seen[name] = k.Line
		body := v
		if body.Kind == yaml.AliasNode && body.Alias != nil {
			body = body.Alias
		}
		if body.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(body.Content); j += 2 {
				if f := body.Content[j]; !known[f.Value] {
					errs = append(errs, fmt.Sprintf("line %d: field %s not found in type config.Environment", f.Line, f.Value))
				}
			}
		}
		var env Environment
		if _, err := decodeCollecting(v, &env, &errs); err != nil {
			return err
		}
		out[name] = env
	}
	*e = out
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

// decodeCollecting decodes n into out. Type errors are added to errs, so
// that every one is reported at once; any other error is returned. ok is
// false when decoding failed either way.
func decodeCollecting(n *yaml.Node, out any, errs *[]string) (ok bool, err error) {
	err = n.Decode(out)
	var te *yaml.TypeError
	if errors.As(err, &te) {
		*errs = append(*errs, te.Errors...)
		return false, nil
	}
	return err == nil, err
}

// booleansOnly refuses a string where the file takes true or false: the
// YAML decoder would read "yes", "on" or "y" as true, but "true" in quotes
// is an error, and one rule for every spelling is easier to trust.
func booleansOnly(root *yaml.Node) []problem {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	envs := mappingValue(doc, "environments")
	if envs == nil || envs.Kind != yaml.MappingNode {
		return nil
	}
	var problems []problem
	for i := 1; i < len(envs.Content); i += 2 {
		for _, key := range []string{"confirm"} {
			v := mappingValue(envs.Content[i], key)
			if v != nil && v.Kind == yaml.ScalarNode && v.ShortTag() != "!!bool" && v.ShortTag() != "!!null" {
				problems = append(problems, problem{v.Line, fmt.Sprintf("wrong type: expected true or false, found %s %q", map[bool]string{true: "a string", false: "a number"}[v.ShortTag() == "!!str"], v.Value)})
			}
		}
	}
	return problems
}

// mappingValue returns the value of key in a mapping node, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Find walks up from startDir to the first directory holding FileName and
// loads it. Without one it returns Default with an empty Path, rooted at
// startDir.
func Find(startDir string) (*Config, error) {
	if startDir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("cannot determine the working directory: %w", err)
		}
		startDir = wd
	}
	start, err := filepath.Abs(startDir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve directory %s: %w", startDir, err)
	}
	for dir := start; ; {
		candidate := filepath.Join(dir, FileName)
		info, err := os.Stat(candidate)
		switch {
		case err == nil && !info.IsDir():
			return Load(candidate)
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("cannot read %s: %w", candidate, err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	cfg := Default()
	cfg.dir = start
	return cfg, nil
}

// Dir is the directory relative paths in the configuration are resolved
// against: the project file's directory, or where Find started.
func (c *Config) Dir() string {
	if c.Path != "" {
		return filepath.Dir(c.Path)
	}
	if c.dir != "" {
		return c.dir
	}
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

// AppsDir is the absolute directory holding the app directories.
func (c *Config) AppsDir() string {
	if filepath.IsAbs(c.Apps) {
		return filepath.Clean(c.Apps)
	}
	return filepath.Join(c.Dir(), c.Apps)
}

// EnvironmentNames returns the defined environment names, sorted.
func (c *Config) EnvironmentNames() []string {
	names := make([]string, 0, len(c.Environments))
	for n := range c.Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EnvironmentOrder is every defined environment: those of PromotionOrder
// in its order, then any it leaves out, by name.
func (c *Config) EnvironmentOrder() []string {
	order := c.PromotionOrder()
	for _, name := range c.EnvironmentNames() {
		if !slices.Contains(order, name) {
			order = append(order, name)
		}
	}
	return order
}

// Environment returns the named environment; an unknown name is an error
// wrapping ErrUnknownEnvironment that lists the known names.
func (c *Config) Environment(name string) (Environment, error) {
	if e, ok := c.Environments[name]; ok {
		return e, nil
	}
	where := "the project file " + c.Path
	if c.Path == "" {
		return Environment{}, fmt.Errorf("%w %q: no %s found, so no environments are defined; add one with an \"environments:\" section", ErrUnknownEnvironment, name, FileName)
	}
	if len(c.Environments) == 0 {
		return Environment{}, fmt.Errorf("%w %q: %s defines no environments; add it under \"environments:\"", ErrUnknownEnvironment, name, where)
	}
	return Environment{}, fmt.Errorf("%w %q: %s defines %s", ErrUnknownEnvironment, name, where, strings.Join(c.EnvironmentNames(), ", "))
}

// fillDefaults restores defaults for scalar keys the file set to empty.
func (c *Config) fillDefaults() {
	d := Default()
	if c.Secret.Name == "" {
		c.Secret.Name = d.Secret.Name
	}
	if c.Secret.Key == "" {
		c.Secret.Key = d.Secret.Key
	}
	if c.Secret.MountPath == "" {
		c.Secret.MountPath = d.Secret.MountPath
	}
	if c.Labels.Name == "" {
		c.Labels.Name = d.Labels.Name
	}
	if c.Apps == "" {
		c.Apps = d.Apps
	}
}

// yamlLine matches the "line N: message" entries the YAML decoder reports.
var yamlLine = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)

// decodeError turns the YAML decoder's messages into "name:line: message"
// with field and type names a user recognises.
func decodeError(name string, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	return problemsError(name, decodeProblems(msgs))
}

// decodeProblems reads the decoder's "line N: message" entries.
func decodeProblems(msgs []string) []problem {
	out := make([]problem, 0, len(msgs))
	for _, m := range msgs {
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			line, _ := strconv.Atoi(sub[1])
			out = append(out, problem{line, friendly(sub[2])})
			continue
		}
		out = append(out, problem{0, strings.TrimPrefix(m, "yaml: ")})
	}
	return out
}

var (
	unknownField = regexp.MustCompile(`^field (\S+) not found in type config\.(\w+)$`)
	// A quoted value may span lines.
	wrongType = regexp.MustCompile("(?s)^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")
)

// sections names each configuration type by where it appears in the file.
var sections = map[string]struct {
	where string
	typ   reflect.Type
}{
	"Config":      {"at the top level", reflect.TypeOf(Config{})},
	"Environment": {"in an environment", reflect.TypeOf(Environment{})},
	"Secret":      {"in secret", reflect.TypeOf(Secret{})},
	"Labels":      {"in labels", reflect.TypeOf(Labels{})},
	"Kustomize":   {"in kustomize", reflect.TypeOf(Kustomize{})},
}

func friendly(m string) string {
	if sub := unknownField.FindStringSubmatch(m); sub != nil {
		if s, ok := sections[sub[2]]; ok {
			return fmt.Sprintf("unknown key %q %s: use one of %s", sub[1], s.where, strings.Join(yamlKeys(s.typ), ", "))
		}
		return fmt.Sprintf("unknown key %q", sub[1])
	}
	if sub := wrongType.FindStringSubmatch(m); sub != nil {
		got := map[string]string{"str": "a string", "int": "a number", "float": "a number", "bool": "true/false",
			"seq": "a list", "map": "a mapping", "null": "nothing", "timestamp": "a timestamp", "binary": "binary data"}[sub[1]]
		if got == "" {
			got = sub[1]
		}
		if sub[2] != "" {
			got += " " + strconv.Quote(sub[2])
		}
		return fmt.Sprintf("wrong type: expected %s, found %s", goTypeWords(sub[3]), got)
	}
	return m
}

func goTypeWords(t string) string {
	switch {
	case t == "bool":
		return "true or false"
	case t == "string":
		return "a string"
	case t == "[]string":
		return "a list of strings"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "config."):
		return "a mapping"
	}
	return t
}

// yamlKeys lists the keys a configuration type accepts.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	sort.Strings(keys)
	return keys
}

// lineOf finds the line of the key at path (mapping keys; list items by
// index), falling back to the deepest part of the path that exists.
func lineOf(root *yaml.Node, path []string) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		switch n.Kind {
		case yaml.MappingNode:
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}
