// Package krew installs kubectl-envops the way krew users do, offline: the
// release that "go run ./hack/dist" builds (what "make dist" runs), the
// manifest it renders, krew v0.4.3 built from this module, and the real
// kubectl of the test control plane. It lives in its own module so that krew
// and its dependencies never enter the plugin's go.mod.
//
// The first run builds kubectl and cross-builds five platforms; give it time:
//
//	cd test/krew && go test -timeout 60m ./...
package krew

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/krew/pkg/index"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/test/cluster"
)

// releaseVersion is what the test release is stamped with; seeing it from
// "kubectl envops version" proves the installed binary came from this build.
const (
	releaseVersion = "v0.0.0-krewtest"
	releaseCommit  = "krewtest"
)

// platforms are the archives every release must hold.
var platforms = releasePlatforms()

// releasePlatforms is every platform of a release, or, when
// ENVOPS_DIST_PLATFORMS is set (e.g. linux/amd64 for a quick run), those.
func releasePlatforms() []string {
	if env := os.Getenv("ENVOPS_DIST_PLATFORMS"); env != "" {
		return strings.Split(env, ",")
	}
	return []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}
}

// result is what a command printed and how it exited.
type result struct {
	Stdout, Stderr string
	ExitCode       int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
}

// run runs name with exactly env (nothing inherited) in dir.
func run(t *testing.T, env []string, dir, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run %s %s: %v", name, strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return result{Stdout: out.String(), Stderr: errb.String(), ExitCode: code}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// release is a built release served over loopback, as a download site.
type release struct {
	dir      string
	manifest string
	url      string
	tools    string // kubectl, kubectl-krew, validate-krew-manifest
}

func (r release) archive(goos, goarch string) string {
	ext := ".tar.gz"
	if goos == "windows" {
		ext = ".zip"
	}
	return filepath.Join(r.dir, fmt.Sprintf("kubectl-envops_%s_%s_%s%s", releaseVersion, goos, goarch, ext))
}

// buildRelease builds krew, finds kubectl, starts a file server and runs
// the dist program with that server as the download site.
func buildRelease(t *testing.T) release {
	t.Helper()
	work := t.TempDir()
	r := release{dir: filepath.Join(work, "dist"), tools: filepath.Join(work, "tools")}
	r.manifest = filepath.Join(r.dir, "krew-manifest.yaml")

	// -trimpath, as every build of "make test", so that none of them
	// compiles a shared package again.
	goEnv := os.Environ()
	if res := run(t, goEnv, ".", "go", "build", "-trimpath", "-o", r.tools+string(os.PathSeparator),
		"sigs.k8s.io/krew/cmd/krew", "sigs.k8s.io/krew/cmd/validate-krew-manifest"); res.ExitCode != 0 {
		t.Fatalf("build krew:\n%s", res)
	}
	// kubectl runs "kubectl krew" as the plugin kubectl-krew.
	if err := os.Rename(filepath.Join(r.tools, "krew"), filepath.Join(r.tools, "kubectl-krew")); err != nil {
		t.Fatal(err)
	}
	binDir, err := cluster.Build(t.Context(), cluster.BuildOptions{Log: os.Stderr})
	if err != nil {
		t.Fatalf("build kubectl: %v", err)
	}
	if err := os.Symlink(filepath.Join(binDir, cluster.Kubectl), filepath.Join(r.tools, "kubectl")); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(http.FileServer(http.Dir(r.dir)))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	res := run(t, goEnv, repoRoot(t), "go", "run", "-trimpath", "./hack/dist",
		"-version", releaseVersion, "-commit", releaseCommit, "-out", r.dir, "-base-url", srv.URL,
		"-platforms", strings.Join(platforms, ","))
	if res.ExitCode != 0 {
		t.Fatalf("dist:\n%s", res)
	}
	return r
}

// offlineEnv is the environment of krew and kubectl: a private HOME, and
// proxies that refuse every connection, so any download from the internet
// fails instead of passing unnoticed.
func offlineEnv(home string, path ...string) []string {
	return []string{
		"HOME=" + home,
		"PATH=" + strings.Join(append(path, "/usr/bin", "/bin"), string(os.PathListSeparator)),
		"HTTP_PROXY=http://127.0.0.1:9",
		"HTTPS_PROXY=http://127.0.0.1:9",
		"NO_PROXY=127.0.0.1",
		"KUBECONFIG=" + filepath.Join(home, "no-kubeconfig"),
	}
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestKrewInstall(t *testing.T) {
	r := buildRelease(t)

	t.Run("release holds an archive per platform whose checksums match the manifest", func(t *testing.T) {
		sums, err := os.ReadFile(filepath.Join(r.dir, "checksums.txt"))
		if err != nil {
			t.Fatal(err)
		}
		plugin := readManifest(t, r.manifest)
		if plugin.Spec.Version != releaseVersion {
			t.Errorf("the manifest's spec.version is %q, want %s", plugin.Spec.Version, releaseVersion)
		}
		lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
		if len(lines) != len(platforms) {
			t.Errorf("checksums.txt has %d lines, want %d:\n%s", len(lines), len(platforms), sums)
		}
		if len(plugin.Spec.Platforms) != len(platforms) {
			t.Errorf("the manifest has %d platforms, want %d", len(plugin.Spec.Platforms), len(platforms))
		}
		for _, p := range platforms {
			goos, goarch, _ := strings.Cut(p, "/")
			archive := r.archive(goos, goarch)
			sum := sha256File(t, archive)
			if line := sum + "  " + filepath.Base(archive); !strings.Contains(string(sums), line+"\n") {
				t.Errorf("checksums.txt lacks %q", line)
			}
			found := false
			for _, pl := range plugin.Spec.Platforms {
				if pl.Selector == nil || pl.Selector.MatchLabels["os"] != goos || pl.Selector.MatchLabels["arch"] != goarch {
					continue
				}
				found = true
				if want := r.url + "/" + filepath.Base(archive); pl.URI != want {
					t.Errorf("%s: uri %s, want %s", p, pl.URI, want)
				}
				if pl.Sha256 != sum {
					t.Errorf("%s: sha256 %s, but the archive hashes to %s", p, pl.Sha256, sum)
				}
			}
			if !found {
				t.Errorf("the manifest has no platform for %s", p)
			}
		}
	})

	t.Run("krew's validation passes and installs every platform", func(t *testing.T) {
		// validate-krew-manifest names the plugin after the file.
		m := filepath.Join(t.TempDir(), "envops.yaml")
		copyFile(t, r.manifest, m)
		res := run(t, []string{"PATH=" + r.tools + ":/usr/bin:/bin", "HOME=" + t.TempDir()}, t.TempDir(),
			filepath.Join(r.tools, "validate-krew-manifest"), "-manifest", m)
		if res.ExitCode != 0 {
			t.Fatalf("validate-krew-manifest:\n%s", res)
		}
		if want := fmt.Sprintf("all %d spec.platforms installed fine", len(platforms)); !strings.Contains(res.Stderr, want) {
			t.Errorf("validate-krew-manifest did not report %q:\n%s", want, res)
		}
	})

	t.Run("krew's validation catches an archive that does not match its sha256", func(t *testing.T) {
		b, err := os.ReadFile(r.manifest)
		if err != nil {
			t.Fatal(err)
		}
		goos, goarch, _ := strings.Cut(platforms[len(platforms)-1], "/")
		good := sha256File(t, r.archive(goos, goarch))
		bad := strings.Replace(string(b), good, strings.Repeat("a", 64), 1)
		m := filepath.Join(t.TempDir(), "envops.yaml")
		if err := os.WriteFile(m, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		res := run(t, []string{"PATH=" + r.tools + ":/usr/bin:/bin", "HOME=" + t.TempDir()}, t.TempDir(),
			filepath.Join(r.tools, "validate-krew-manifest"), "-manifest", m)
		if res.ExitCode == 0 || !strings.Contains(res.Stderr, "checksum does not match") {
			t.Errorf("validation of a wrong sha256 should fail on the checksum:\n%s", res)
		}
	})

	t.Run("the committed template passes krew's structural validation", func(t *testing.T) {
		m := filepath.Join(t.TempDir(), "envops.yaml")
		copyFile(t, filepath.Join(repoRoot(t), "krew-manifest.yaml"), m)
		res := run(t, []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, t.TempDir(),
			filepath.Join(r.tools, "validate-krew-manifest"), "-manifest", m, "-skip-install")
		if res.ExitCode != 0 {
			t.Fatalf("validate-krew-manifest -skip-install:\n%s", res)
		}
	})

	t.Run("krew installs offline and kubectl runs the plugin", func(t *testing.T) {
		home := t.TempDir()
		krewRoot := filepath.Join(t.TempDir(), "krew")
		krewBin := filepath.Join(krewRoot, "bin")
		env := append(offlineEnv(home, krewBin, r.tools), "KREW_ROOT="+krewRoot)
		kubectl := filepath.Join(r.tools, "kubectl")
		dir := t.TempDir()

		res := run(t, env, dir, kubectl, "krew", "install",
			"--manifest="+r.manifest, "--archive="+r.archive(runtime.GOOS, runtime.GOARCH))
		if res.ExitCode != 0 {
			t.Fatalf("kubectl krew install:\n%s", res)
		}
		if !strings.Contains(res.Stderr, `Installed plugin: envops`) {
			t.Errorf("krew did not report the installation:\n%s", res)
		}

		res = run(t, env, dir, kubectl, "envops", "version")
		if res.ExitCode != 0 {
			t.Fatalf("kubectl envops version:\n%s", res)
		}
		for _, want := range []string{"kubectl-envops " + releaseVersion + "\n", "commit:     " + releaseCommit + "\n", runtime.GOOS + "/" + runtime.GOARCH} {
			if !strings.Contains(res.Stdout, want) {
				t.Errorf("kubectl envops version does not show %q:\n%s", want, res)
			}
		}

		res = run(t, env, dir, kubectl, "plugin", "list")
		if res.ExitCode != 0 {
			t.Fatalf("kubectl plugin list:\n%s", res)
		}
		if want := filepath.Join(krewBin, "kubectl-envops") + "\n"; !strings.Contains(res.Stdout, want) {
			t.Errorf("kubectl plugin list does not show krew's %s:\n%s", strings.TrimSpace(want), res)
		}

		// Before "completion install", kubectl has nothing to ask.
		res = run(t, env, dir, kubectl, "__complete", "envops", "")
		if strings.Contains(res.Stdout, "version\t") {
			t.Fatalf("completion works before it was installed, so this test proves nothing:\n%s", res)
		}
		res = run(t, env, dir, kubectl, "envops", "completion", "install")
		if res.ExitCode != 0 {
			t.Fatalf("kubectl envops completion install:\n%s", res)
		}
		store := filepath.Join(krewRoot, "store", "envops", releaseVersion, "kubectl_complete-envops")
		if want := fmt.Sprintf("wrote %s (a copy of %s)", filepath.Join(krewBin, "kubectl_complete-envops"), store); !strings.Contains(res.Stdout, want) {
			t.Errorf("completion install did not say %q:\n%s", want, res)
		}
		tests := []struct {
			name string
			args []string
			want []string
		}{
			{"subcommands", []string{"envops", ""}, []string{"completion\t", "version\t"}},
			{"a subcommand's arguments", []string{"envops", "completion", ""}, []string{"bash\n", "install\t"}},
			{"a flag's values", []string{"envops", "version", "-o", ""}, []string{"json\n", "yaml\n"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := run(t, env, dir, kubectl, append([]string{"__complete"}, tt.args...)...)
				if res.ExitCode != 0 {
					t.Fatalf("kubectl __complete:\n%s", res)
				}
				for _, w := range tt.want {
					if !strings.Contains(res.Stdout, w) {
						t.Errorf("kubectl __complete %s lacks %q:\n%s", strings.Join(tt.args, " "), w, res)
					}
				}
			})
		}
	})
}

// readManifest decodes a manifest into krew's own types.
func readManifest(t *testing.T, path string) index.Plugin {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p index.Plugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%s is not a krew manifest: %v", path, err)
	}
	return p
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
