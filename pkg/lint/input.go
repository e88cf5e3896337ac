package lint

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/render"
)

// Project is what rendering a kustomization needs: the project file, for
// the apps directory and the label convention, and kustomize's options.
type Project struct {
	Config *config.Config
	Render render.Options
}

// LintPaths lints files and directories ("-" is stdin). A kustomization met
// in a directory is rendered: an overlay of the project's apps as deploy
// would send it, other kustomizations as kustomize builds them; the
// project's bases are only parts of overlays, so only their kustomization
// file is read. An explicit file that holds no objects is an error unless
// allowEmpty.
func (l *Linter) LintPaths(ctx context.Context, p Project, paths []string, stdin io.Reader, allowEmpty bool, rep *Report) error {
	in, err := ExpandPaths(paths)
	if err != nil {
		return err
	}
	for _, s := range in.Skipped {
		rep.Skip(s)
	}
	if err := l.LintFiles(ctx, in.Files, stdin, rep); err != nil {
		return err
	}
	if !allowEmpty {
		for _, f := range in.Explicit {
			if rep.Read(Source{File: f}) == 0 {
				return fmt.Errorf("%s holds no objects: check the command that produced it, or pass --allow-empty", displayName(f))
			}
		}
	}
	appsDir := p.Config.AppsDir()
	for _, dir := range in.Kustomizations {
		file := KustomizationFile(dir)
		src := Source{File: cmp.Or(file, dir)}
		if render.IsComponent(filesys.MakeFsOnDisk(), dir) {
			rep.Skip(Skipped{Source: src, Reason: "a kustomize Component is built only by the kustomizations that use it"})
			continue
		}
		// One kustomization that does not build is reported with the
		// findings of every other input, not instead of them.
		var err error
		switch app, env, where := placeOf(appsDir, dir); where {
		case outsideApps:
			err = l.lintRendered(p, rep, dir)
		case appOverlay:
			err = l.lintOverlay(p, rep, app, env, file)
		}
		if err != nil {
			rep.AddInputError(src, "cannot build the kustomization: "+strings.TrimPrefix(err.Error(), src.File+": "),
				"fix the kustomization, or check it alone with \"kubectl envops lint -k "+dir+"\"")
		}
	}
	return nil
}

// LintKustomization lints what a kustomization renders, and the
// kustomization file itself. An overlay of the project's apps is rendered
// as deploy sends it (the environment Secret mounted, the convention's
// labels filled in), as in a directory and with --app: what the overlay
// builds alone is never deployed.
func (l *Linter) LintKustomization(ctx context.Context, p Project, dir string, rep *Report) error {
	if render.IsComponent(filesys.MakeFsOnDisk(), dir) {
		return fmt.Errorf("%s is a kustomize Component, which is built only as part of a kustomization: lint a kustomization that lists it under components", dir)
	}
	file := KustomizationFile(dir)
	if file != "" {
		if err := l.LintFiles(ctx, []string{file}, nil, rep); err != nil {
			return err
		}
	}
	if app, env, where := placeOf(p.Config.AppsDir(), dir); where == appOverlay {
		return l.lintOverlay(p, rep, app, env, cmp.Or(file, dir))
	}
	return l.lintRendered(p, rep, dir)
}

// place says where a kustomization lies in the project.
type place int

const (
	// outsideApps is a kustomization of its own, deployed by other tools.
	outsideApps place = iota
	// appOverlay is apps/APP/overlays/ENV: what deploy sends, transformed.
	appOverlay
	// appPart is any other kustomization of an app (its base): only a part
	// of its overlays.
	appPart
)

// placeOf places the kustomization dir relative to the apps directory,
// naming the app and environment of an overlay.
func placeOf(appsDir, dir string) (app, env string, where place) {
	abs, aerr := filepath.Abs(dir)
	rel, rerr := filepath.Rel(appsDir, abs)
	if aerr != nil || rerr != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", "", outsideApps
	}
	if parts := strings.Split(filepath.ToSlash(rel), "/"); len(parts) == 3 && parts[1] == "overlays" {
		return parts[0], parts[2], appOverlay
	}
	return "", "", appPart
}

// lintRendered lints what kustomize builds from dir.
func (l *Linter) lintRendered(p Project, rep *Report, dir string) error {
	objs, err := render.Kustomization(filesys.MakeFsOnDisk(), dir, p.Render)
	if err != nil {
		return err
	}
	return l.lintUnstructured(rep, objs, Source{File: cmp.Or(KustomizationFile(dir), dir)})
}

// LintApp lints an app's overlay for env as deploy would send it, and every
// kustomization file of the app.
func (l *Linter) LintApp(ctx context.Context, p Project, app, env string, rep *Report) error {
	// Resolving the overlay first reports an unknown app or environment
	// before anything is read.
	if _, err := render.OverlayDir(filesys.MakeFsOnDisk(), p.Config, app, env); err != nil {
		return err
	}
	var files []string
	err := filepath.WalkDir(filepath.Join(p.Config.AppsDir(), app), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if k := KustomizationFile(path); k != "" {
				files = append(files, relative(k))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read app %s: %w", app, err)
	}
	if err := l.LintFiles(ctx, files, nil, rep); err != nil {
		return err
	}
	return l.lintOverlay(p, rep, app, env, "")
}

// lintOverlay lints an app's overlay for env as deploy would send it;
// findings name source, or the overlay's kustomization file.
func (l *Linter) lintOverlay(p Project, rep *Report, app, env, source string) error {
	fsys := filesys.MakeFsOnDisk()
	overlay, err := render.OverlayDir(fsys, p.Config, app, env)
	if err != nil {
		return err
	}
	objs, err := render.App(fsys, p.Config, app, env, p.Render)
	if err != nil {
		return err
	}
	if source == "" {
		source = relative(cmp.Or(KustomizationFile(overlay), overlay))
	}
	return l.lintUnstructured(rep, objs, Source{File: source})
}

// lintUnstructured lints rendered objects, all from one source.
func (l *Linter) lintUnstructured(rep *Report, objs []*unstructured.Unstructured, src Source) error {
	rep.AddSource(src)
	for _, u := range objs {
		o, err := FromUnstructured(u, src)
		if err != nil {
			return err
		}
		l.LintObjects([]*Object{o}, rep)
	}
	return nil
}

// relative shortens a path to the working directory when it lies below it,
// so reports name files as a user would type them.
func relative(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
