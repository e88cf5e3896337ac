package lint

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/envops/kubectl-envops/pkg/text"
)

// Report is the outcome of linting: every finding, in input order, and
// what was checked.
type Report struct {
	Findings []Finding `json:"findings"`
	// Objects counts the objects checked.
	Objects int `json:"objects"`
	// Sources lists the files, kustomizations and namespaces read, in order.
	Sources []Source `json:"sources"`
	// Checked lists every object checked, when the Linter records them
	// (a JUnit report has a test case per object).
	Checked []CheckedObject `json:"-"`
	// Skipped lists inputs that were not checked, and why.
	Skipped []Skipped `json:"skipped,omitempty"`

	nextSeq int
	sources map[Source]bool
	// perSource counts the objects and unreadable documents of each source.
	perSource map[Source]int
	// controllers are kept for the rules that compare objects (Finish).
	controllers controllerStore
}

// Read returns how many objects, and documents that could not be read, came
// from a source: 0 means the source held nothing at all.
func (r *Report) Read(s Source) int { return r.perSource[s] }

// Skip records an input that was not checked.
func (r *Report) Skip(s Skipped) { r.Skipped = append(r.Skipped, s) }

// CheckedObject is one object that was checked.
type CheckedObject struct {
	Object   ObjectRef
	Location Location
	seq      int
	item     int
}

// Count returns how many findings have at least the given severity.
func (r *Report) Count(atLeast Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity >= atLeast {
			n++
		}
	}
	return n
}

// InvalidDocuments returns the findings of documents that could not be read.
func (r *Report) InvalidDocuments() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Rule == RuleInvalidDocument {
			out = append(out, f)
		}
	}
	return out
}

// sortFindings puts findings in input order: by document, object and
// line, and in rule order where lines are equal or unknown.
func (r *Report) sortFindings() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.seq != b.seq {
			return a.seq < b.seq
		}
		if a.item != b.item {
			return a.item < b.item
		}
		return a.Location.Line < b.Location.Line
	})
	sort.SliceStable(r.Checked, func(i, j int) bool { return r.Checked[i].seq < r.Checked[j].seq })
}

// RecordObjects makes the Linter list every checked object in the Report.
func (l *Linter) RecordObjects(on bool) { l.record = on }

// docResult is what a worker makes of one document.
type docResult struct {
	src        Source
	seq        int
	objects    int
	checked    []CheckedObject
	findings   []Finding
	controller *controller
	// list and listEnd come from the document (see listState).
	list    *listState
	listEnd bool
}

func (l *Linter) lintDocument(d document) docResult {
	res := docResult{src: d.src, seq: d.seq, list: d.list, listEnd: d.listEnd}
	objs, bad := parseDocument(d)
	for _, o := range objs {
		res.add(l, o)
	}
	if bad != nil {
		bad.seq, bad.item = d.seq, -1
		res.findings = append(res.findings, *bad)
	}
	return res
}

// add checks one object of the document.
func (res *docResult) add(l *Linter, o *Object) {
	item := res.objects
	res.objects++
	found, ctrl := l.check(o)
	for i := range found {
		found[i].seq, found[i].item = res.seq, item
	}
	if ctrl != nil {
		ctrl.seq, ctrl.item = int32(res.seq), int32(item)
		res.controller = ctrl
	}
	res.findings = append(res.findings, found...)
	if l.record {
		res.checked = append(res.checked, CheckedObject{Object: o.Ref(), Location: Location{Source: o.Source, Line: o.Line()}, seq: res.seq, item: item})
	}
}

// collect adds a worker's result to the Report. The items of a streamed
// List join it as they come; should the document turn out not to be a List
// after all (its kind is read last), they are taken out again and the
// object itself is checked instead.
func collect(r *Report, res docResult) {
	ls := res.list
	switch {
	case ls == nil:
		r.add(res)
	case res.listEnd:
		ls.ended = true
		if !ls.isList {
			r.retract(res.seq, res.seq+ls.count)
			r.add(res)
			r.Objects -= ls.objects
			r.perSource[res.src] -= ls.objects
		}
	case !ls.ended || ls.isList:
		ls.objects += res.objects
		r.add(res)
	}
}

// retract removes what documents first < seq <= last added.
func (r *Report) retract(first, last int) {
	in := func(seq int) bool { return seq > first && seq <= last }
	r.Findings = slices.DeleteFunc(r.Findings, func(f Finding) bool {
		if in(f.seq) {
			r.perSource[f.Location.Source]--
			return true
		}
		return false
	})
	r.Checked = slices.DeleteFunc(r.Checked, func(c CheckedObject) bool { return in(c.seq) })
	r.controllers.deleteFunc(func(c *controller) bool { return in(int(c.seq)) })
}

func (r *Report) add(res docResult) {
	if r.perSource == nil {
		r.perSource = map[Source]int{}
	}
	r.perSource[res.src] += res.objects + len(res.findings)
	r.Objects += res.objects
	r.Findings = append(r.Findings, res.findings...)
	if res.controller != nil {
		r.controllers.add(*res.controller)
	}
	r.Checked = append(r.Checked, res.checked...)
}

// LintFiles reads files ("-" is stdin) one document at a time and checks
// each document's objects on all CPUs; findings join the Report in input
// order. Documents that cannot be parsed become invalid-document findings;
// the error is for files that cannot be read at all.
func (l *Linter) LintFiles(ctx context.Context, files []string, stdin io.Reader, rep *Report) error {
	workers := runtime.GOMAXPROCS(0)
	docs := make(chan document, 4*workers)
	results := make(chan docResult, 4*workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// The reader owns these until docs is closed.
	var readErr error
	var sources []Source
	seq := rep.nextSeq
	go func() {
		defer close(docs)
		for _, f := range files {
			sources = append(sources, Source{File: f})
			if err := readFile(ctx, f, stdin, &seq, docs); err != nil {
				readErr = err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range docs {
				results <- l.lintDocument(d)
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	for res := range results {
		collect(rep, res)
	}
	for _, src := range sources {
		rep.AddSource(src)
	}
	rep.nextSeq = seq
	rep.sortFindings()
	if readErr != nil {
		return readErr
	}
	return ctx.Err()
}

// readFile splits one file into documents for the workers.
func readFile(ctx context.Context, name string, stdin io.Reader, seq *int, docs chan<- document) error {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("cannot open %s: %w", name, err)
		}
		defer f.Close()
		r = f
	} else if r == nil {
		return errors.New("no standard input to read for \"-\"")
	}
	src := Source{File: name}
	kust := isKustomizationFile(name)
	send := func(d document) error {
		d.src, d.kustomization = src, kust
		select {
		case docs <- d:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var err error
	if startsWithJSON(br) {
		// kubectl's -o json: one value may be a List of any size, read
		// item by item.
		next := func() int { n := *seq; *seq++; return n }
		err = readJSONStream(br, next, send)
	} else {
		err = splitDocuments(br, func(first int, data []byte, tooLarge bool) error {
			d := document{firstLine: first, data: data, tooLarge: tooLarge, seq: *seq}
			*seq++
			return send(d)
		})
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("cannot read %s: %w", displayName(name), err)
	}
	return err
}

func displayName(file string) string {
	if file == "-" {
		return "standard input"
	}
	return file
}

// LintObjects checks objects that were rendered or read from a cluster;
// they join the Report after anything already in it.
func (l *Linter) LintObjects(objs []*Object, rep *Report) {
	for _, o := range objs {
		res := docResult{src: o.Source, seq: rep.nextSeq}
		rep.nextSeq++
		res.add(l, o)
		rep.add(res)
	}
}

// AddInputError reports an input that could not be checked at all (a
// kustomization that does not build) as an invalid-document finding, after
// everything already in the Report, so the other inputs are still reported.
func (r *Report) AddInputError(src Source, msg, hint string) {
	r.AddSource(src)
	f := invalidDocument(src, 0, msg, hint)
	f.seq, f.item = r.nextSeq, -1
	r.nextSeq++
	r.add(docResult{src: src, seq: f.seq, findings: []Finding{*f}})
}

// AddSource records a source (a kustomization, a namespace) that objects
// are about to come from; a source already recorded is not repeated.
func (r *Report) AddSource(s Source) {
	if r.sources[s] {
		return
	}
	if r.sources == nil {
		r.sources = map[Source]bool{}
	}
	r.sources[s] = true
	r.Sources = append(r.Sources, s)
}

// Append adds another report's findings, objects and sources after this one's.
func (r *Report) Append(other *Report) {
	for _, f := range other.Findings {
		f.seq += r.nextSeq
		r.Findings = append(r.Findings, f)
	}
	for _, c := range other.Checked {
		c.seq += r.nextSeq
		r.Checked = append(r.Checked, c)
	}
	for _, c := range other.controllers.all() {
		c.seq += int32(r.nextSeq)
		r.controllers.add(*c)
	}
	r.Objects += other.Objects
	for s, n := range other.perSource {
		if r.perSource == nil {
			r.perSource = map[Source]int{}
		}
		r.perSource[s] += n
	}
	r.Skipped = append(r.Skipped, other.Skipped...)
	for _, s := range other.Sources {
		r.AddSource(s)
	}
	r.nextSeq += other.nextSeq
}

// InvalidDocumentsError is one line naming the first document that could
// not be read and how many more there are, or nil when all could be read.
func (r *Report) InvalidDocumentsError() error {
	bad := r.InvalidDocuments()
	if len(bad) == 0 {
		return nil
	}
	f := bad[0]
	msg := f.Location.Label() + ": " + f.Message
	if f.Location.Line > 0 {
		msg = fmt.Sprintf("%s:%d: %s", f.Location.Label(), f.Location.Line, f.Message)
	}
	msg = text.Escape(msg)
	if len(bad) > 1 {
		msg += fmt.Sprintf(" (and %d more documents that cannot be read)", len(bad)-1)
	}
	return errors.New(msg)
}
