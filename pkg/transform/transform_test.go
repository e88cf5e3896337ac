package transform

import (
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/kyaml/kio"
	"sigs.k8s.io/yaml"
)

// run applies f to the YAML stream in and returns the result as YAML.
func run(t *testing.T, f kio.Filter, in string) (string, error) {
	t.Helper()
	nodes, err := kio.FromBytes([]byte(in))
	if err != nil {
		t.Fatalf("parsing input: %v", err)
	}
	out, err := f.Filter(nodes)
	if err != nil {
		return "", err
	}
	s, err := kio.StringAll(out)
	if err != nil {
		t.Fatalf("printing output: %v", err)
	}
	return s, nil
}

// normalize rewrites a YAML stream in one canonical style (block style,
// sorted keys), so tests compare content rather than formatting.
func normalize(t *testing.T, s string) string {
	t.Helper()
	nodes, err := kio.FromBytes([]byte(s))
	if err != nil {
		t.Fatalf("parsing YAML: %v", err)
	}
	docs := make([]string, 0, len(nodes))
	for _, n := range nodes {
		j, err := n.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(y))
	}
	return strings.Join(docs, "---\n")
}

type filterCase struct {
	name    string
	filter  kio.Filter
	in      string
	want    string // expected YAML; empty when wantErr is set
	wantErr string // substring of the expected error
}

func runCases(t *testing.T, cases []filterCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := run(t, tc.filter, tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans several lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got, want := normalize(t, got), normalize(t, tc.want); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

var envSecret = EnvSecret{SecretName: "environment", MountPath: "/etc/secrets"}

func TestEnvSecret(t *testing.T) {
	runCases(t, []filterCase{
		{
			name:   "volume and read-only mount are added to a replication controller",
			filter: envSecret,
			in: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
`,
			want: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - name: environment
          mountPath: /etc/secrets
          readOnly: true
      volumes:
      - name: environment
        secret:
          secretName: environment
`,
		},
		{
			name:   "a template that already mounts the secret is unchanged",
			filter: envSecret,
			in: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: env, mountPath: /etc/secrets}
      volumes:
      - name: env
        secret: {secretName: environment}
`,
			want: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
        volumeMounts:
        - {name: env, mountPath: /etc/secrets}
      volumes:
      - name: env
        secret: {secretName: environment}
`,
		},
		{
			name:   "an existing volume for the secret is reused for containers that lack the mount",
			filter: envSecret,
			in: `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      containers:
      - name: a
        volumeMounts:
        - {name: env, mountPath: /etc/secrets, readOnly: true}
      - name: b
      volumes:
      - name: env
        secret: {secretName: environment}
`,
			want: `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  template:
    spec:
      containers:
      - name: a
        volumeMounts:
        - {name: env, mountPath: /etc/secrets, readOnly: true}
      - name: b
        volumeMounts:
        - name: env
          mountPath: /etc/secrets
          readOnly: true
      volumes:
      - name: env
        secret: {secretName: environment}
`,
		},
		{
			name:   "a cron job's template is found below the job template, other kinds are left alone",
			filter: envSecret,
			in: `apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: report
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - port: 80
`,
			want: `apiVersion: batch/v1
kind: CronJob
metadata: {name: report}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: report
            volumeMounts:
            - name: environment
              mountPath: /etc/secrets
              readOnly: true
          volumes:
          - name: environment
            secret:
              secretName: environment
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports:
  - port: 80
`,
		},
		{
			name:   "another volume at the mount path is an error",
			filter: envSecret,
			in: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        volumeMounts:
        - {name: certs, mountPath: /etc/secrets}
      volumes:
      - name: certs
        secret: {secretName: tls}
`,
			wantErr: `ReplicationController/web: container "web" already mounts volume "certs" at /etc/secrets`,
		},
		{
			name:   "a Secret volume whose items leave out the key gets the key projected to its file",
			filter: envSecret,
			in: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        volumeMounts:
        - {name: environment, mountPath: /etc/secrets}
      volumes:
      - name: environment
        secret:
          secretName: environment
          items:
          - {key: other, path: other}
`,
			want: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
        volumeMounts:
        - {name: environment, mountPath: /etc/secrets}
      volumes:
      - name: environment
        secret:
          secretName: environment
          items:
          - {key: other, path: other}
          - key: environment
            path: environment
`,
		},
		{
			name:   "a Secret volume that puts another key at the key's file is an error",
			filter: envSecret,
			in: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
      volumes:
      - name: environment
        secret:
          secretName: environment
          items:
          - {key: other, path: environment}
`,
			wantErr: `ReplicationController/web: volume "environment" of the environment Secret maps key "other" to the file environment, where pods read the key "environment": remove that item`,
		},
		{
			name:   "a volume named like the secret but holding something else is an error",
			filter: envSecret,
			in: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - name: web
      volumes:
      - name: environment
        configMap: {name: environment}
`,
			wantErr: `volume "environment" exists but is not the environment Secret`,
		},
	})
}

func TestEnvSecretIsIdempotent(t *testing.T) {
	in := `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: web, image: nginx}
      - {name: sidecar, image: envoy}
`
	once, err := run(t, envSecret, in)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := run(t, envSecret, once)
	if err != nil {
		t.Fatal(err)
	}
	if once != twice {
		t.Errorf("a second pass changed the output:\n%s\nthen:\n%s", once, twice)
	}
	if n := strings.Count(once, "mountPath: /etc/secrets"); n != 2 {
		t.Errorf("want one mount per container (2), got %d:\n%s", n, once)
	}
}

var convention = LabelConvention{
	App:         "web",
	Labels:      []string{"name", "app", "tier", "role", "language"},
	NamePattern: "{app}-{role}",
}

func TestLabelConvention(t *testing.T) {
	runCases(t, []filterCase{
		{
			name:   "labels on the controller are copied to its pods, name is derived, selector is the name only",
			filter: convention,
			in: `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {tier: frontend, role: server, language: go}
spec:
  selector: {app: web, tier: frontend, role: server}
  template:
    metadata:
      labels: {app: web, tier: frontend, role: server}
    spec:
      containers:
      - name: web
`,
			want: `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {app: web, language: go, name: web-server, role: server, tier: frontend}
spec:
  selector:
    name: web-server
  template:
    metadata:
      labels: {app: web, language: go, name: web-server, role: server, tier: frontend}
    spec:
      containers:
      - name: web
`,
		},
		{
			name:   "labels already present are kept, even when they differ from the convention",
			filter: convention,
			in: `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {app: shop, name: storefront}
spec:
  template:
    metadata:
      labels: {tier: frontend, role: server, name: storefront}
    spec: {}
`,
			want: `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {app: shop, name: storefront, role: server, tier: frontend}
spec:
  template:
    metadata:
      labels: {app: shop, name: storefront, role: server, tier: frontend}
    spec: {}
  selector:
    name: storefront
`,
		},
		{
			name:   "a deployment's selector, immutable in the API, is kept; the pods' app label wins over the app's name",
			filter: convention,
			in: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {role: api, tier: backend}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec: {}
`,
			want: `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api, name: api-api, role: api, tier: backend}
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api, name: api-api, role: api, tier: backend}
    spec: {}
`,
		},
		{
			name:   "without a role the name label cannot be built and is left out",
			filter: convention,
			in: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec: {}
`,
			want: `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {app: web}
spec:
  template:
    spec: {}
    metadata:
      labels: {app: web}
`,
		},
		{
			name: "recommended labels mirror the convention",
			filter: LabelConvention{App: "web", Labels: []string{"app", "role"},
				Recommended: map[string]string{"app": "app.kubernetes.io/name"}},
			in: `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {role: server}
spec: {}
`,
			want: `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web, app.kubernetes.io/name: web, role: server}
spec: {}
`,
		},
		{
			name:   "objects without a pod template are left alone",
			filter: convention,
			in: `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
`,
			want: `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: b}
`,
		},
	})
}

func TestImage(t *testing.T) {
	const twoContainers = `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: proxy, image: envoyproxy/envoy:v1.30}
      - {name: web, image: registry.example.com/web:1.0}
`
	runCases(t, []filterCase{
		{
			name:   "the container from the same repository gets the new tag",
			filter: Image{Image: "registry.example.com/web:1.1", App: "web"},
			in:     twoContainers,
			want: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: proxy, image: envoyproxy/envoy:v1.30}
      - {name: web, image: registry.example.com/web:1.1}
`,
		},
		{
			name:   "a digest replaces a tag; docker hub short names match their long form",
			filter: Image{Image: "docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
			in: `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: web, image: "nginx:1.27"}
  - {name: sidecar, image: busybox}
`,
			want: `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - {name: web, image: "docker.io/library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
  - {name: sidecar, image: busybox}
`,
		},
		{
			name:   "a new repository goes to the container named after the app",
			filter: Image{Image: "mirror.example.com/web:2.0", App: "web"},
			in:     twoContainers,
			want: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: proxy, image: envoyproxy/envoy:v1.30}
      - {name: web, image: mirror.example.com/web:2.0}
`,
		},
		{
			name:   "a new repository goes to the only container",
			filter: Image{Image: "nginx", App: "web"},
			in: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: main, image: "httpd:2"}
`,
			want: `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: main, image: "nginx"}
`,
		},
		{
			name:    "no container to choose is an error naming the containers",
			filter:  Image{Image: "mirror.example.com/api:2.0", App: "api"},
			in:      twoContainers,
			wantErr: `no container to give image "mirror.example.com/api:2.0": none uses repository mirror.example.com/api, none is named "api", and the app has 2 containers (ReplicationController/web:proxy=envoyproxy/envoy:v1.30, ReplicationController/web:web=registry.example.com/web:1.0)`,
		},
		{
			name:   "a job of the app that runs another image keeps it",
			filter: Image{Image: "registry.example.com/web:1.1", App: "web"},
			in: twoContainers + `---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cleanup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: cleanup, image: registry.example.com/tools:3}
`,
			want: `apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  template:
    spec:
      containers:
      - {name: proxy, image: envoyproxy/envoy:v1.30}
      - {name: web, image: registry.example.com/web:1.1}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cleanup}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: cleanup, image: registry.example.com/tools:3}
`,
		},
		{
			name:    "an invalid reference is an error",
			filter:  Image{Image: "Web:latest"},
			in:      twoContainers,
			wantErr: `invalid image reference "Web:latest"`,
		},
	})
}

func TestValidateImage(t *testing.T) {
	for _, tc := range []struct {
		ref string
		ok  bool
	}{
		{"nginx", true},
		{"nginx:1.27", true},
		{"registry.example.com:5000/team/web:1.4.2", true},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true},
		{"", false},
		{"Nginx", false},
		{"nginx:", false},
		{"nginx@sha256:short", false},
		{"-nginx", false},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			err := ValidateImage(tc.ref)
			if (err == nil) != tc.ok {
				t.Errorf("ValidateImage(%q) = %v, want ok=%v", tc.ref, err, tc.ok)
			}
		})
	}
}
