// Command dist builds the release of kubectl-envops: for every platform of
// the krew manifest template it cross-builds the plugin and its completion
// executable, packs them with LICENSE into one archive, then writes
// checksums.txt and the rendered krew manifest beside the archives.
//
// Run it from the repository root; "make dist" does.
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// Names of what goes into every archive.
const (
	pluginName     = "kubectl-envops"
	completionName = "kubectl_complete-envops"
	licenseName    = "LICENSE"
	checksumsName  = "checksums.txt"
	manifestName   = "krew-manifest.yaml"
	versionPackage = "github.com/envops/kubectl-envops/pkg/version"
	releasesURL    = "https://github.com/envops/kubectl-envops/releases/download/"
)

// options are the command line of dist.
type options struct {
	Version  string
	Commit   string
	Out      string
	Template string
	License  string
	BaseURL  string
	// Platforms, when set, limits the build to these os/arch pairs (a
	// comma-separated list); the rendered manifest keeps only their entries.
	// A release builds them all; a quick local check builds one.
	Platforms string
	// ModTime stamps every archive entry, so that archives built from the
	// same commit are byte-identical.
	ModTime time.Time
}

func main() {
	var o options
	flag.StringVar(&o.Version, "version", "", "release version, a semantic version with a leading v (default: spec.version of the manifest template)")
	flag.StringVar(&o.Commit, "commit", "unknown", "commit the release is built from, shown by \"kubectl envops version\"")
	flag.StringVar(&o.Out, "out", "dist", "directory that receives the archives, "+checksumsName+" and "+manifestName)
	flag.StringVar(&o.Template, "manifest", manifestName, "the krew manifest template; its platforms decide what is built")
	flag.StringVar(&o.License, "license", licenseName, "the license file packed into every archive")
	flag.StringVar(&o.BaseURL, "base-url", "", "URL the archives will be downloaded from (default: "+releasesURL+"VERSION)")
	flag.StringVar(&o.Platforms, "platforms", "", "comma-separated os/arch pairs to build, e.g. linux/amd64 (default: every platform of the manifest)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "dist: unexpected arguments %q: all input is given with flags, see -help\n", flag.Args())
		os.Exit(2)
	}
	mtime, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(2)
	}
	o.ModTime = mtime
	if err := run(o, goBuild, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

// sourceDateEpoch reads the reproducible-builds timestamp; without one,
// archive entries carry the current time.
func sourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds since 1970: unset it or set it to e.g. $(git log -1 --format=%%ct)", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// platform is one entry of spec.platforms in the manifest.
type platform struct {
	OS, Arch string
	// Bin and Files are what krew will look for in the archive.
	Bin   string
	Files []string
	node  *yaml.RNode
}

func (p platform) exe(name string) string {
	if p.OS == "windows" {
		return name + ".exe"
	}
	return name
}

// archiveName follows kubectl-envops_<version>_<os>_<arch>.tar.gz, with
// zip for Windows, where tar.gz is not at home.
func (p platform) archiveName(version string) string {
	ext := ".tar.gz"
	if p.OS == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", pluginName, version, p.OS, p.Arch, ext)
}

// builder compiles the plugin's commands for one platform into dir.
type builder func(p platform, o options, dir string) error

// artifact is one archive that was written.
type artifact struct {
	Name   string
	SHA256 string
}

func run(o options, build builder, out io.Writer) error {
	manifest, err := yaml.ReadFile(o.Template)
	if err != nil {
		return fmt.Errorf("cannot read the krew manifest template: %w", err)
	}
	if o.Version == "" {
		o.Version, err = manifest.GetString("spec.version")
		if err != nil {
			return fmt.Errorf("%s has no spec.version: set it or pass -version", o.Template)
		}
	}
	if err := validateVersion(o.Version); err != nil {
		return err
	}
	if err := checkShortDescription(manifest, o.Template); err != nil {
		return err
	}
	if o.BaseURL == "" {
		o.BaseURL = releasesURL + o.Version
	}
	platforms, err := readPlatforms(manifest, o.Template)
	if err != nil {
		return err
	}
	if o.Platforms != "" {
		if platforms, err = selectPlatforms(manifest, platforms, o.Platforms, o.Template); err != nil {
			return err
		}
	}
	license, err := os.ReadFile(o.License)
	if err != nil {
		return fmt.Errorf("cannot read the license file: %w", err)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return err
	}
	if err := removeOldRelease(o.Out); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "envops-dist-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	var artifacts []artifact
	for _, p := range platforms {
		dir := filepath.Join(work, p.OS+"_"+p.Arch)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(out, "building %s %s for %s/%s\n", pluginName, o.Version, p.OS, p.Arch)
		if err := build(p, o, dir); err != nil {
			return fmt.Errorf("build for %s/%s: %w", p.OS, p.Arch, err)
		}
		entries := []entry{
			{Name: licenseName, Data: license, Mode: 0o644},
		}
		for _, name := range []string{p.exe(pluginName), p.exe(completionName)} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return fmt.Errorf("build for %s/%s produced no %s: %w", p.OS, p.Arch, name, err)
			}
			entries = append(entries, entry{Name: name, Data: data, Mode: 0o755})
		}
		if err := checkKrewFiles(p, entries); err != nil {
			return err
		}
		a, err := writeArchive(filepath.Join(o.Out, p.archiveName(o.Version)), entries, o.ModTime)
		if err != nil {
			return err
		}
		artifacts = append(artifacts, a)
		if err := setPlatform(p, o.BaseURL+"/"+a.Name, a.SHA256); err != nil {
			return err
		}
	}
	if err := manifest.PipeE(yaml.Lookup("spec"), yaml.SetField("version", yaml.NewStringRNode(o.Version))); err != nil {
		return fmt.Errorf("cannot set spec.version in the manifest: %w", err)
	}
	if err := writeChecksums(filepath.Join(o.Out, checksumsName), artifacts); err != nil {
		return err
	}
	rendered, err := manifest.String()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.Out, manifestName), []byte(rendered), 0o644); err != nil {
		return err
	}
	for _, a := range artifacts {
		fmt.Fprintf(out, "%s  %s\n", a.SHA256, filepath.Join(o.Out, a.Name))
	}
	fmt.Fprintf(out, "wrote %s and %s\n", filepath.Join(o.Out, checksumsName), filepath.Join(o.Out, manifestName))
	return nil
}

// selectPlatforms keeps the platforms named in list and removes the others
// from the manifest, so that every entry left points at a built archive.
func selectPlatforms(manifest *yaml.RNode, all []platform, list, template string) ([]platform, error) {
	want := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	var kept []platform
	for _, p := range all {
		if want[p.OS+"/"+p.Arch] {
			kept = append(kept, p)
			delete(want, p.OS+"/"+p.Arch)
		}
	}
	if len(want) > 0 {
		var unknown []string
		for k := range want {
			unknown = append(unknown, k)
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("-platforms names %s, which %s does not list: use os/arch pairs from its spec.platforms", strings.Join(unknown, ", "), template)
	}
	nodes := make([]*yaml.Node, 0, len(kept))
	for _, p := range kept {
		nodes = append(nodes, p.node.YNode())
	}
	list2, err := manifest.Pipe(yaml.Lookup("spec", "platforms"))
	if err != nil {
		return nil, err
	}
	list2.YNode().Content = nodes
	return kept, nil
}

// validateVersion applies krew's rule: a semantic version with a leading v.
// maxShortDescription is the longest spec.shortDescription the krew index accepts.
const maxShortDescription = 50

// checkShortDescription refuses a short description the krew index would.
func checkShortDescription(manifest *yaml.RNode, name string) error {
	d, err := manifest.GetString("spec.shortDescription")
	if err != nil {
		return nil
	}
	if n := utf8.RuneCountInString(d); n > maxShortDescription {
		return fmt.Errorf("spec.shortDescription of %s is %d characters; the krew index takes at most %d: shorten it", name, n, maxShortDescription)
	}
	return nil
}

func validateVersion(v string) error {
	if !strings.HasPrefix(v, "v") {
		return fmt.Errorf("version %q does not start with \"v\": krew needs a semantic version such as v0.1.0", v)
	}
	if _, err := utilversion.ParseSemantic(v); err != nil {
		return fmt.Errorf("version %q is not a semantic version (%v): use e.g. v0.1.0 or v0.2.0-rc.1", v, err)
	}
	return nil
}

// readPlatforms lists spec.platforms of the template, each with the os and
// arch of its matchLabels selector.
func readPlatforms(manifest *yaml.RNode, name string) ([]platform, error) {
	list, err := manifest.Pipe(yaml.Lookup("spec", "platforms"))
	if err != nil || list == nil {
		return nil, fmt.Errorf("%s has no spec.platforms: list one entry per archive", name)
	}
	elems, err := list.Elements()
	if err != nil {
		return nil, fmt.Errorf("%s: spec.platforms is not a list: %w", name, err)
	}
	seen := map[string]bool{}
	var out []platform
	for i, el := range elems {
		goos, _ := el.GetString("selector.matchLabels.os")
		arch, _ := el.GetString("selector.matchLabels.arch")
		if goos == "" || arch == "" {
			return nil, fmt.Errorf("%s: spec.platforms[%d] needs selector.matchLabels with both os and arch, so that it names one archive", name, i)
		}
		if seen[goos+"/"+arch] {
			return nil, fmt.Errorf("%s: spec.platforms[%d] repeats %s/%s: keep one entry per platform", name, i, goos, arch)
		}
		seen[goos+"/"+arch] = true
		p := platform{OS: goos, Arch: arch, node: el}
		p.Bin, _ = el.GetString("bin")
		files, _ := el.Pipe(yaml.Lookup("files"))
		if files != nil {
			fops, err := files.Elements()
			if err != nil {
				return nil, fmt.Errorf("%s: spec.platforms[%d].files is not a list: %w", name, i, err)
			}
			for _, f := range fops {
				from, _ := f.GetString("from")
				p.Files = append(p.Files, from)
			}
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: spec.platforms is empty: list one entry per archive", name)
	}
	return out, nil
}

// checkKrewFiles makes sure krew will find what the manifest names, so a
// typo fails here rather than on a user's machine.
func checkKrewFiles(p platform, entries []entry) error {
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name] = true
	}
	want := append([]string{p.Bin}, p.Files...)
	for _, name := range want {
		if name == "" || strings.ContainsAny(name, "*?[") {
			continue
		}
		if !have[name] {
			return fmt.Errorf("the manifest's %s/%s platform names %q, which the archive does not hold: fix bin or files in the template", p.OS, p.Arch, name)
		}
	}
	return nil
}

// setPlatform points one platform at its archive.
func setPlatform(p platform, uri, sum string) error {
	if err := p.node.PipeE(yaml.SetField("uri", yaml.NewStringRNode(uri))); err != nil {
		return err
	}
	return p.node.PipeE(yaml.SetField("sha256", yaml.NewStringRNode(sum)))
}

// removeOldRelease deletes what an earlier run wrote, so dist never holds
// archives that checksums.txt does not list. Nothing else in dir is touched.
func removeOldRelease(dir string) error {
	old, err := filepath.Glob(filepath.Join(dir, pluginName+"_*"))
	if err != nil {
		return err
	}
	old = append(old, filepath.Join(dir, checksumsName), filepath.Join(dir, manifestName))
	for _, f := range old {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// goBuild cross-compiles both commands with the toolchain on PATH.
func goBuild(p platform, o options, dir string) error {
	ldflags := fmt.Sprintf("-s -w -X %s.version=%s -X %s.commit=%s", versionPackage, o.Version, versionPackage, o.Commit)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags,
		"-o", dir+string(os.PathSeparator), "./cmd/"+pluginName, "./cmd/"+completionName)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	return cmd.Run()
}

// entry is one file of an archive.
type entry struct {
	Name string
	Data []byte
	Mode int64
}

// writeArchive writes a zip or a gzipped tar, by the file name, and returns
// its checksum.
func writeArchive(path string, entries []entry, mtime time.Time) (artifact, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	f, err := os.Create(path)
	if err != nil {
		return artifact{}, err
	}
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if strings.HasSuffix(path, ".zip") {
		err = writeZip(w, entries, mtime)
	} else {
		err = writeTarGz(w, entries, mtime)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return artifact{}, fmt.Errorf("write %s: %w", path, err)
	}
	return artifact{Name: filepath.Base(path), SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.Name,
			Mode:     e.Mode,
			Size:     int64(len(e.Data)),
			ModTime:  mtime,
			Format:   tar.FormatPAX,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.Data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(os.FileMode(e.Mode))
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := fw.Write(e.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeChecksums writes the format of sha256sum, so that
// "sha256sum -c checksums.txt" verifies a download.
func writeChecksums(path string, artifacts []artifact) error {
	sorted := append([]artifact(nil), artifacts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var b strings.Builder
	for _, a := range sorted {
		fmt.Fprintf(&b, "%s  %s\n", a.SHA256, a.Name)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
