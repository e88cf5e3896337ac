package cmd

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/notify"
	"github.com/envops/kubectl-envops/pkg/rollout"
	"github.com/envops/kubectl-envops/pkg/text"
)

// deployPrinter shows what deploy does. As text, every event is a line
// (timestamped when the output is not a terminal); on a terminal, the
// progress of each app still running is one line at the bottom, rewritten
// in place. Several apps end with a summary table. With jsonl or a
// template, every event goes through -o's printer, and each app's result
// too; json and yaml print the summary (with a dry run, the objects), and
// name the objects.
type deployPrinter struct {
	out    io.Writer
	f      *outputFlags
	tty    bool
	many   bool
	dryRun rollout.DryRun
	// each prints one event as -o asks, when -o is jsonl or a template.
	each func(any)
	// board is the progress line of each app still running, in the order
	// they started; drawn is how many lines of it are on the screen.
	board []boardLine
	drawn int
	width int
	// err is the first thing a template could not print.
	err error
	mu  sync.Mutex
}

type boardLine struct{ app, text string }

func newDeployPrinter(out io.Writer, f *outputFlags, tty, many bool, dryRun rollout.DryRun) *deployPrinter {
	p := &deployPrinter{out: out, f: f, tty: tty, many: many, dryRun: dryRun, width: 100}
	if file, ok := out.(*os.File); ok && tty {
		if w, _, err := term.GetSize(int(file.Fd())); err == nil && w > 20 {
			p.width = w
		}
	}
	switch {
	case *f.format == "jsonl":
		lines := notify.NewJSONLines(out)
		p.each = func(v any) {
			if e, ok := v.(rollout.Event); ok {
				lines.Event(e)
				return
			}
			b, err := json.Marshal(v)
			if err == nil {
				fmt.Fprintln(out, string(b))
			}
		}
	case f.isTemplate():
		p.each = func(v any) {
			if err := f.printValue(out, v); err != nil && p.err == nil {
				p.err = err
			}
		}
	}
	return p
}

// quiet tells whether only the end of the deploy is printed (json, yaml,
// name).
func (p *deployPrinter) quiet() bool {
	return !p.f.isOwn() && p.each == nil
}

// Started notes that an app's deploy began.
func (p *deployPrinter) Started(app string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.quiet() || p.each != nil {
		return
	}
	if p.tty {
		p.board = append(p.board, boardLine{app: app, text: app + ": starting"})
		p.redraw()
		return
	}
	if p.many {
		p.line(fmt.Sprintf("%s %s: starting", p.stamp(time.Now()), app))
	}
}

// Event shows one event of a controller's rollout.
func (p *deployPrinter) Event(e rollout.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.each != nil:
		p.each(e)
		return
	case p.quiet():
		return
	}
	who := e.Kind + "/" + e.Name
	if p.many {
		who = e.App + ": " + who
	}
	if e.Type == rollout.EventProgress && p.tty {
		p.setBoard(e.App, fmt.Sprintf("%s: %s", who, progressText(e)))
		return
	}
	msg := e.Message
	if e.Type == rollout.EventProgress {
		msg = progressText(e)
	}
	if p.tty {
		p.line(fmt.Sprintf("%s %s: %s", who, e.Type, msg))
		return
	}
	p.line(fmt.Sprintf("%s %s %s: %s", p.stamp(e.Time), who, e.Type, msg))
}

// progressText is a progress event as the updater tells it, in a sentence
// counting what serves; counts alone when an event carries no message.
func progressText(e rollout.Event) string {
	if e.Message != "" {
		return e.Message
	}
	return rollout.ProgressMessage(e)
}

func (p *deployPrinter) stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Result shows the outcome for one object.
func (p *deployPrinter) Result(app string, r deploy.ObjectResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.each != nil:
		p.each(deploy.ResultEvent(app, r, dryRunSuffix(p.dryRun)))
		return
	case p.quiet():
		return
	}
	line := fmt.Sprintf("%s/%s %s", r.Kind, r.Name, actionText(r.Result, p.dryRun))
	if r.Action != deploy.ActionPruned && (r.Kind == deploy.KindReplicationController || r.Kind == deploy.KindDeployment) {
		unit := "replicas"
		if r.Replicas == 1 {
			unit = "replica"
		}
		line += fmt.Sprintf(" (%d %s)", r.Replicas, unit)
	}
	if p.many {
		line = app + ": " + line
	}
	p.line(line + dryRunSuffix(p.dryRun))
}

// actionText says what happened to an object, or in a dry run what would.
func actionText(r rollout.Result, dryRun rollout.DryRun) string {
	action := string(r.Action)
	if r.Paused {
		action = "paused"
	}
	if dryRun == rollout.DryRunNone || r.Action == rollout.ActionUnchanged {
		return action
	}
	switch r.Action {
	case rollout.ActionRolledOut:
		return "would be rolled out"
	case rollout.ActionRolledBack:
		return "would be rolled back"
	}
	return "would be " + action
}

// Finished shows the end of one app's deploy.
func (p *deployPrinter) Finished(r *deploy.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, b := range p.board {
		if b.app == r.App {
			p.board = append(p.board[:i], p.board[i+1:]...)
			if p.tty {
				p.redraw()
			}
			break
		}
	}
	switch {
	case p.each != nil:
		p.each(appSummary(r, p.dryRun))
	case p.quiet() || !p.many:
	default:
		s := appSummary(r, p.dryRun)
		text := fmt.Sprintf("%s: %s", r.App, s.Result)
		if s.Message != "" {
			text += ": " + s.Message
		}
		if !p.tty {
			text = p.stamp(time.Now()) + " " + text
		}
		p.line(text)
	}
}

// Close prints what comes at the end: the summary of several apps, or
// with json, yaml or name the summary or the objects.
func (p *deployPrinter) Close(results []*deploy.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.out, "\033[%dA\033[J", p.drawn)
		p.drawn = 0
	}
	switch {
	case p.each != nil:
	case *p.f.format == "name" || (p.quiet() && p.dryRun != rollout.DryRunNone):
		var objs []runtime.Object
		for _, r := range results {
			for _, obj := range r.Sent {
				objs = append(objs, printable(obj))
			}
			if *p.f.format == "name" && len(r.Sent) == 0 {
				for _, o := range r.Objects {
					objs = append(objs, refOf(o))
				}
			}
		}
		if err := p.f.printObjects(p.out, objs); err != nil {
			p.err = err
		}
	case p.quiet():
		summary := make([]appResult, len(results))
		for i, r := range results {
			summary[i] = appSummary(r, p.dryRun)
		}
		if err := p.f.printValue(p.out, summary); err != nil {
			p.err = err
		}
	case p.many:
		rows := make([][]string, len(results))
		for i, r := range results {
			s := appSummary(r, p.dryRun)
			rows[i] = []string{s.App, s.Result, cmp.Or(s.Image, "-"), cmp.Or(s.Duration, "-"), s.Message}
		}
		fmt.Fprintln(p.out)
		if err := printTable(p.out, []string{"APP", "RESULT", "IMAGE", "DURATION", "NOTE"}, rows); err != nil {
			p.err = err
		}
	}
}

// appResult is one app's line of the summary, as -o json shows it.
type appResult struct {
	Type     string         `json:"type"`
	App      string         `json:"app"`
	Result   string         `json:"result"`
	Image    string         `json:"image,omitempty"`
	Duration string         `json:"duration,omitempty"`
	Message  string         `json:"message,omitempty"`
	Objects  []objectResult `json:"objects,omitempty"`
}

type objectResult struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Action    string `json:"action"`
}

// summaryType is the type of each app's summary among deploy's events.
const summaryType = "app"

func appSummary(r *deploy.Result, dryRun rollout.DryRun) appResult {
	s := appResult{Type: summaryType, App: r.App, Result: string(r.Outcome), Image: r.Image}
	if d := r.Duration(); d > 0 && r.Outcome != deploy.OutcomeNotStarted {
		s.Duration = d.Round(100 * time.Millisecond).String()
	}
	var fe *rollout.FailedError
	switch {
	case r.Outcome == deploy.OutcomeFailed && errors.As(r.Err, &fe) && fe.RolledBack:
		s.Result = "failed, rolled back"
	case r.Outcome == deploy.OutcomeFailed && errors.As(r.Err, &fe):
		s.Result = "failed, left for resume"
	case dryRun != rollout.DryRunNone && r.Outcome == deploy.OutcomeDeployed:
		s.Result = "would deploy"
	}
	var ns *deploy.NotStartedError
	switch {
	case errors.As(r.Err, &ns):
		s.Message = ns.Why
	case r.Err != nil:
		s.Message = oneLine(r.Err.Error())
	}
	for _, o := range r.Objects {
		s.Objects = append(s.Objects, objectResult{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Action: actionText(o.Result, dryRun)})
	}
	return s
}

// line prints a finished line above the progress board.
func (p *deployPrinter) line(s string) {
	if p.tty && p.drawn > 0 {
		fmt.Fprintf(p.out, "\033[%dA\033[J", p.drawn)
		p.drawn = 0
	}
	// A line may quote the kubelet, the scheduler or the API server:
	// escaped, it stays one line that cannot drive the terminal or forge
	// a CI runner's command.
	printLine(p.out, "%s", s)
	if p.tty {
		p.redraw()
	}
}

func (p *deployPrinter) setBoard(app, text string) {
	for i := range p.board {
		if p.board[i].app == app {
			p.board[i].text = text
			p.redraw()
			return
		}
	}
	p.board = append(p.board, boardLine{app: app, text: text})
	p.redraw()
}

// redraw rewrites the progress board in place, each line cut to the
// terminal's width so that the cursor arithmetic holds.
func (p *deployPrinter) redraw() {
	if p.drawn > 0 {
		fmt.Fprintf(p.out, "\033[%dA\033[J", p.drawn)
	}
	for _, b := range p.board {
		line := text.Escape(b.text)
		if r := []rune(line); len(r) >= p.width {
			line = string(r[:p.width-1])
		}
		fmt.Fprintln(p.out, line)
	}
	p.drawn = len(p.board)
}

// refOf is an object result as an object kubectl's name printer prints.
func refOf(o deploy.ObjectResult) runtime.Object {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(o.APIVersion)
	u.SetKind(o.Kind)
	u.SetName(o.Name)
	u.SetNamespace(o.Namespace)
	return u
}
