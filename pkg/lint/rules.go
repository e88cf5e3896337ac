package lint

import (
	"fmt"
	"path"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/envops/kubectl-envops/pkg/config"
)

// IgnoreAnnotation lets an object opt out of rules: a comma-separated list of rule IDs.
const IgnoreAnnotation = "envops.io/lint-ignore"

// Rule IDs.
const (
	RuleInvalidDocument      = "invalid-document"
	RuleRequiredLabels       = "required-labels"
	RuleAllowedValues        = "allowed-values"
	RuleNamePattern          = "name-pattern"
	RuleLabelsMatchTemplate  = "labels-match-template"
	RuleSelector             = "selector-matches-template"
	RuleLabelSyntax          = "label-syntax"
	RuleEnvSecret            = "env-secret-mounted"
	RuleRecommendedLabels    = "recommended-labels"
	RuleKustomizeCommonLabel = "kustomize-common-labels"
	RuleSelectorOverlap      = "selector-overlap"
)

// Rule is one check of the label convention.
type Rule struct {
	ID       string
	Severity Severity
	// Summary says in one line what the rule requires.
	Summary string
	// Hint says in one line how to fix a finding, in general; findings
	// carry a hint for their own case.
	Hint string

	check func(c *checker)
}

// rules is every rule, in the order findings about one object are listed.
var rules = []*Rule{
	{
		ID: RuleInvalidDocument, Severity: SeverityError,
		Summary: "every document parses as YAML or JSON and is a Kubernetes object with apiVersion and kind",
		Hint:    "fix the syntax at the line shown, or remove the document",
	},
	{
		ID: RuleRequiredLabels, Severity: SeverityError,
		Summary: "controllers and their pod templates carry every required label",
		Hint:    "add the missing labels to metadata.labels and to the pod template's metadata.labels",
		check:   checkRequired,
	},
	{
		ID: RuleAllowedValues, Severity: SeverityError,
		Summary: "labels with a fixed set of values use one of them",
		Hint:    "use one of the values listed under labels.allowed in .envops.yaml",
		check:   checkAllowed,
	},
	{
		ID: RuleNamePattern, Severity: SeverityError,
		Summary: "the name label follows the configured pattern",
		Hint:    "set the name label to the pattern filled in with the object's own labels",
		check:   checkNamePattern,
	},
	{
		ID: RuleLabelsMatchTemplate, Severity: SeverityError,
		Summary: "a controller's convention labels agree with its pod template's",
		Hint:    "give the controller and its pod template the same convention labels and values",
		check:   checkControllerTemplate,
	},
	{
		ID: RuleSelector, Severity: SeverityError,
		Summary: "the selector is not empty and selects the pod template's labels",
		Hint:    "make every selector label appear, with the same value, in the pod template's labels",
		check:   checkSelector,
	},
	{
		ID: RuleLabelSyntax, Severity: SeverityError,
		Summary: "label keys and values are valid Kubernetes label syntax, and values are strings",
		Hint:    "use keys like prefix/name and values of at most 63 letters, digits, '-', '_' or '.'; quote numbers and booleans",
		check:   checkSyntax,
	},
	{
		ID: RuleEnvSecret, Severity: SeverityError,
		Summary: "every pod template mounts the environment Secret in each container",
		Hint:    "add a secret volume for the environment Secret and mount it in every container (kubectl envops generate does this)",
		check:   checkEnvSecret,
	},
	{
		ID: RuleRecommendedLabels, Severity: SeverityWarning,
		Summary: "convention labels are mirrored by the configured app.kubernetes.io labels",
		Hint:    "add the app.kubernetes.io labels named under labels.recommended in .envops.yaml, with the same values",
		check:   checkRecommended,
	},
	{
		ID: RuleKustomizeCommonLabel, Severity: SeverityWarning,
		Summary: "kustomizations set labels without touching selectors",
		Hint:    "replace commonLabels with labels: [{pairs: {...}, includeTemplates: true, includeSelectors: false}]",
		check:   checkCommonLabels,
	},
	{
		// Checked across objects, by Finish.
		ID: RuleSelectorOverlap, Severity: SeverityError,
		Summary: "no two controllers in a namespace select each other's pods",
		Hint:    "give each controller a selector of its own, e.g. a distinct name label in the selector and the pod template",
	},
}

// Rules returns every rule, in report order.
func Rules() []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		out[i] = *r
		out[i].check = nil
	}
	return out
}

// RuleIDs returns the IDs of every rule.
func RuleIDs() []string {
	ids := make([]string, len(rules))
	for i, r := range rules {
		ids[i] = r.ID
	}
	return ids
}

func ruleByID(id string) *Rule {
	for _, r := range rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// Linter checks objects against the label convention of a project.
type Linter struct {
	cfg      *config.Config
	enabled  []*Rule
	disabled map[string]bool
	// convention is every required and optional label, in configuration order.
	convention []string
	// recommended lists the configured label mappings in key order.
	recommended []string
	// record lists every checked object in reports.
	record bool
	// severity holds each rule's severity by ID.
	severity map[string]Severity
	// name is the parsed pattern of the name label.
	name config.NamePattern
}

// New returns a Linter for the convention in cfg, with the rules named in
// disable turned off.
func New(cfg *config.Config, disable ...string) (*Linter, error) {
	if cfg == nil {
		cfg = config.Default()
	}
	l := &Linter{cfg: cfg, disabled: map[string]bool{}, severity: map[string]Severity{}, name: cfg.Labels.NamePattern()}
	for _, id := range disable {
		id = strings.TrimSpace(id)
		if ruleByID(id) == nil {
			return nil, fmt.Errorf("unknown rule %q: use one of %s", id, strings.Join(RuleIDs(), ", "))
		}
		l.disabled[id] = true
	}
	for _, r := range rules {
		l.severity[r.ID] = r.Severity
		if r.check != nil && !l.disabled[r.ID] {
			l.enabled = append(l.enabled, r)
		}
	}
	seen := map[string]bool{}
	for _, k := range append(append([]string{}, cfg.Labels.Required...), cfg.Labels.Optional...) {
		if !seen[k] {
			seen[k] = true
			l.convention = append(l.convention, k)
		}
	}
	for k := range cfg.Labels.Recommended {
		l.recommended = append(l.recommended, k)
	}
	sort.Strings(l.recommended)
	return l, nil
}

// Check runs the enabled rules over one object and returns its findings.
func (l *Linter) Check(o *Object) []Finding {
	found, _ := l.check(o)
	return found
}

// check runs the rules over one object, and returns what the cross-object
// rules need of it.
func (l *Linter) check(o *Object) ([]Finding, *controller) {
	c := &checker{l: l, obj: o, ref: o.Ref()}
	if c.ref.Kind == "" && !o.kustomization {
		c.report(RuleInvalidDocument, o.Node, "", "document has no kind: it is not a Kubernetes object",
			"add apiVersion and kind, or remove the document from the manifests")
		return c.findings, nil
	}
	if c.ref.APIVersion == "" && !o.kustomization && !isKustomization("", c.ref.Kind) {
		c.report(RuleInvalidDocument, o.Node, "", "document has no apiVersion",
			"add the apiVersion of "+c.ref.Kind+", e.g. \"apiVersion: v1\" or \"apiVersion: apps/v1\"")
		return c.findings, nil
	}
	c.ignore = ignored(o.Node)
	c.wk, c.workload = workloadOf(c.ref.APIVersion, c.ref.Kind)
	if c.workload {
		c.sites = sites(o.Node, c.wk)
	}
	for _, r := range l.enabled {
		if !c.ignore[r.ID] {
			r.check(c)
		}
	}
	c.recordController()
	return c.findings, c.controller
}

// ignored reads the rules an object opts out of.
func ignored(obj *yaml.Node) map[string]bool {
	_, v := lookup(obj, "metadata", "annotations", IgnoreAnnotation)
	s, _ := scalar(v)
	if s == "" {
		return nil
	}
	m := map[string]bool{}
	for _, id := range strings.Split(s, ",") {
		m[strings.TrimSpace(id)] = true
	}
	return m
}

// checker carries one object through the rules.
type checker struct {
	l        *Linter
	obj      *Object
	ref      ObjectRef
	ignore   map[string]bool
	wk       workloadKind
	workload bool
	sites    []labelSite
	findings []Finding
	// controller is kept for the selector-overlap rule.
	controller *controller
}

func (c *checker) report(rule string, at *yaml.Node, field, msg, hint string) {
	loc := Location{Source: c.obj.Source, Field: field}
	if line := c.obj.line(at); line > 0 {
		loc.Line, loc.Column = line, at.Column
	} else if line := c.obj.Line(); line > 0 {
		loc.Line, loc.Column = line, c.obj.Node.Column
	}
	c.findings = append(c.findings, Finding{
		Rule: rule, Severity: c.l.severity[rule], Message: msg, Hint: hint, Object: c.ref, Location: loc,
	})
}

// otherValue finds a label's value on another site of the same object, to
// suggest it in a hint.
func (c *checker) otherValue(key string, except int) (string, bool) {
	for i, s := range c.sites {
		if i == except {
			continue
		}
		if v, ok := s.labels.Get(key); ok {
			return v, true
		}
	}
	return "", false
}

func checkRequired(c *checker) {
	if !c.workload {
		return
	}
	for i, s := range c.sites {
		var missing, suggest []string
		for _, k := range c.l.cfg.Labels.Required {
			if _, ok := s.labels.Get(k); ok {
				continue
			}
			missing = append(missing, k)
			suggest = append(suggest, k+": "+c.suggest(k, i))
		}
		if len(missing) == 0 {
			continue
		}
		noun := "label"
		if len(missing) > 1 {
			noun = "labels"
		}
		c.report(RuleRequiredLabels, s.anchor, s.field,
			fmt.Sprintf("%s is missing required %s %s", s.what, noun, strings.Join(missing, ", ")),
			fmt.Sprintf("add %s under %s", strings.Join(suggest, ", "), s.field))
	}
}

// suggest proposes a value for a missing label of site i: the value on the
// other site, the name pattern filled in as far as the labels allow, or a
// placeholder.
func (c *checker) suggest(key string, site int) string {
	if v, ok := c.otherValue(key, site); ok {
		return v
	}
	if key == "name" && !c.l.name.IsZero() {
		v, _ := c.l.name.Format(func(k string) (string, bool) {
			if v, ok := c.sites[site].labels.Get(k); ok {
				return v, true
			}
			if v, ok := c.otherValue(k, site); ok {
				return v, true
			}
			return "<" + k + ">", false
		})
		return v
	}
	return "<" + key + ">"
}

func checkAllowed(c *checker) {
	if !c.workload || len(c.l.cfg.Labels.Allowed) == 0 {
		return
	}
	keys := make([]string, 0, len(c.l.cfg.Labels.Allowed))
	for k := range c.l.cfg.Labels.Allowed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, s := range c.sites {
		for _, k := range keys {
			v, ok := s.labels.Get(k)
			allowed := c.l.cfg.Labels.Allowed[k]
			if !ok || contains(allowed, v) {
				continue
			}
			e, _ := s.labels.entry(k)
			c.report(RuleAllowedValues, e.ValueNode, s.field+"."+k,
				fmt.Sprintf("label %s=%s on %s is not an allowed value", k, v, s.what),
				fmt.Sprintf("set %s to one of %s", k, strings.Join(allowed, ", ")))
		}
	}
}

func checkNamePattern(c *checker) {
	if !c.workload || c.l.name.IsZero() {
		return
	}
	for _, s := range c.sites {
		got, ok := s.labels.Get("name")
		if !ok {
			continue
		}
		want, ok := c.l.name.Match(got, s.labels.Get)
		if ok {
			continue
		}
		e, _ := s.labels.entry("name")
		c.report(RuleNamePattern, e.ValueNode, s.field+".name",
			fmt.Sprintf("label name=%s on %s does not follow the pattern %s", got, s.what, c.l.name),
			fmt.Sprintf("set name: %s", want))
	}
}

func checkControllerTemplate(c *checker) {
	if !c.workload || len(c.sites) < 2 {
		return
	}
	ctrl, tmpl := c.sites[0], c.sites[1]
	for _, k := range c.l.convention {
		cv, cok := ctrl.labels.Get(k)
		tv, tok := tmpl.labels.Get(k)
		switch {
		case cok && tok && cv != tv:
			e, _ := tmpl.labels.entry(k)
			c.report(RuleLabelsMatchTemplate, e.ValueNode, tmpl.field+"."+k,
				fmt.Sprintf("label %s differs: the controller has %s=%s, the pod template %s=%s", k, k, cv, k, tv),
				fmt.Sprintf("use one value of %s on both", k))
		case cok != tok && !contains(c.l.cfg.Labels.Required, k):
			// A missing required label is already a required-labels finding.
			has, lacks, v := ctrl, tmpl, cv
			if tok {
				has, lacks, v = tmpl, ctrl, tv
			}
			c.report(RuleLabelsMatchTemplate, lacks.anchor, lacks.field,
				fmt.Sprintf("label %s=%s is on %s but not on %s", k, v, has.what, lacks.what),
				fmt.Sprintf("add %s: %s under %s", k, v, lacks.field))
		}
	}
}

func checkSelector(c *checker) {
	if !c.workload {
		return
	}
	tmpl := c.sites[len(c.sites)-1]
	switch c.wk.selector {
	case selectorNone:
		return
	case selectorJob:
		_, manual := lookup(c.obj.Node, "spec", "manualSelector")
		if v, _ := scalar(manual); v != "true" {
			return // the API server generates a selector that matches
		}
	}
	key, sel := lookup(c.obj.Node, "spec", "selector")
	anchor := key
	if anchor == nil {
		anchor = c.obj.Node
	}
	if isNull(sel) {
		if c.wk.selector == selectorLabelSelector || c.wk.selector == selectorJob {
			c.report(RuleSelector, anchor, "spec.selector",
				c.ref.Kind+" has no spec.selector",
				fmt.Sprintf("add spec.selector.matchLabels with the labels of the pod template, e.g. %s", hintSelector(tmpl.labels, c.l.cfg.Labels.Required)))
		}
		return // defaulted from the template's labels by the API server
	}
	if s := resolve(sel); s == nil || s.Kind != yaml.MappingNode {
		// A string or a list is a wrong type, not an empty selector.
		c.report(RuleSelector, anchor, "spec.selector", fmt.Sprintf("spec.selector is a %s, not a mapping", yamlType(sel)),
			fmt.Sprintf("write the labels to select as a mapping, e.g. %s", selectorExample(c, tmpl)))
		return
	}
	var selector labels.Selector
	var written string
	if c.wk.selector == selectorMap {
		ls := readLabels(c.obj.Node, "spec", "selector")
		if len(ls.Entries) == 0 {
			c.report(RuleSelector, anchor, "spec.selector", "the selector is empty",
				"remove spec.selector to have it default to the pod template's labels, or list the labels to select")
			return
		}
		set := labels.Set(ls.Map())
		selector, written = labels.SelectorFromValidatedSet(set), ls.String()
	} else {
		ls := readLabelSelector(c.obj.Node)
		if len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0 {
			c.report(RuleSelector, anchor, "spec.selector", "the selector is empty, so it would select every pod in the namespace",
				fmt.Sprintf("set spec.selector.matchLabels, e.g. %s", hintSelector(tmpl.labels, c.l.cfg.Labels.Required)))
			return
		}
		var err error
		selector, err = metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			c.report(RuleSelector, anchor, "spec.selector", "the selector is invalid: "+err.Error(),
				"use operators In, NotIn, Exists or DoesNotExist, with values only for In and NotIn")
			return
		}
		written = selector.String()
	}
	if !selector.Matches(labels.Set(tmpl.labels.Map())) {
		c.report(RuleSelector, anchor, "spec.selector",
			fmt.Sprintf("the selector (%s) does not select the pod template's labels (%s)", written, tmpl.labels.String()),
			"make every selector label appear, with the same value, in "+tmpl.field)
	}
}

// selectorExample is a selector of the right shape for the workload.
func selectorExample(c *checker, tmpl labelSite) string {
	hint := hintSelector(tmpl.labels, c.l.cfg.Labels.Required)
	if c.wk.selector == selectorMap {
		return "spec.selector: " + hint
	}
	return "spec.selector.matchLabels: " + hint
}

// readLabelSelector reads spec.selector as matchLabels and matchExpressions.
func readLabelSelector(obj *yaml.Node) *metav1.LabelSelector {
	ml := readLabels(obj, "spec", "selector", "matchLabels")
	ls := &metav1.LabelSelector{MatchLabels: ml.Map()}
	_, exprs := lookup(obj, "spec", "selector", "matchExpressions")
	if exprs != nil && exprs.Kind == yaml.SequenceNode {
		for _, e := range exprs.Content {
			ls.MatchExpressions = append(ls.MatchExpressions, readRequirement(e))
		}
	}
	return ls
}

// labelSelectorOf returns an object's spec.selector as a selector; ok is
// false when it is empty or invalid.
func labelSelectorOf(obj *yaml.Node) (labels.Selector, bool) {
	ls := readLabelSelector(obj)
	if len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0 {
		return nil, false
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	return sel, err == nil
}

// readRequirement reads one matchExpressions entry.
func readRequirement(n *yaml.Node) metav1.LabelSelectorRequirement {
	var r metav1.LabelSelectorRequirement
	_, k := lookup(n, "key")
	r.Key, _ = scalar(k)
	_, op := lookup(n, "operator")
	o, _ := scalar(op)
	r.Operator = metav1.LabelSelectorOperator(o)
	_, vals := lookup(n, "values")
	if vals != nil && vals.Kind == yaml.SequenceNode {
		for _, v := range vals.Content {
			s, _ := scalar(v)
			r.Values = append(r.Values, s)
		}
	}
	return r
}

// hintSelector proposes selector labels from the template's required labels.
func hintSelector(ls labelSet, required []string) string {
	var parts []string
	for _, k := range required {
		if v, ok := ls.Get(k); ok && k != "name" {
			parts = append(parts, k+": "+v)
		}
	}
	if len(parts) == 0 {
		return "{app: <app>, role: <role>}"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func checkSyntax(c *checker) {
	check := func(ls labelSet, where, field string) {
		for _, e := range ls.Entries {
			if errs := qualifiedNameErrors(e.Key); len(errs) > 0 {
				c.report(RuleLabelSyntax, e.KeyNode, field,
					fmt.Sprintf("label key %q on %s is invalid: %s", e.Key, where, strings.Join(errs, "; ")),
					"use a key of at most 63 letters, digits, '-', '_' or '.', optionally after a DNS prefix and '/'")
				continue
			}
			if e.NotString {
				c.report(RuleLabelSyntax, e.ValueNode, field+"."+e.Key,
					fmt.Sprintf("label %s on %s has a %s value, not a string", e.Key, where, yamlType(e.ValueNode)),
					fmt.Sprintf("quote the value: %s: %q", e.Key, e.Value))
				continue
			}
			if errs := labelValueErrors(e.Value); len(errs) > 0 {
				c.report(RuleLabelSyntax, e.ValueNode, field+"."+e.Key,
					fmt.Sprintf("label %s=%q on %s has an invalid value: %s", e.Key, e.Value, where, strings.Join(errs, "; ")),
					"use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
			}
		}
	}
	if !c.workload {
		check(readLabels(c.obj.Node, "metadata", "labels"), "the object", "metadata.labels")
		return
	}
	for _, s := range c.sites {
		check(s.labels, s.what, s.field)
	}
	switch c.wk.selector {
	case selectorMap:
		check(readLabels(c.obj.Node, "spec", "selector"), "the selector", "spec.selector")
	case selectorLabelSelector, selectorLabelSelectorDefaulted, selectorJob:
		check(readLabels(c.obj.Node, "spec", "selector", "matchLabels"), "the selector", "spec.selector.matchLabels")
	}
}

// labelValueErrors validates a label value. Nearly every value is a plain
// name, recognised here without the validation package's regular
// expressions; anything else gets its verdict and message from there.
func labelValueErrors(v string) []string {
	if v == "" || isPlainName(v) {
		return nil
	}
	return validation.IsValidLabelValue(v)
}

// qualifiedNameErrors validates a label key, with the same fast path.
func qualifiedNameErrors(k string) []string {
	prefix, name, found := strings.Cut(k, "/")
	if !found {
		prefix, name = "", k
	}
	if name != "" && isPlainName(name) && (!found || isPlainSubdomain(prefix)) {
		return nil
	}
	return validation.IsQualifiedName(k)
}

// isPlainName reports whether s is at most 63 letters, digits, '-', '_' and
// '.', starting and ending with a letter or digit.
func isPlainName(s string) bool {
	if len(s) == 0 || len(s) > validation.LabelValueMaxLength || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// isPlainSubdomain reports whether s is a DNS-1123 subdomain: dot-separated
// labels of lowercase letters, digits and '-', each starting and ending
// with a letter or digit, 253 characters at most.
func isPlainSubdomain(s string) bool {
	if len(s) == 0 || len(s) > validation.DNS1123SubdomainMaxLength {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || !isLowerAlnum(part[0]) || !isLowerAlnum(part[len(part)-1]) {
			return false
		}
		for i := 0; i < len(part); i++ {
			if c := part[i]; !isLowerAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool { return isLowerAlnum(c) || (c >= 'A' && c <= 'Z') }

func isLowerAlnum(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }

// yamlType names a value's YAML type for messages.
func yamlType(n *yaml.Node) string {
	n = resolve(n)
	if n == nil {
		return "null"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	switch n.Tag {
	case "!!int", "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!null":
		return "null"
	case "!!str":
		return "string"
	}
	return strings.TrimPrefix(n.Tag, "!!")
}

func checkEnvSecret(c *checker) {
	if !c.workload {
		return
	}
	secret, mountPath := c.l.cfg.Secret.Name, path.Clean(c.l.cfg.Secret.MountPath)
	specPath := append(append([]string{}, c.wk.template...), "spec")
	field := strings.Join(specPath, ".")
	specKey, spec := lookup(c.obj.Node, specPath...)
	where := "the pod template"
	if c.wk.template == nil {
		where = "the pod"
	}
	anchor := specKey
	if anchor == nil {
		anchor = c.sites[len(c.sites)-1].anchor
	}

	volumes := map[string]bool{}
	_, vols := lookup(spec, "volumes")
	if vols != nil && vols.Kind == yaml.SequenceNode {
		for _, v := range vols.Content {
			name, _ := scalar(second(lookup(v, "name")))
			if s, _ := scalar(second(lookup(v, "secret", "secretName"))); s == secret {
				volumes[name] = true
				c.checkSecretItems(v, field+".volumes", name, "secret", "items")
			}
			_, sources := lookup(v, "projected", "sources")
			if sources != nil && sources.Kind == yaml.SequenceNode {
				for _, src := range sources.Content {
					if s, _ := scalar(second(lookup(src, "secret", "name"))); s == secret {
						volumes[name] = true
						c.checkSecretItems(src, field+".volumes", name, "secret", "items")
					}
				}
			}
		}
	}
	if len(volumes) == 0 {
		c.report(RuleEnvSecret, anchor, field+".volumes",
			fmt.Sprintf("%s does not mount the environment Secret %q", where, secret),
			fmt.Sprintf("add the volume {name: %s, secret: {secretName: %s}} under %s.volumes and mount it at %s in every container", secret, secret, field, mountPath))
		return
	}
	_, containers := lookup(spec, "containers")
	if containers == nil || containers.Kind != yaml.SequenceNode {
		return
	}
	for _, ctr := range containers.Content {
		name, _ := scalar(second(lookup(ctr, "name")))
		var at []string
		_, mounts := lookup(ctr, "volumeMounts")
		if mounts != nil && mounts.Kind == yaml.SequenceNode {
			for _, m := range mounts.Content {
				if v, _ := scalar(second(lookup(m, "name"))); volumes[v] {
					p, _ := scalar(second(lookup(m, "mountPath")))
					at = append(at, path.Clean(p))
				}
			}
		}
		if contains(at, mountPath) {
			continue
		}
		msg := fmt.Sprintf("container %q does not mount the environment Secret %q", name, secret)
		if len(at) > 0 {
			msg = fmt.Sprintf("container %q mounts the environment Secret %q at %s, not at %s", name, secret, strings.Join(at, ", "), mountPath)
		}
		vol := sortedTrue(volumes)[0]
		c.report(RuleEnvSecret, ctr, field+".containers",
			msg, fmt.Sprintf("add the volume mount {name: %s, mountPath: %s, readOnly: true} to container %q", vol, mountPath, name))
	}
}

// checkSecretItems reports a volume of the environment Secret whose items
// leave out the key: with items, only the keys listed become files, so
// MOUNTPATH/KEY would not exist and "cat /etc/secrets/environment" fails.
func (c *checker) checkSecretItems(src *yaml.Node, field, volume string, itemsPath ...string) {
	key, mountPath := c.l.cfg.Secret.Key, path.Clean(c.l.cfg.Secret.MountPath)
	itemsKey, items := lookup(src, itemsPath...)
	if items == nil || items.Kind != yaml.SequenceNode || len(items.Content) == 0 {
		return // no items: every key is a file named after it
	}
	var files []string
	for _, it := range items.Content {
		k, _ := scalar(second(lookup(it, "key")))
		p, _ := scalar(second(lookup(it, "path")))
		if k == key && path.Clean(p) == key {
			return
		}
		files = append(files, k+" as "+p)
	}
	c.report(RuleEnvSecret, itemsKey, field,
		fmt.Sprintf("volume %q projects only %s of the environment Secret, so %s/%s does not exist in the pod", volume, strings.Join(files, ", "), mountPath, key),
		fmt.Sprintf("add {key: %s, path: %s} to the volume's items, or remove items to project every key", key, key))
}

func checkRecommended(c *checker) {
	if !c.workload || len(c.l.recommended) == 0 {
		return
	}
	for _, s := range c.sites {
		for _, k := range c.l.recommended {
			v, ok := s.labels.Get(k)
			if !ok {
				continue
			}
			rec := c.l.cfg.Labels.Recommended[k]
			rv, rok := s.labels.Get(rec)
			switch {
			case !rok:
				c.report(RuleRecommendedLabels, s.anchor, s.field,
					fmt.Sprintf("%s has %s=%s but not %s", s.what, k, v, rec),
					fmt.Sprintf("add %s: %s under %s", rec, v, s.field))
			case rv != v:
				e, _ := s.labels.entry(rec)
				c.report(RuleRecommendedLabels, e.ValueNode, s.field+"."+rec,
					fmt.Sprintf("%s has %s=%s but %s=%s", s.what, k, v, rec, rv),
					fmt.Sprintf("set %s: %s", rec, v))
			}
		}
	}
}

func checkCommonLabels(c *checker) {
	if !c.obj.kustomization && !isKustomization(c.ref.APIVersion, c.ref.Kind) {
		return
	}
	key, _ := lookup(c.obj.Node, "commonLabels")
	if key == nil {
		return
	}
	ls := readLabels(c.obj.Node, "commonLabels")
	pairs := make([]string, 0, len(ls.Entries))
	for _, e := range ls.Entries {
		pairs = append(pairs, e.Key+": "+e.Value)
	}
	c.report(RuleKustomizeCommonLabel, key, "commonLabels",
		"commonLabels also rewrites selectors, so changing a label later fails with \"field is immutable\"",
		fmt.Sprintf("replace commonLabels with labels: [{pairs: {%s}, includeTemplates: true, includeSelectors: false}]", strings.Join(pairs, ", ")))
}

// second returns the value of a lookup.
func second(_, v *yaml.Node) *yaml.Node { return v }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedTrue(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, ok := range m {
		if ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
