package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes/scheme"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/envops/kubectl-envops/pkg/inputfile"
	"github.com/envops/kubectl-envops/pkg/rollout"
	"github.com/envops/kubectl-envops/pkg/text"
)

// outputFlags is the -o flag of every command: kubectl's printers (json,
// yaml, jsonpath, go-template and, for commands that print objects, name)
// beside the formats the command prints itself (its text or table, jsonl,
// sarif...). The chosen format is kept in the Options' own Output field, so
// that tests of the parsed options read it there.
type outputFlags struct {
	format *string
	// own lists the formats the command prints itself; own[0] is the default.
	own   []string
	print *genericclioptions.PrintFlags
	// made is the printer last made, for the format and template in
	// madeFor: a stream of events is printed through one parsed template.
	made    printers.ResourcePrinter
	madeFor [2]string
	// noHeaders is --no-headers, for commands that print a table; nil
	// for the others.
	noHeaders *bool
	// allowMissingSet tells whether --allow-missing-template-keys was given.
	allowMissingSet func() bool
}

// newOutputFlags binds -o to format. own are the command's own formats, the
// default first ("" for a text or table without a name).
func newOutputFlags(format *string, own ...string) *outputFlags {
	if len(own) == 0 {
		own = []string{""}
	}
	pf := &genericclioptions.PrintFlags{
		JSONYamlPrintFlags:   genericclioptions.NewJSONYamlPrintFlags(),
		TemplatePrinterFlags: genericclioptions.NewKubeTemplatePrintFlags(),
		OutputFormat:         format,
	}
	return &outputFlags{format: format, own: own, print: pf}
}

// outputOf returns *p, first making it for format when the options were
// built without their command (as tests build them).
func outputOf(p **outputFlags, format *string, own ...string) *outputFlags {
	if *p == nil {
		*p = newOutputFlags(format, own...)
	}
	return *p
}

// withNames offers -o name, for commands that print API objects.
func (f *outputFlags) withNames() *outputFlags {
	f.print.NamePrintFlags = genericclioptions.NewNamePrintFlags("")
	f.print.TypeSetterPrinter = printers.NewTypeSetter(scheme.Scheme)
	return f
}

// templatesOnly leaves kubectl's json and yaml out, for commands whose own
// formats are the only forms of what they print.
func (f *outputFlags) templatesOnly() *outputFlags {
	f.print.JSONYamlPrintFlags = nil
	return f
}

// withTable marks a command that prints a table by default: it takes
// -o wide (the table with its wide columns) and --no-headers, as kubectl
// get does. noHeaders is the Options' field --no-headers sets.
func (f *outputFlags) withTable(noHeaders *bool) *outputFlags {
	if f.noHeaders == nil {
		f.own = append(f.own, formatWide)
		f.noHeaders = noHeaders
	}
	return f
}

// formatWide is -o wide: the table with its wide columns.
const formatWide = "wide"

// addFlags registers -o and kubectl's template flags on cmd, and
// --no-headers for a table.
func (f *outputFlags) addFlags(cmd *cobra.Command, help string) {
	cmd.Flags().StringVarP(f.format, "output", "o", f.own[0], help+" "+f.usage())
	if f.noHeaders != nil {
		cmd.Flags().BoolVar(f.noHeaders, "no-headers", false, "When printing a table (the default output, or -o wide), print no header line")
	}
	f.print.TemplatePrinterFlags.AddFlags(cmd)
	f.print.OutputFlagSpecified = func() bool { return cmd.Flags().Changed("output") }
	f.allowMissingSet = func() bool { return cmd.Flags().Changed("allow-missing-template-keys") }
	if fl := cmd.Flags().Lookup("allow-missing-template-keys"); fl != nil {
		fl.Usage = "If true, ignore any errors in templates when a field or map key is missing in the template. Only applies to golang and jsonpath output formats; a go-template that names a missing key fails unless this is given."
	}
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return f.formats(), cobra.ShellCompDirectiveNoFileComp
	})
}

// formats lists every accepted -o value for completion and messages.
func (f *outputFlags) formats() []string {
	var all []string
	for _, o := range f.own {
		if o != "" {
			all = append(all, o)
		}
	}
	for _, p := range f.print.AllowedFormats() {
		// A command's own yaml or json stands for kubectl's.
		if p == "kyaml" || slices.Contains(all, p) {
			continue
		}
		all = append(all, p)
	}
	return all
}

// short lists the formats, templates by their form.
func (f *outputFlags) short() []string {
	var names []string
	for _, n := range f.formats() {
		if !strings.Contains(n, "template") && !strings.HasPrefix(n, "jsonpath") {
			names = append(names, n)
		}
	}
	if f.print.TemplatePrinterFlags != nil {
		names = append(names, "jsonpath=TEMPLATE", "go-template=TEMPLATE")
	}
	return names
}

// choices says which formats there are, for an error.
func (f *outputFlags) choices() string {
	names := f.short()
	what := "use " + strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if f.own[0] == "" {
		what += ", or omit it for the default"
	}
	return what
}

func (f *outputFlags) usage() string {
	return "(one of " + strings.Join(f.short(), "|") + "; a template sees a list as .items)"
}

// isOwn tells whether the command prints the chosen format itself; a
// --template given without -o is kubectl's go-template.
func (f *outputFlags) isOwn() bool {
	return slices.Contains(f.own, *f.format) && !f.templateOnly()
}

// printer returns kubectl's printer for the chosen format, or a usage error
// naming the formats there are. It is nil when the command prints itself.
func (f *outputFlags) printer() (printers.ResourcePrinter, error) {
	if f.isOwn() {
		return nil, nil
	}
	key := [2]string{*f.format, ""}
	if t := f.print.TemplatePrinterFlags.TemplateArgument; t != nil {
		key[1] = *t
	}
	if f.made != nil && f.madeFor == key {
		return f.made, nil
	}
	if err := checkTemplateFile(key[0], key[1]); err != nil {
		return nil, usageError("invalid --output %q: %v: name a template file", key[0], err)
	}
	if f.isGoTemplate() && (f.allowMissingSet == nil || !f.allowMissingSet()) {
		// A go-template prints "<no value>" for a key the data lacks,
		// which is never data: it fails instead, unless asked.
		*f.print.TemplatePrinterFlags.AllowMissingKeys = false
	}
	p, err := f.print.ToPrinter()
	if err == nil {
		f.made, f.madeFor = p, key
		return p, nil
	}
	if genericclioptions.IsNoCompatiblePrinterError(err) {
		return nil, usageError("unknown output format %q for --output: %s", *f.format, f.choices())
	}
	return nil, usageError("invalid --output %q: %s", *f.format, oneLine(err.Error()))
}

// maxTemplateBytes bounds a template file (-o go-template-file=PATH).
const maxTemplateBytes = 1 << 20

// checkTemplateFile refuses the file of a -file format (-o
// go-template-file=PATH, or with --template) that is no regular file or
// larger than maxTemplateBytes, before kubectl's printer reads it whole:
// /dev/zero would never end, a FIFO would wait for a writer.
func checkTemplateFile(format, template string) error {
	name, path, inline := strings.Cut(format, "=")
	if !inline {
		path = template
	}
	switch name {
	case "go-template-file", "templatefile", "jsonpath-file":
	default:
		return nil
	}
	if path == "" {
		return nil
	}
	return inputfile.Check(path, "template file", maxTemplateBytes)
}

// isGoTemplate tells whether the chosen format is a go-template.
func (f *outputFlags) isGoTemplate() bool {
	name, _, _ := strings.Cut(*f.format, "=")
	switch name {
	case "go-template", "go-template-file", "template", "templatefile":
		return true
	}
	return f.templateOnly()
}

// templateOnly is --template given without -o, which kubectl reads as
// -o go-template.
func (f *outputFlags) templateOnly() bool {
	t := f.print.TemplatePrinterFlags.TemplateArgument
	return *f.format == f.own[0] && t != nil && *t != "" && (f.print.OutputFlagSpecified == nil || !f.print.OutputFlagSpecified())
}

// validate checks the format and any template without printing.
func (f *outputFlags) validate() error {
	_, err := f.printer()
	return err
}

// printValue prints plain data (what -o json shows) through the chosen
// printer. Templates see a top-level list as {"items": [...]}, as kubectl's
// lists are.
func (f *outputFlags) printValue(w io.Writer, v any) error {
	p, err := f.printer()
	if err != nil || p == nil {
		return err
	}
	if *f.format == "json" {
		// Two spaces, as this command's json has always been indented.
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if f.isTemplate() && bytes.HasPrefix(bytes.TrimSpace(b), []byte("[")) {
		b = append(append([]byte(`{"items":`), b...), '}')
	}
	return f.run(p, w, &runtime.Unknown{TypeMeta: runtime.TypeMeta{Kind: "Data"}, Raw: b, ContentType: runtime.ContentTypeJSON})
}

// printObjects prints one object as it is and several as a v1 List.
func (f *outputFlags) printObjects(w io.Writer, objs []runtime.Object) error {
	p, err := f.printer()
	if err != nil || p == nil {
		return err
	}
	if len(objs) == 1 || *f.format == "name" {
		for _, obj := range objs {
			if err := f.run(p, w, obj); err != nil {
				return err
			}
		}
		return nil
	}
	list := &corev1.List{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "List"}}
	for _, obj := range objs {
		list.Items = append(list.Items, runtime.RawExtension{Object: obj})
	}
	return f.run(p, w, list)
}

func (f *outputFlags) isTemplate() bool {
	return f.templateOnly() || !f.isOwn() && *f.format != "json" && *f.format != "yaml" && *f.format != "name"
}

// run prints through p into a buffer first, so that a template that fails
// leaves no half output and one line of error instead of kubectl's dump.
func (f *outputFlags) run(p printers.ResourcePrinter, w io.Writer, obj runtime.Object) error {
	var buf bytes.Buffer
	if err := p.PrintObj(obj, &buf); err != nil {
		if f.isTemplate() {
			first, _, _ := strings.Cut(err.Error(), "\n")
			return inputError(fmt.Errorf("%s: check the template given to --output", strings.TrimSuffix(first, ".")))
		}
		return err
	}
	_, err := buf.WriteTo(w)
	return err
}

// printable drops server bookkeeping (managed fields) that says nothing
// to a reader, as kubectl get does.
func printable(obj runtime.Object) runtime.Object {
	obj = obj.DeepCopyObject()
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj
}

// printTable prints rows under the given column names, aligned as kubectl
// aligns its tables. Cells hold what clusters and files say, so each is
// escaped.
func printTable(w io.Writer, columns []string, rows [][]string) error {
	cols := make([]column, len(columns))
	for i, c := range columns {
		cols[i] = column{Name: c}
	}
	return writeTable(w, cols, rows, printers.PrintOptions{})
}

// column is one column of a table. A wide column is printed only with
// -o wide, as kubectl's columns of priority above 0 are.
type column struct {
	Name string
	Wide bool
}

// printTable prints a table as -o asks: its wide columns only with -o wide,
// no header line with --no-headers.
func (f *outputFlags) printTable(w io.Writer, columns []column, rows [][]string) error {
	return writeTable(w, columns, rows, f.tableOptions())
}

func (f *outputFlags) tableOptions() printers.PrintOptions {
	return printers.PrintOptions{Wide: *f.format == formatWide, NoHeaders: f.noHeaders != nil && *f.noHeaders}
}

// writeTable prints rows (one cell per column) through kubectl's table
// printer, which aligns them and leaves out what opts leaves out.
func writeTable(w io.Writer, columns []column, rows [][]string, opts printers.PrintOptions) error {
	t := &metav1.Table{}
	for _, c := range columns {
		d := metav1.TableColumnDefinition{Name: c.Name, Type: "string"}
		if c.Wide {
			d.Priority = 1
		}
		t.ColumnDefinitions = append(t.ColumnDefinitions, d)
	}
	for _, r := range rows {
		cells := make([]any, len(r))
		for i, c := range r {
			cells[i] = text.Escape(c)
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: cells})
	}
	return printers.NewTablePrinter(opts).PrintObj(t, w)
}

// printLine prints one line made of format and a, escaped as a whole: the
// values may come from a cluster (an API message, a pod's status, a
// Secret's value), and none may start a line of its own or drive the
// terminal.
func printLine(w io.Writer, format string, a ...any) {
	fmt.Fprintln(w, text.Escape(fmt.Sprintf(format, a...)))
}

// addDryRunFlag adds kubectl's --dry-run flag (none, client, server); a bare
// --dry-run means client, without kubectl's deprecation warning.
func addDryRunFlag(cmd *cobra.Command, help string) {
	cmdutil.AddDryRunFlag(cmd)
	f := cmd.Flags().Lookup("dry-run")
	f.NoOptDefVal = "client"
	if help != "" {
		f.Usage = help
	}
	_ = cmd.RegisterFlagCompletionFunc("dry-run", cobra.FixedCompletions([]string{"none", "client", "server"}, cobra.ShellCompDirectiveNoFileComp))
}

// dryRunStrategy reads --dry-run; any other value is a usage error.
func dryRunStrategy(cmd *cobra.Command) (cmdutil.DryRunStrategy, error) {
	switch v := cmd.Flags().Lookup("dry-run").Value.String(); v {
	case "none":
		return cmdutil.DryRunNone, nil
	case "client":
		return cmdutil.DryRunClient, nil
	case "server":
		return cmdutil.DryRunServer, nil
	default:
		return cmdutil.DryRunNone, usageError("invalid --dry-run value %q: use none, client or server", v)
	}
}

// rolloutDryRun reads --dry-run as the mode pkg/rollout and pkg/nodeagent
// take.
func rolloutDryRun(cmd *cobra.Command) (rollout.DryRun, error) {
	s, err := dryRunStrategy(cmd)
	switch s {
	case cmdutil.DryRunClient:
		return rollout.DryRunClient, err
	case cmdutil.DryRunServer:
		return rollout.DryRunServer, err
	}
	return rollout.DryRunNone, err
}

// dryRunSuffix ends the line that reports a change made in a dry run.
func dryRunSuffix(d rollout.DryRun) string {
	switch d {
	case rollout.DryRunClient:
		return " (dry run)"
	case rollout.DryRunServer:
		return " (server dry run)"
	}
	return ""
}
