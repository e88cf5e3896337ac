package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// fakeBuild stands in for the Go toolchain: it writes small files that name
// the platform, so the tests can tell which binary went where.
func fakeBuild(p platform, o options, dir string) error {
	for _, name := range []string{p.exe(pluginName), p.exe(completionName)} {
		content := fmt.Sprintf("%s %s %s/%s", name, o.Version, p.OS, p.Arch)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func testOptions(t *testing.T) options {
	t.Helper()
	return options{
		Version:  "v1.2.3",
		Commit:   "abc123",
		Out:      filepath.Join(t.TempDir(), "dist"),
		Template: filepath.Join("..", "..", manifestName),
		License:  filepath.Join("..", "..", licenseName),
		BaseURL:  "https://example.test/releases/v1.2.3",
		ModTime:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestRunWritesArchivesChecksumsAndManifest(t *testing.T) {
	o := testOptions(t)
	if err := run(o, fakeBuild, io.Discard); err != nil {
		t.Fatal(err)
	}
	license, err := os.ReadFile(o.License)
	if err != nil {
		t.Fatal(err)
	}

	wantArchives := map[string]string{
		"linux/amd64":   "kubectl-envops_v1.2.3_linux_amd64.tar.gz",
		"linux/arm64":   "kubectl-envops_v1.2.3_linux_arm64.tar.gz",
		"darwin/amd64":  "kubectl-envops_v1.2.3_darwin_amd64.tar.gz",
		"darwin/arm64":  "kubectl-envops_v1.2.3_darwin_arm64.tar.gz",
		"windows/amd64": "kubectl-envops_v1.2.3_windows_amd64.zip",
	}
	sums := readChecksums(t, filepath.Join(o.Out, checksumsName))
	if len(sums) != len(wantArchives) {
		t.Errorf("checksums.txt lists %d archives, want %d: %v", len(sums), len(wantArchives), sums)
	}

	manifest, err := yaml.ReadFile(filepath.Join(o.Out, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := manifest.GetString("spec.version"); v != "v1.2.3" {
		t.Errorf("spec.version = %q, want v1.2.3", v)
	}
	platforms, err := readPlatforms(manifest, manifestName)
	if err != nil {
		t.Fatal(err)
	}
	if len(platforms) != len(wantArchives) {
		t.Errorf("manifest has %d platforms, want %d", len(platforms), len(wantArchives))
	}
	for _, p := range platforms {
		key := p.OS + "/" + p.Arch
		name, ok := wantArchives[key]
		if !ok {
			t.Errorf("manifest has an unexpected platform %s", key)
			continue
		}
		t.Run(key, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(o.Out, name))
			if err != nil {
				t.Fatalf("archive for %s: %v", key, err)
			}
			sum := sha256.Sum256(data)
			got := hex.EncodeToString(sum[:])
			if sums[name] != got {
				t.Errorf("checksums.txt says %s for %s, the file hashes to %s", sums[name], name, got)
			}
			if s, _ := p.node.GetString("sha256"); s != got {
				t.Errorf("manifest sha256 = %s, the archive hashes to %s", s, got)
			}
			if uri, _ := p.node.GetString("uri"); uri != o.BaseURL+"/"+name {
				t.Errorf("manifest uri = %s, want %s", uri, o.BaseURL+"/"+name)
			}

			files := readArchive(t, name, data)
			exe := p.exe("")
			want := map[string]archived{
				licenseName:          {Mode: 0o644, Data: string(license)},
				pluginName + exe:     {Mode: 0o755, Data: fmt.Sprintf("%s%s v1.2.3 %s", pluginName, exe, key)},
				completionName + exe: {Mode: 0o755, Data: fmt.Sprintf("%s%s v1.2.3 %s", completionName, exe, key)},
			}
			if len(files) != len(want) {
				t.Errorf("archive holds %v, want exactly %v", keys(files), keys(want))
			}
			for n, w := range want {
				g, ok := files[n]
				if !ok {
					t.Errorf("archive lacks %s", n)
					continue
				}
				if g.Mode != w.Mode {
					t.Errorf("%s has mode %o, want %o", n, g.Mode, w.Mode)
				}
				if g.Data != w.Data {
					t.Errorf("%s holds %.60q, want %.60q", n, g.Data, w.Data)
				}
				if !g.ModTime.Equal(o.ModTime) {
					t.Errorf("%s is dated %s, want SOURCE_DATE_EPOCH %s", n, g.ModTime, o.ModTime)
				}
			}
		})
	}

	// The rendered manifest keeps the template's text: only version, uri
	// and sha256 change.
	tmpl, err := os.ReadFile(o.Template)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := os.ReadFile(filepath.Join(o.Out, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	if d := changedLines(string(tmpl), string(rendered)); len(d) != 1+2*len(wantArchives) {
		t.Errorf("rendering changed %d lines, want %d (version, and uri and sha256 of each platform):\n%s", len(d), 1+2*len(wantArchives), strings.Join(d, "\n"))
	}
}

func TestRunIsReproducible(t *testing.T) {
	o := testOptions(t)
	if err := run(o, fakeBuild, io.Discard); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(filepath.Join(o.Out, checksumsName))
	if err != nil {
		t.Fatal(err)
	}
	if err := run(o, fakeBuild, io.Discard); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(o.Out, checksumsName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("two runs with the same inputs differ:\n%s\n%s", first, second)
	}
}

func TestRunRemovesOnlyAnOlderRelease(t *testing.T) {
	o := testOptions(t)
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(o.Out, "kubectl-envops_v0.0.1_linux_amd64.tar.gz")
	notes := filepath.Join(o.Out, "NOTES.md")
	for _, f := range []string{stale, notes} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(o, fakeBuild, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the archive of an older version is still in %s", o.Out)
	}
	if _, err := os.Stat(notes); err != nil {
		t.Errorf("a file dist does not own was removed: %v", err)
	}
}

func TestRunDefaultsToTheTemplateVersion(t *testing.T) {
	o := testOptions(t)
	o.Version = ""
	o.BaseURL = ""
	if err := run(o, fakeBuild, io.Discard); err != nil {
		t.Fatal(err)
	}
	tmpl, err := yaml.ReadFile(o.Template)
	if err != nil {
		t.Fatal(err)
	}
	version, _ := tmpl.GetString("spec.version")
	rendered, err := yaml.ReadFile(filepath.Join(o.Out, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	platforms, err := readPlatforms(rendered, manifestName)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range platforms {
		uri, _ := p.node.GetString("uri")
		if want := releasesURL + version + "/" + p.archiveName(version); uri != want {
			t.Errorf("%s/%s uri = %s, want %s", p.OS, p.Arch, uri, want)
		}
	}
}

func TestRunRefuses(t *testing.T) {
	linuxOnly := func(extra string) string {
		return `apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: envops
spec:
  version: v0.1.0
  shortDescription: test
  platforms:
  - selector:
      matchLabels:
        os: linux
        arch: amd64
    uri: https://example.test/a.tar.gz
    sha256: "0000000000000000000000000000000000000000000000000000000000000000"
` + extra
	}
	tests := []struct {
		name     string
		version  string
		template string
		build    builder
		wantErr  string
	}{
		{
			name:     "version without a leading v",
			version:  "1.2.3",
			template: linuxOnly("    bin: kubectl-envops\n"),
			wantErr:  `version "1.2.3" does not start with "v"`,
		},
		{
			name:     "version that is not semantic",
			version:  "v1.2",
			template: linuxOnly("    bin: kubectl-envops\n"),
			wantErr:  `version "v1.2" is not a semantic version`,
		},
		{
			name:    "platform without arch",
			version: "v1.2.3",
			template: `apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
spec:
  platforms:
  - selector:
      matchLabels:
        os: linux
    bin: kubectl-envops
`,
			wantErr: "spec.platforms[0] needs selector.matchLabels with both os and arch",
		},
		{
			name:     "platform listed twice",
			version:  "v1.2.3",
			template: linuxOnly("    bin: kubectl-envops\n  - selector:\n      matchLabels: {os: linux, arch: amd64}\n    bin: kubectl-envops\n"),
			wantErr:  "spec.platforms[1] repeats linux/amd64",
		},
		{
			name:     "no platforms",
			version:  "v1.2.3",
			template: "apiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\nspec:\n  version: v0.1.0\n",
			wantErr:  "has no spec.platforms",
		},
		{
			name:     "bin the archive does not hold",
			version:  "v1.2.3",
			template: linuxOnly("    bin: kubectl-envops.exe\n"),
			wantErr:  `names "kubectl-envops.exe", which the archive does not hold`,
		},
		{
			name:     "files entry the archive does not hold",
			version:  "v1.2.3",
			template: linuxOnly("    files:\n    - from: README.md\n      to: .\n    bin: kubectl-envops\n"),
			wantErr:  `names "README.md", which the archive does not hold`,
		},
		{
			name:    "short description longer than krew takes",
			version: "v1.2.3",
			template: strings.Replace(linuxOnly("    bin: kubectl-envops\n"), "shortDescription: test",
				"shortDescription: Environment-aware deploys, label hygiene, node agents", 1),
			wantErr: "spec.shortDescription of",
		},
		{
			name:     "failing build",
			version:  "v1.2.3",
			template: linuxOnly("    bin: kubectl-envops\n"),
			build:    func(platform, options, string) error { return errors.New("exit status 1") },
			wantErr:  "build for linux/amd64: exit status 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions(t)
			o.Version = tt.version
			o.Template = filepath.Join(t.TempDir(), manifestName)
			if err := os.WriteFile(o.Template, []byte(tt.template), 0o644); err != nil {
				t.Fatal(err)
			}
			build := tt.build
			if build == nil {
				build = fakeBuild
			}
			err := run(o, build, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run() error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(o.Out, manifestName)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a manifest was written although the run failed")
			}
		})
	}
}

func TestTemplateShortDescriptionFitsKrew(t *testing.T) {
	manifest, err := yaml.ReadFile(filepath.Join("..", "..", manifestName))
	if err != nil {
		t.Fatal(err)
	}
	if err := checkShortDescription(manifest, manifestName); err != nil {
		t.Error(err)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	got, err := sourceDateEpoch("1767323045")
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC); !got.Equal(want) {
		t.Errorf("sourceDateEpoch = %s, want %s", got, want)
	}
	if _, err := sourceDateEpoch("yesterday"); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("a non-numeric SOURCE_DATE_EPOCH gave %v, want an error naming it", err)
	}
}

// archived is one file read back from an archive.
type archived struct {
	Mode    int64
	Data    string
	ModTime time.Time
}

func readArchive(t *testing.T, name string, data []byte) map[string]archived {
	t.Helper()
	files := map[string]archived{}
	if strings.HasSuffix(name, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			files[f.Name] = archived{Mode: int64(f.Mode().Perm()), Data: string(b), ModTime: f.Modified.UTC()}
		}
		return files
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = archived{Mode: hdr.Mode, Data: string(b), ModTime: hdr.ModTime.UTC()}
	}
	return files
}

func readChecksums(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("checksums.txt line %q is not in sha256sum format", line)
		}
		sums[name] = sum
	}
	return sums
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// changedLines pairs the lines of two texts of the same length and returns
// those that differ, or every line when the lengths differ.
func changedLines(a, b string) []string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		return append(al, bl...)
	}
	var out []string
	for i := range al {
		if al[i] != bl[i] {
			out = append(out, fmt.Sprintf("- %s\n+ %s", al[i], bl[i]))
		}
	}
	return out
}
