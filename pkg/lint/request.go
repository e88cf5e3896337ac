package lint

import (
	"context"
	"io"
	"time"
)

// Request is what one lint run reads, the first given of: files and
// directories, a kustomization, an app's overlay, or live clusters.
type Request struct {
	Paths      []string
	Stdin      io.Reader
	AllowEmpty bool

	Kustomization string
	App, Env      string

	Live        bool
	Targets     []LiveTarget
	LiveTimeout time.Duration
}

// Lint reads the inputs into rep and finishes it, so that rules across
// objects (overlapping selectors) see every input. err is input that could
// not be read; partial, live clusters that could not be read while others
// were, which the report stands without.
func (l *Linter) Lint(ctx context.Context, p Project, src Request, rep *Report) (partial, err error) {
	switch {
	case len(src.Paths) > 0:
		err = l.LintPaths(ctx, p, src.Paths, src.Stdin, src.AllowEmpty, rep)
	case src.Kustomization != "":
		err = l.LintKustomization(ctx, p, src.Kustomization, rep)
	case src.App != "":
		err = l.LintApp(ctx, p, src.App, src.Env, rep)
	case src.Live:
		// Not one cluster could be read: an empty report would mislead.
		if read, lerr := l.LintTargets(ctx, src.Targets, src.LiveTimeout, rep); read == 0 {
			err = lerr
		} else {
			partial = lerr
		}
	}
	if err != nil {
		return nil, err
	}
	l.Finish(rep)
	return partial, nil
}
