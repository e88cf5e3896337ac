package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// The README's examples, run as written: every command line of its sh
// and console blocks, in the README's order, through kubectl envops in a
// scaffolded project on the local clusters; where the README shows what a
// command prints, the output must match. Nothing is skipped silently:
// a block the test does not run carries a "readme-test: not run: WHY"
// comment in the README, and a command line it does not run is listed in
// readmeNotRun with the reason.
//
// Comments in the README source (invisible once rendered) say what a
// block that is not a command is:
//
//	<!-- readme-test: file NAME [NAME...] -->        the block is written to these files of the project
//	<!-- readme-test: output of CMD [| MODE] -->     the block is what CMD prints; MODE is "whole"
//	                                                 (the default: what a terminal shows, the
//	                                                 error stream included), "stdout", "first
//	                                                 lines", "json subset" or "sarif result"
//	<!-- readme-test: not run: WHY -->               the block is not run, for this reason
//	<!-- readme-test: compare lines in order -->     before a console block: each line it shows
//	                                                 after a command is in what the command prints,
//	                                                 in order (others may be between), once times,
//	                                                 durations, pod names and runs of blanks are
//	                                                 set aside: for transcripts of real runs
//
// To add an example, add it to the README: it is run, and is expected to
// exit 0 unless readmeExit says otherwise.

// readmeNotRun are the README's command lines this test does not run, each
// with the reason.
var readmeNotRun = map[string]string{
	"make demo":           "builds the plugin and starts and stops its own clusters: it is the whole story this suite is part of",
	"make test":           "runs this suite",
	"make build":          "writes bin/ in the repository; the suite builds the plugin itself",
	"make unit":           "runs the unit tests, as CI does",
	"make bench":          "takes minutes; its figures are in the README's Performance section",
	"make vet":            "run by CI before the tests",
	"make help":           "a list of the Makefile's targets, not the plugin",
	"make cluster-up":     "starts clusters of its own; the suite runs against the ones it started or was given",
	"make cluster-status": "reads the state of make cluster-up",
	"make cluster-down":   "stops the clusters of make cluster-up",
	"cd test/cluster && go run ./cmd/envops-cluster up --clusters dev,prod,staging --without-metrics staging":  "starts three clusters of its own; test/cluster's tests start clusters with and without metrics",
	"kubectl krew install --manifest=krew-manifest.yaml --archive=kubectl-envops_v0.1.0_linux_amd64.tar.gz":    "needs a release archive and krew; test/krew (make krew-test) builds the release and installs it with krew offline",
	"kubectl krew install --manifest=krew-manifest.yaml":                                                       "downloads the archive from the release URL the manifest names: no network here",
	"kubectl envops completion install":                                                                        "writes kubectl_complete-envops beside the installed plugin, here the suite's shared bin directory; pkg/cmd's TestCompletionInstall covers it",
	"sha256sum -c --ignore-missing checksums.txt":                                                              "needs the files of a release (make dist); hack/dist's tests check the checksums",
	"tar -xzf kubectl-envops_v0.1.0_linux_amd64.tar.gz -C ~/.local/bin kubectl-envops kubectl_complete-envops": "needs a release archive (make dist); test/krew unpacks one",
	"git clone https://github.com/envops/kubectl-envops && cd kubectl-envops":                                  "fetches the repository over the network",
	"make install": "installs into the GOPATH of the machine",
	"make install INSTALL_DIR=/usr/local/bin":                                   "installs into /usr/local/bin of the machine",
	"kubectl envops --context prod-cluster init-env prod -A":                    "writes the Secret into every namespace of the shared clusters, other tests' included; TestInitEnvDeclaresEachClusterAndPodsMountIt covers -A",
	"kubectl envops --context prod-cluster init-env prod -A --watch-namespaces": "runs until Ctrl-C, writing into every namespace; TestInitEnvWatchNamespaces covers it",
	"kubectl envops node-agent statsd --sync --watch":                           "runs until Ctrl-C; TestNodeAgentWatchFollowsNodes covers it",
	"kubectl envops top --by tier -w":                                           "runs until Ctrl-C; pkg/cmd's TestTopWatchPrintsOnChange prints the table again only when it changes",
	"kubectl envops deploy web --env dev --image registry.example.com/web:1.4.2 -o jsonl --notify https://hooks.example.com/T/B/X": "posts to a chat webhook on the network; TestDeployCommandNotifies posts to a local one",
}

// readmeExit are the commands whose documented exit code is not 0.
var readmeExit = map[string]int{
	"kubectl --context prod-cluster envops env":                           1, // "refused by kubectl"
	"kubectl envops lint deploy/":                                         1, // the guestbook frontend's findings
	"kubectl envops lint deploy/ -o sarif --fail-on warning > lint.sarif": 1,
	"kubectl envops lint frontend.yaml":                                   1,
	"kubectl envops lint frontend.yaml -o json":                           1,
	"kubectl envops lint frontend.yaml -o sarif":                          1,
	"kubectl envops lint frontend.yaml -o junit":                          1,
	"kubectl envops lint frontend.yaml -o github":                         1,
}

// readmeSays are what the README says in words of a command's result,
// checked in what it prints.
var readmeSays = map[string]string{
	"kubectl --context prod-cluster envops env": "flags cannot be placed before plugin name", // kubectl's own refusal
}

// readmeAnyOf are commands whose result depends on what else the shared
// clusters hold, with the exit codes that mean it worked.
var readmeAnyOf = map[string][]int{
	// Other tests' workloads may break the convention: findings are exit 1.
	"kubectl envops lint --live -A": {0, 1},
}

// readmeKnownFailing are examples that fail today, with the reason. The
// test checks that each still fails, so that whoever fixes one is told to
// take it off this list.
var readmeKnownFailing = map[string]string{}

// readmeTyped are commands that ask for the environment's name on a
// terminal (confirm: true), with what the user types.
var readmeTyped = map[string]string{
	"kubectl envops deploy web --env prod --image registry.example.com/web:1.4.2 --max-surge 2 --max-unavailable 0": "prod\n",
	"kubectl envops deploy web --env prod --image registry.example.com/web:1.5.0 --pause-after 2":                   "prod\n",
	"kubectl envops deploy web --env prod --continue":                                                               "prod\n",
	"kubectl envops deploy web --env prod --rollback":                                                               "prod\n",
}

// readmeOwnProject are commands that create what the shared project
// already has, run in a copy of the project without its apps.
var readmeOwnProject = map[string]bool{
	"kubectl envops new web --tier frontend --role server --image registry.example.com/web:1.0.0 --port 8080 --replicas prod=3": true,
}

// readmeNamespaces are the namespaces the README names; each is a fresh
// namespace of the dev cluster in the test.
var readmeNamespaces = []string{"web", "monitoring", "ci"}

// readmeBlock is one fenced block of the README.
type readmeBlock struct {
	line int
	lang string
	text string
	// note is the readme-test comment before the block, "" if none.
	note string
}

var readmeNote = regexp.MustCompile(`^<!-- readme-test: (.*) -->$`)

// readmeBlocks reads the fenced blocks of the README, each with the
// readme-test comment right before it.
func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []readmeBlock
	var cur *readmeBlock
	note := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &readmeBlock{line: n, lang: strings.TrimPrefix(line, "```"), note: note}
			note = ""
		case cur != nil && line == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		default:
			if m := readmeNote.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				note = m[1]
			} else if strings.TrimSpace(line) != "" {
				note = ""
			}
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: a block that is never closed", cur.line)
	}
	return blocks
}

// readmeExample is one command line of the README, with what it is shown
// to print.
type readmeExample struct {
	line    int
	command string
	// want is the output the README shows ("" for none); mode says how
	// it is compared.
	want, mode string
	// exit is the exit code a console block shows after it (-1: none).
	exit int
}

// stripComment drops a shell comment: a # after a blank, outside quotes.
func stripComment(line string) string {
	var quote rune
	prev := ' '
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (prev == ' ' || prev == '\t' || i == 0):
			return strings.TrimSpace(line[:i])
		}
		prev = r
	}
	return strings.TrimSpace(line)
}

// readmeExamples turns the blocks into the examples to run, files to
// write and outputs to compare; a block it cannot place fails the test.
func readmeExamples(t *testing.T, blocks []readmeBlock) (examples []readmeExample, files map[string]string, notRun []string) {
	t.Helper()
	files = map[string]string{}
	for _, b := range blocks {
		switch {
		case strings.HasPrefix(b.note, "not run: "):
			notRun = append(notRun, fmt.Sprintf("README.md:%d: %s", b.line, strings.TrimPrefix(b.note, "not run: ")))
		case strings.HasPrefix(b.note, "file "):
			for _, name := range strings.Fields(strings.TrimPrefix(b.note, "file ")) {
				files[name] = b.text
			}
		case strings.HasPrefix(b.note, "output of "):
			cmd, mode, _ := strings.Cut(strings.TrimPrefix(b.note, "output of "), " | ")
			examples = append(examples, readmeExample{line: b.line, command: strings.TrimSpace(cmd), want: b.text, mode: strings.TrimSpace(mode), exit: -1})
		case b.note != "" && !(b.lang == "console" && strings.HasPrefix(b.note, "compare ")):
			t.Errorf("README.md:%d: unknown readme-test comment %q", b.line, b.note)
		case b.lang == "sh":
			for i, line := range strings.Split(b.text, "\n") {
				if cmd := stripComment(line); cmd != "" {
					examples = append(examples, readmeExample{line: b.line + 1 + i, command: cmd, exit: -1})
				}
			}
		case b.lang == "console":
			afterEcho := false
			for i, line := range strings.Split(strings.TrimSuffix(b.text, "\n"), "\n") {
				cmd, isCommand := strings.CutPrefix(line, "$ ")
				switch {
				case isCommand && cmd == "echo $?":
					afterEcho = true
				case isCommand:
					mode := "whole"
					if m, ok := strings.CutPrefix(b.note, "compare "); ok {
						mode = m
					}
					examples = append(examples, readmeExample{line: b.line + 1 + i, command: cmd, mode: mode, exit: -1})
				case len(examples) == 0:
					t.Errorf("README.md:%d: console output before any $ command", b.line+1+i)
				case afterEcho:
					if _, err := fmt.Sscan(line, &examples[len(examples)-1].exit); err != nil {
						t.Errorf("README.md:%d: echo $? shows %q, not an exit code", b.line+1+i, line)
					}
					afterEcho = false
				default:
					examples[len(examples)-1].want += line + "\n"
				}
			}
		default:
			t.Errorf("README.md:%d: a %q block that is neither a command nor marked: add a readme-test comment before it (file, output of, or not run: WHY)", b.line, b.lang)
		}
	}
	return examples, files, notRun
}

// readmeEnv is where the examples run: a project, a kubeconfig whose
// contexts carry the README's names, and fresh namespaces.
type readmeEnv struct {
	dir        string
	kubeconfig string
	namespaces map[string]string
}

// newReadmeEnv scaffolds the project the README's examples assume: the
// README's .envops.yaml (dev -> dev-cluster, prod -> prod-cluster), both
// clusters declared, and the app web deployed to both.
func newReadmeEnv(t *testing.T, files map[string]string) *readmeEnv {
	t.Helper()
	nsDev, nsProd := newNamespace(t, devContext), newNamespace(t, prodContext)
	e := &readmeEnv{dir: t.TempDir(), namespaces: map[string]string{}}
	for _, name := range readmeNamespaces {
		e.namespaces[name] = newNamespace(t, devContext)
	}
	raw, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for name, from := range map[string]struct{ context, ns string }{
		"dev-cluster": {devContext, nsDev}, "envops-dev": {devContext, nsDev},
		"prod-cluster": {prodContext, nsProd}, "envops-prod": {prodContext, nsProd},
	} {
		c := *raw.Contexts[from.context]
		c.Namespace = from.ns
		raw.Contexts[name] = &c
	}
	raw.CurrentContext = "dev-cluster"
	e.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*raw, e.kubeconfig); err != nil {
		t.Fatal(err)
	}
	if files[".envops.yaml"] == "" {
		t.Fatal("the README shows no project file marked <!-- readme-test: file .envops.yaml -->")
	}
	for name, content := range files {
		writeProjectFile(t, filepath.Join(e.dir, name), content)
	}
	for _, args := range [][]string{
		{"envops", "init-env", "dev", "--context", "dev-cluster"},
		{"envops", "init-env", "prod", "--context", "prod-cluster"},
		{"envops", "new", "web", "--tier", "frontend", "--role", "server", "--image", "registry.example.com/web:1.0.0", "--port", "8080", "--replicas", "prod=3"},
		{"envops", "deploy", "web", "--env", "dev"},
		{"envops", "deploy", "web", "--env", "prod", "--yes"},
	} {
		if r := runIn(t, e.kubeconfig, e.dir, args...); r.ExitCode != 0 {
			t.Fatalf("set-up: kubectl %s:\n%s", strings.Join(args, " "), r)
		}
	}
	t.Cleanup(func() { deleteClusterObjects(t, "deploy", e.namespaces["web"], false) })
	return e
}

var readmeNamespaceFlag = regexp.MustCompile(`(-n|--namespace)([ =])([a-z0-9-]+)`)

// run runs one command line with sh, as a user would type it.
func (e *readmeEnv) run(t *testing.T, x readmeExample) result {
	t.Helper()
	command := readmeNamespaceFlag.ReplaceAllStringFunc(x.command, func(m string) string {
		sub := readmeNamespaceFlag.FindStringSubmatch(m)
		if ns, ok := e.namespaces[sub[3]]; ok {
			return sub[1] + sub[2] + ns
		}
		return m
	})
	dir := e.dir
	if readmeOwnProject[x.command] {
		dir = t.TempDir()
		writeProjectFile(t, filepath.Join(dir, ".envops.yaml"), mustRead(t, filepath.Join(e.dir, ".envops.yaml")))
	}
	argv := []string{"sh", "-c", command}
	stdin := ""
	if typed, ok := readmeTyped[x.command]; ok {
		// A terminal to type the confirmation on.
		argv = []string{"script", "-qec", command, "/dev/null"}
		stdin = typed
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	for _, v := range commandEnv() {
		if strings.HasPrefix(v, "KUBECONFIG=") {
			v = "KUBECONFIG=" + e.kubeconfig
		}
		cmd.Env = append(cmd.Env, v)
	}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", command, err)
	}
	return result{Stdout: out.String(), Stderr: errb.String(), ExitCode: code}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readmeOutputMatches compares what a command printed with what the README
// shows, as mode says: "whole" is what a terminal shows (standard output,
// then the error stream), every other mode reads standard output alone.
func readmeOutputMatches(r result, want, mode string) error {
	got := r.Stdout
	if mode == "" || mode == "whole" {
		got = r.Stdout + r.Stderr
	}
	trim := func(s string) []string {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		for i := range lines {
			lines[i] = strings.TrimRight(lines[i], " ")
		}
		return lines
	}
	switch mode {
	case "", "whole", "stdout":
		if g, w := trim(got), trim(want); !slices.Equal(g, w) {
			return fmt.Errorf("prints\n%s\nthe README shows\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
	case "lines in order":
		g, w := trim(readmeSetAside(r.Stdout+r.Stderr)), trim(readmeSetAside(want))
		i := 0
		for _, line := range g {
			if i < len(w) && line == w[i] {
				i++
			}
		}
		if i < len(w) {
			return fmt.Errorf("prints\n%s\nwhich lacks, in the order the README shows them, the line\n%s", strings.Join(g, "\n"), w[i])
		}
	case "first lines":
		g, w := trim(got), trim(want)
		if len(g) < len(w) || !slices.Equal(g[:len(w)], w) {
			return fmt.Errorf("prints\n%s\nthe README shows as its first lines\n%s", got, want)
		}
	case "json subset", "sarif result":
		var g, w any
		if err := json.Unmarshal([]byte(got), &g); err != nil {
			return fmt.Errorf("prints no JSON: %v\n%s", err, got)
		}
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			return fmt.Errorf("the README's JSON does not parse: %v", err)
		}
		if mode == "sarif result" {
			results, _ := jsonPath(g, "runs", 0, "results").([]any)
			if !slices.ContainsFunc(results, func(r any) bool { return jsonSubset(w, r) }) {
				return fmt.Errorf("no result of runs[0].results is the README's\n%s\nin\n%s", want, got)
			}
			return nil
		}
		if !jsonSubset(w, g) {
			return fmt.Errorf("prints\n%s\nwhich does not hold what the README shows\n%s", got, want)
		}
	default:
		return fmt.Errorf("unknown comparison %q in the README's readme-test comment", mode)
	}
	return nil
}

// What a transcript of a real run shows differently each time: times,
// durations, generated pod names, and the blanks a table pads with.
var (
	readmeTime     = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	readmeDuration = regexp.MustCompile(`\b\d+(\.\d+)?(ms|s|m\d+s|m|h\d+m|h)\b`)
	readmePod      = regexp.MustCompile(`\b([a-z0-9]+(-[a-z0-9]+)*)-[a-z0-9]{5}\b`)
	readmeBlanks   = regexp.MustCompile(`[ \t]+`)
)

// readmeSetAside replaces what differs from run to run with placeholders.
func readmeSetAside(s string) string {
	s = readmeTime.ReplaceAllString(s, "TIME")
	s = readmeDuration.ReplaceAllString(s, "DURATION")
	s = readmePod.ReplaceAllString(s, "${1}-POD")
	return readmeBlanks.ReplaceAllString(s, " ")
}

// jsonSubset says whether every field of want is in got with the same
// value; a list of want is a prefix of got's.
func jsonSubset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !jsonSubset(v, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) < len(w) {
			return false
		}
		for i := range w {
			if !jsonSubset(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return fmt.Sprint(want) == fmt.Sprint(got)
}

func jsonPath(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestREADMEExamples(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Fatalf("the examples that ask for a typed confirmation need script(1) (util-linux) for a terminal: %v", err)
	}
	examples, files, notRunBlocks := readmeExamples(t, readmeBlocks(t))
	for _, why := range notRunBlocks {
		t.Logf("not run: %s", why)
	}
	seen := map[string]bool{}
	for _, x := range examples {
		seen[x.command] = true
	}
	for _, list := range []map[string]string{readmeNotRun, readmeKnownFailing, readmeTyped} {
		for cmd := range list {
			if !seen[cmd] {
				t.Errorf("the README no longer has %q: take it off the test's lists", cmd)
			}
		}
	}
	e := newReadmeEnv(t, files)

	var failed []string
	for _, x := range examples {
		name := fmt.Sprintf("README.md:%d", x.line)
		if why, ok := readmeNotRun[x.command]; ok {
			t.Logf("%s: not run: %s: %s", name, x.command, why)
			continue
		}
		r := e.run(t, x)
		why, known := readmeKnownFailing[x.command]
		wantExit := 0
		if code, ok := readmeExit[x.command]; ok {
			wantExit = code
		}
		if x.exit >= 0 {
			wantExit = x.exit
		}
		ok := r.ExitCode == wantExit
		if codes, listed := readmeAnyOf[x.command]; listed {
			ok = slices.Contains(codes, r.ExitCode)
		}
		var mismatch error
		if says, listed := readmeSays[x.command]; ok && listed && !strings.Contains(r.Stdout+r.Stderr, says) {
			mismatch = fmt.Errorf("does not say %q:\n%s", says, r)
			ok = false
		}
		if ok && x.want != "" {
			mismatch = readmeOutputMatches(r, x.want, x.mode)
			ok = mismatch == nil
		}
		switch {
		case known && ok:
			t.Errorf("%s: %s now works: take it off readmeKnownFailing (%s)", name, x.command, why)
		case known:
			t.Logf("%s: fails, as known (%s): %s\n%s", name, why, x.command, r)
			failed = append(failed, fmt.Sprintf("%s %s: %s", name, x.command, why))
		case mismatch != nil:
			t.Errorf("%s: %s %v", name, x.command, mismatch)
		case !ok:
			t.Errorf("%s: %s: exit %d, want %d\n%s", name, x.command, r.ExitCode, wantExit, r)
		default:
			t.Logf("%s: ok: %s", name, x.command)
		}
	}
	if len(failed) > 0 {
		t.Logf("README examples that fail today:\n  %s", strings.Join(failed, "\n  "))
	}
}
