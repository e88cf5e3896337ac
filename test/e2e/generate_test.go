package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/envops/kubectl-envops/pkg/render"
)

// generateProject writes a .envops.yaml for the two local clusters and
// scaffolds app web with "kubectl envops new", returning the project dir.
func generateProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := "environments:\n  dev: {context: " + devContext + "}\n  prod: {context: " + prodContext + ", confirm: true}\n" +
		"labels:\n  required: [name, app, tier, role]\n  optional: [language]\n  allowed: {tier: [frontend, backend]}\n"
	if err := os.WriteFile(filepath.Join(dir, ".envops.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runKubectl(t, dir, "", "envops", "new", "web", "--tier", "frontend", "--role", "server", "--language", "go",
		"--image", "registry.example.com/web:1.0", "--port", "8080", "--replicas", "dev=2,prod=3")
	if r.ExitCode != 0 {
		t.Fatalf("kubectl envops new failed:\n%s", r)
	}
	return dir
}

// decodeObjects reads a YAML stream or a JSON List into objects.
func decodeObjects(t *testing.T, s string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(s), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decoding output: %v\n%s", err, s)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.IsList() {
			list, err := u.ToList()
			if err != nil {
				t.Fatal(err)
			}
			for i := range list.Items {
				objs = append(objs, &list.Items[i])
			}
			continue
		}
		objs = append(objs, u)
	}
	return objs
}

func TestGenerateOutputIsAcceptedByTheAPIServer(t *testing.T) {
	dir := generateProject(t)
	for _, tc := range []struct {
		env, context, output string
	}{
		{"dev", devContext, "yaml"},
		{"prod", prodContext, "json"},
	} {
		t.Run(tc.env+" as "+tc.output, func(t *testing.T) {
			gen := runKubectl(t, dir, "", "envops", "generate", "web", "--env", tc.env, "--image", "registry.example.com/web:1.1", "-o", tc.output)
			if gen.ExitCode != 0 {
				t.Fatalf("generate failed:\n%s", gen)
			}
			ns := newNamespace(t, tc.context)
			apply := runKubectl(t, dir, gen.Stdout, "--context", tc.context, "-n", ns, "apply", "--dry-run=server", "-f", "-")
			if apply.ExitCode != 0 {
				t.Fatalf("the API server rejected the rendered objects:\n%s\nrendered:\n%s", apply, gen.Stdout)
			}
			if !strings.Contains(apply.Stdout, "replicationcontroller/web created (server dry run)") {
				t.Errorf("unexpected apply output:\n%s", apply)
			}
			// A server-side dry run changes nothing.
			if _, err := clientset(t, tc.context).CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{}); err == nil {
				t.Error("the dry run created the controller")
			}
		})
	}
}

func TestGeneratedPodsMountTheEnvironmentSecret(t *testing.T) {
	dir := generateProject(t)
	ns := newNamespace(t, devContext)
	cs := clientset(t, devContext)
	if _, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "environment"},
		StringData: map[string]string{"environment": "dev"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	gen := runKubectl(t, dir, "", "envops", "generate", "web", "--env", "dev")
	if gen.ExitCode != 0 {
		t.Fatalf("generate failed:\n%s", gen)
	}
	if apply := runKubectl(t, dir, gen.Stdout, "--context", devContext, "-n", ns, "apply", "-f", "-"); apply.ExitCode != 0 {
		t.Fatalf("apply failed:\n%s", apply)
	}

	var pods []corev1.Pod
	waitFor(t, 60*time.Second, "2 running pods of web", func() bool {
		list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "name=web-server"})
		if err != nil {
			return false
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				pods = append(pods, p)
			}
		}
		return len(pods) == 2
	})
	for _, p := range pods {
		for k, v := range map[string]string{"name": "web-server", "app": "web", "tier": "frontend", "role": "server", "language": "go"} {
			if p.Labels[k] != v {
				t.Errorf("pod %s: label %s = %q, want %q", p.Name, k, p.Labels[k], v)
			}
		}
		var volume string
		for _, v := range p.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == "environment" {
				volume = v.Name
			}
		}
		if volume == "" {
			t.Fatalf("pod %s has no volume for Secret environment: %+v", p.Name, p.Spec.Volumes)
		}
		mounted := false
		for _, m := range p.Spec.Containers[0].VolumeMounts {
			if m.Name == volume && m.MountPath == "/etc/secrets" && m.ReadOnly {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("pod %s does not mount the Secret read-only at /etc/secrets: %+v", p.Name, p.Spec.Containers[0].VolumeMounts)
		}
	}
	rc, err := cs.CoreV1().ReplicationControllers(ns).Get(t.Context(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rc.Spec.Selector, map[string]string{"name": "web-server"}) {
		t.Errorf("selector = %v, want name=web-server only", rc.Spec.Selector)
	}
}

func TestGenerateRefusesBadInput(t *testing.T) {
	dir := generateProject(t)
	broken := filepath.Join(dir, "apps", "web", "overlays", "prod", "kustomization.yaml")
	for _, tc := range []struct {
		name  string
		args  []string
		setup func(t *testing.T)
		code  int
		want  string
	}{
		{name: "unknown environment", args: []string{"web", "--env", "staging"}, code: 2, want: `unknown environment "staging"`},
		{name: "unknown app", args: []string{"shop", "--env", "dev"}, code: 2, want: `unknown app "shop"`},
		{name: "invalid image", args: []string{"web", "--env", "dev", "--image", "registry.example.com/Web:1"}, code: 2, want: `invalid image reference`},
		{name: "broken kustomization", args: []string{"web", "--env", "prod"}, code: 2, want: broken + ": malformed kustomization",
			setup: func(t *testing.T) {
				if err := os.WriteFile(broken, []byte("resources: [../../base\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "missing overlay lists the overlays that exist", args: []string{"web", "--env", "dev"}, code: 2,
			want: `app "web" has no overlay for environment "dev": ` + filepath.Join(dir, "apps", "web", "overlays", "dev") + ` does not exist; overlays: prod`,
			setup: func(t *testing.T) {
				if err := os.RemoveAll(filepath.Join(dir, "apps", "web", "overlays", "dev")); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			}
			r := runKubectl(t, dir, "", append([]string{"envops", "generate"}, tc.args...)...)
			if r.ExitCode != tc.code {
				t.Errorf("exit code %d, want %d:\n%s", r.ExitCode, tc.code, r)
			}
			if r.Stdout != "" {
				t.Errorf("printed output despite the error:\n%s", r.Stdout)
			}
			if strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", r.Stderr, tc.want)
			}
		})
	}
}

// TestKustomizePluginsMatchGenerate builds the two kustomize plugins, runs
// the app's overlay through the kustomize API with exec plugins enabled,
// and compares with what "kubectl envops generate" prints.
func TestKustomizePluginsMatchGenerate(t *testing.T) {
	dir := generateProject(t)
	bin := t.TempDir()
	for _, p := range []string{"envsecret", "labelconvention"} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(bin, p), "./plugins/"+p)
		cmd.Dir = repoRoot()
		cmd.Env = goBuildEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building plugin %s: %v\n%s", p, err, out)
		}
	}

	plain := filepath.Join(dir, "plain-kustomize")
	files := map[string]string{
		"kustomization.yaml": "resources:\n- ../apps/web/overlays/prod\ntransformers:\n- envsecret.yaml\n- labels.yaml\n",
		"envsecret.yaml": "apiVersion: envops.github.io/v1alpha1\nkind: EnvSecret\nmetadata:\n  name: environment-secret\n  annotations:\n" +
			"    config.kubernetes.io/function: |\n      exec:\n        path: " + filepath.Join(bin, "envsecret") + "\n",
		"labels.yaml": "apiVersion: envops.github.io/v1alpha1\nkind: LabelConvention\nmetadata:\n  name: labels\n  annotations:\n" +
			"    config.kubernetes.io/function: |\n      exec:\n        path: " + filepath.Join(bin, "labelconvention") + "\napp: web\n",
	}
	if err := os.MkdirAll(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(plain, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	fromPlugins, err := render.BuildWithPlugins(filesys.MakeFsOnDisk(), plain)
	if err != nil {
		t.Fatal(err)
	}
	gen := runKubectl(t, dir, "", "envops", "generate", "web", "--env", "prod")
	if gen.ExitCode != 0 {
		t.Fatalf("generate failed:\n%s", gen)
	}
	fromGenerate := decodeObjects(t, gen.Stdout)
	if len(fromGenerate) != 1 {
		t.Fatalf("generate printed %d objects, want 1:\n%s", len(fromGenerate), gen.Stdout)
	}
	// Compare as JSON: the two decoders type numbers differently.
	if a, b := asJSON(t, fromPlugins), asJSON(t, fromGenerate); a != b {
		t.Errorf("kustomize with the plugins differs from generate:\nplugins:  %s\ngenerate: %s", a, b)
	}
	if _, found, _ := unstructured.NestedSlice(fromPlugins[0].Object, "spec", "template", "spec", "volumes"); !found {
		t.Error("the plugins did not add the Secret volume: the comparison proves nothing")
	}
}

func asJSON(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		j, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}
