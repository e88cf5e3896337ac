package cmd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/yaml"

	"github.com/envops/kubectl-envops/pkg/applyset"
	"github.com/envops/kubectl-envops/pkg/audit"
	"github.com/envops/kubectl-envops/pkg/config"
	"github.com/envops/kubectl-envops/pkg/deploy"
	"github.com/envops/kubectl-envops/pkg/lint"
	"github.com/envops/kubectl-envops/pkg/nodeagent"
	"github.com/envops/kubectl-envops/pkg/rbac"
	"github.com/envops/kubectl-envops/pkg/rollout"
)

// calls turns what a fake client recorded into the calls authorization
// sees.
func calls(actions []k8stesting.Action) []rbac.Call {
	out := make([]rbac.Call, 0, len(actions))
	for _, a := range actions {
		// The fake discovery client records discovery as a get of
		// "resource"; discovery is open to every user.
		if a.GetResource() == (schema.GroupVersionResource{Resource: "resource"}) {
			continue
		}
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		out = append(out, rbac.Call{Verb: a.GetVerb(), Group: a.GetResource().Group, Resource: res, AllNamespaces: a.GetNamespace() == ""})
	}
	return out
}

// grantAll makes the fake cluster answer access reviews with "allowed" and
// self reviews with a user name, as a real one does for an admin.
func grantAll(client *fake.Clientset) {
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = true
		return true, r, nil
	})
	client.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authenticationv1.SelfSubjectReview{Status: authenticationv1.SelfSubjectReviewStatus{UserInfo: authenticationv1.UserInfo{Username: "ci"}}}, nil
	})
}

func envSecretIn(ns string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "environment", Namespace: ns}, Data: map[string][]byte{"environment": []byte("dev")}}
}

// TestRBACTableCoversEveryCall runs commands against recording fake
// clients and fails when a call they make is missing from the table of
// their use, so the printed role cannot drift from what the code does.
func TestRBACTableCoversEveryCall(t *testing.T) {
	nodes := []runtime.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}},
	}
	agent := func(client *fake.Clientset, dryRun rollout.DryRun, mode nodeagent.Mode, sync bool) *NodeAgentOptions {
		streams, _, _, _ := genericiooptions.NewTestIOStreams()
		o := &NodeAgentOptions{
			Name: "datadog", Image: "datadog/agent:7", HostPort: 8125, mode: mode, protocol: corev1.ProtocolUDP, dryRun: dryRun,
			Namespace: "monitoring", Config: config.Default(), Client: client, Discovery: client.Discovery(), Timeout: rollout.DefaultTimeout,
			Sync: sync, Guard: rbac.NewGuard(client, rbac.NodeAgent).Check, IOStreams: streams,
		}
		return o
	}
	tests := []struct {
		name        string
		use         rbac.Use
		clusterWide bool
		objects     []runtime.Object
		run         func(t *testing.T, client *fake.Clientset) error
	}{
		{name: "init-env in one namespace", use: rbac.InitEnv, objects: []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}},
			run: func(t *testing.T, client *fake.Clientset) error {
				o, _, _ := initEnvOptions(client, config.Default(), "dev")
				o.Guard = rbac.NewGuard(client, rbac.InitEnv).Check
				return o.Run(t.Context())
			}},
		{name: "init-env over all namespaces, one already declared", use: rbac.InitEnv, clusterWide: true,
			objects: []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "api"}}, envSecretIn("api")},
			run: func(t *testing.T, client *fake.Clientset) error {
				o, _, _ := initEnvOptions(client, config.Default(), "dev")
				o.AllNamespaces = true
				envDryRunAware(client)
				o.Guard = rbac.NewGuard(client, rbac.InitEnv).Check
				return o.Run(t.Context())
			}},
		{name: "node-agent as a DaemonSet", use: rbac.NodeAgent, objects: append([]runtime.Object{envSecretIn("monitoring")}, nodes...),
			run: func(t *testing.T, client *fake.Clientset) error {
				return agent(client, rollout.DryRunServer, nodeagent.ModeDaemonSet, false).Run(t.Context())
			}},
		{name: "node-agent as a ReplicationController", use: rbac.NodeAgent, objects: append([]runtime.Object{envSecretIn("monitoring")}, nodes...),
			run: func(t *testing.T, client *fake.Clientset) error {
				client.Discovery().(*fakediscovery.FakeDiscovery).Resources = nil
				return agent(client, rollout.DryRunServer, nodeagent.ModeAuto, false).Run(t.Context())
			}},
		{name: "node-agent sync", use: rbac.NodeAgent, objects: append([]runtime.Object{envSecretIn("monitoring"), agentRC(t, 1)}, nodes...),
			run: func(t *testing.T, client *fake.Clientset) error {
				// The same Syncer Run uses, with a short wait for the scheduler.
				s := &nodeagent.Syncer{Client: client, Namespace: "monitoring", Name: "datadog", Settle: time.Millisecond}
				_, err := s.Sync(t.Context())
				return err
			}},
		{name: "history of an app with a Deployment", use: rbac.History,
			objects: []runtime.Object{
				&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "web", Labels: map[string]string{"app": "web"},
					Annotations: audit.Record{User: "ci", Time: time.Now(), Image: "web:2"}.Annotations()}},
			},
			run: func(t *testing.T, client *fake.Clientset) error {
				streams, _, _, _ := genericiooptions.NewTestIOStreams()
				o := &HistoryOptions{App: "web", Namespace: "web", Client: client, IOStreams: streams}
				return o.Run(t.Context())
			}},
		{name: "node-agent --preset datadog as a DaemonSet", use: rbac.NodeAgent, objects: append(datadogReady("monitoring"), nodes...),
			run: func(t *testing.T, client *fake.Clientset) error {
				o := agent(client, rollout.DryRunServer, nodeagent.ModeDaemonSet, false)
				o.preset, o.apiKeySecret, o.HostPort = &nodeagent.Datadog, nodeagent.SecretKeyRef{Name: "datadog", Key: "api-key"}, 0
				return o.Run(t.Context())
			}},
		{name: "node-agent --preset datadog as a ReplicationController", use: rbac.NodeAgent, objects: append(datadogReady("monitoring"), nodes...),
			run: func(t *testing.T, client *fake.Clientset) error {
				o := agent(client, rollout.DryRunServer, nodeagent.ModeReplicationController, false)
				o.preset, o.apiKeySecret, o.HostPort = &nodeagent.Datadog, nodeagent.SecretKeyRef{Name: "datadog", Key: "api-key"}, 0
				return o.Run(t.Context())
			}},
		{name: "node-agent status", use: rbac.NodeAgent, objects: append([]runtime.Object{agentRC(t, 2)}, nodes...),
			run: func(t *testing.T, client *fake.Clientset) error {
				streams, _, _, _ := genericiooptions.NewTestIOStreams()
				o := &NodeAgentStatusOptions{Name: "datadog", Namespace: "monitoring", Client: client, IOStreams: streams}
				return o.Run(t.Context())
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(tt.objects...)
			grantAll(client)
			if err := tt.run(t, client); err != nil {
				t.Fatalf("run: %v", err)
			}
			recorded := calls(client.Actions())
			if len(recorded) == 0 {
				t.Fatal("the command made no calls")
			}
			for _, c := range recorded {
				if !rbac.Covers(tt.use, c, tt.clusterWide) {
					t.Errorf("%s calls %s %s (group %q, all namespaces %v), which the %s table does not list", tt.name, c.Verb, c.Resource, c.Group, c.AllNamespaces, tt.use)
				}
			}
		})
	}
}

// datadogReady is a namespace ready for the Datadog preset: the
// environment Secret, the agent's ServiceAccount and its API key Secret.
func datadogReady(ns string) []runtime.Object {
	return []runtime.Object{envSecretIn(ns),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: nodeagent.Datadog.ServiceAccount, Namespace: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "datadog", Namespace: ns}, Data: map[string][]byte{"api-key": []byte("k")}}}
}

// agentRC is the agent "datadog" as the fallback runs it, with replicas.
func agentRC(t *testing.T, replicas int32) *corev1.ReplicationController {
	t.Helper()
	rc, err := nodeagent.RenderReplicationController(nodeagent.Spec{
		Name: "datadog", Namespace: "monitoring", Image: "datadog/agent:7", HostPort: 8125,
		Secret: config.Default().Secret, Labels: config.Default().Labels,
	}, replicas)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestRBACTableCoversLintLive(t *testing.T) {
	for _, tt := range []struct {
		name      string
		namespace string
	}{{"one namespace", "shop"}, {"all namespaces", ""}} {
		t.Run(tt.name, func(t *testing.T) {
			var rc unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(unlabelledRC), &rc.Object); err != nil {
				t.Fatal(err)
			}
			target := liveTarget(t, "a", false, &rc)
			target.Namespace = tt.namespace
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			o := &LintOptions{Live: true, Output: "text", FailOn: "error", Config: config.Default(), IOStreams: streams, Targets: []lint.LiveTarget{target}}
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			_ = o.Run(context.Background())
			recorder, ok := target.Client.(interface{ Actions() []k8stesting.Action })
			if !ok {
				t.Fatal("the fake dynamic client records no actions")
			}
			recorded := calls(recorder.Actions())
			if len(recorded) < len(lint.LiveResources) {
				t.Fatalf("lint made %d calls, want one list per workload resource", len(recorded))
			}
			for _, c := range recorded {
				if !rbac.Covers(rbac.Lint, c, tt.namespace == "") {
					t.Errorf("lint calls %s %s (group %q), which the lint table does not list", c.Verb, c.Resource, c.Group)
				}
			}
		})
	}
}

func TestRBACFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    RBACOptions
		wantErr string
	}{
		{name: "defaults grant everything to envops", args: nil, want: RBACOptions{For: "all", ServiceAccount: "envops", Output: "yaml"}},
		{name: "one use, cluster-wide, as json", args: []string{"--for", "init-env", "--cluster-wide", "--service-account", "ci", "-o", "json", "--apply"},
			want: RBACOptions{For: "init-env", ClusterWide: true, ServiceAccount: "ci", Output: "json", Apply: true}},
		{name: "unknown use", args: []string{"--for", "everything"}, wantErr: `--for: unknown use "everything": pick one of init-env, deploy, lint, node-agent, history, all`},
		{name: "bad output", args: []string{"-o", "wide"}, wantErr: `unknown output format "wide"`},
		{name: "bad account", args: []string{"--service-account", "CI"}, wantErr: `invalid --service-account "CI"`},
		{name: "arguments", args: []string{"deploy"}, wantErr: "rbac takes no arguments"},
		{name: "a preset's agent", args: []string{"--for", "node-agent", "--preset", "datadog"}, want: RBACOptions{For: "node-agent", ServiceAccount: "envops", Output: "yaml", Preset: "datadog"}},
		{name: "a preset with another use", args: []string{"--for", "deploy", "--preset", "datadog"}, wantErr: "--preset adds a node agent's own role: use it with --for node-agent"},
		{name: "an unknown preset", args: []string{"--for", "node-agent", "--preset", "newrelic"}, wantErr: `unknown preset "newrelic"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			var got *RBACOptions
			cmd := NewCmdRBAC(nodeAgentGlobals(t, streams), func(o *RBACOptions) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(streams.Out)
			cmd.SetErr(streams.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want usage error %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.For != tt.want.For || got.ClusterWide != tt.want.ClusterWide || got.ServiceAccount != tt.want.ServiceAccount ||
				got.Output != tt.want.Output || got.Apply != tt.want.Apply || got.Preset != tt.want.Preset || got.Namespace != "monitoring" {
				t.Errorf("parsed %+v, want %+v in namespace monitoring", got, tt.want)
			}
		})
	}
}

func TestRBACRunPrintsRoleAndBinding(t *testing.T) {
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := &RBACOptions{For: "init-env", ServiceAccount: "ci", Output: "yaml", Namespace: "web", IOStreams: streams}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(out.String(), "---\n")
	var kinds []string
	for _, d := range docs {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &u.Object); err != nil {
			t.Fatalf("document is not YAML: %v\n%s", err, d)
		}
		kinds = append(kinds, u.GetKind()+"/"+u.GetName())
	}
	want := "ServiceAccount/ci Role/envops-init-env RoleBinding/envops-init-env:ci ClusterRole/envops-init-env-cluster ClusterRoleBinding/envops-init-env-cluster:web:ci"
	if strings.Join(kinds, " ") != want {
		t.Errorf("printed %v, want %s", kinds, want)
	}
	role, _, _ := strings.Cut(docs[1], "---")
	if !strings.Contains(role, "- secrets") || strings.Contains(role, "- namespaces") {
		t.Errorf("a namespaced init-env Role grants secrets only:\n%s", out)
	}
	if !strings.Contains(out.String(), "resourceNames:\n  - kube-system") {
		t.Errorf("the ClusterRole must grant the kube-system namespace only:\n%s", out)
	}
	if !strings.Contains(errOut.String(), "note: not granted: list secrets in all namespaces") {
		t.Errorf("stderr does not name the optional rule:\n%s", errOut)
	}
}

func TestTranslateForbidden(t *testing.T) {
	denied := func(msg string) error {
		return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New(msg))
	}
	tests := []struct {
		name string
		err  error
		path string
		want string
	}{
		{name: "namespaced refusal names verb, resource, namespace, user and fix",
			err:  denied(`User "system:serviceaccount:ci:bot" cannot patch resource "deployments" in API group "apps" in the namespace "web"`),
			path: "kubectl envops deploy",
			want: `forbidden: cannot patch resource "deployments.apps" in namespace "web" as "system:serviceaccount:ci:bot"; ask an admin to create the roles with "kubectl envops rbac --for deploy -n web --apply" and bind them to service account ci/bot with "kubectl create rolebinding envops-deploy:ci:bot -n web --role envops-deploy --serviceaccount ci:bot" and "kubectl create clusterrolebinding envops-deploy-cluster:ci:bot --clusterrole envops-deploy-cluster --serviceaccount ci:bot"`},
		{name: "cluster-scoped refusal",
			err:  denied(`User "bob" cannot list resource "nodes" in API group "" at the cluster scope`),
			path: "kubectl envops node-agent status",
			want: `forbidden: cannot list resource "nodes" as "bob"; ask an admin to create the roles with "kubectl envops rbac --for node-agent --cluster-wide --apply" and bind them to user "bob" with "kubectl create clusterrolebinding envops-node-agent:bob --clusterrole envops-node-agent --user bob"`},
		{name: "a command without a role still gets one line",
			err:  denied(`User "bob" cannot get resource "secrets" in API group "" in the namespace "web"`),
			path: "kubectl envops env",
			want: `forbidden: cannot get resource "secrets" in namespace "web" as "bob"; ask an admin to grant it`},
		{name: "an explained refusal is kept", err: errors.New(`cannot list pods: access denied; kubectl envops rbac --for lint prints a role`), path: "kubectl envops lint",
			want: `cannot list pods: access denied; kubectl envops rbac --for lint prints a role`},
		{name: "other errors are kept", err: errors.New("boom"), path: "kubectl envops deploy", want: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translateError(tt.err, tt.path)
			if got.Error() != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestRBACTableCoversDeployCalls drives deploy's entry point as a server
// dry run against recording fake clients: the environment and access
// checks, the comparison with the cluster, the app's set, applying the
// objects, rolling the controllers and pruning a stale member; then the
// audit Event and the deploy lock, which a dry run does not take. The
// rolling update itself waits for pods a fake cluster never runs; the e2e
// tests run it for real under the printed role.
func TestRBACTableCoversDeployCalls(t *testing.T) {
	labels := map[string]any{"app": "web", "role": "api"}
	rc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ReplicationController",
		"metadata": map[string]any{"name": "web", "labels": labels},
		"spec": map[string]any{"replicas": int64(2), "selector": labels, "template": map[string]any{
			"metadata": map[string]any{"labels": labels},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "image": "web:2"}}}}},
	}}
	deployment := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "api", "labels": map[string]any{"app": "api"}},
		"spec": map[string]any{
			"replicas": int64(2), "selector": map[string]any{"matchLabels": map[string]any{"app": "api"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app": "api"}},
				"spec": map[string]any{"containers": []any{map[string]any{"name": "api", "image": "api:2"}}}},
		},
	}}
	service := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "web", "labels": map[string]any{"app": "web"}},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(80)}}},
	}}
	set := applyset.Set{App: "web", Namespace: "shop"}
	// A ConfigMap the app's overlay rendered once and no longer does.
	stale := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "old", "namespace": "shop", "uid": "u1", "labels": map[string]any{applyset.LabelPartOf: set.ID()}},
	}}
	parent := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: set.ParentName(), Namespace: "shop",
		Labels:      map[string]string{applyset.LabelID: set.ID()},
		Annotations: map[string]string{applyset.AnnotationTooling: "kubectl-envops/v1", applyset.AnnotationKinds: "ConfigMap,ReplicationController,Service"}}}

	client := fake.NewClientset(envSecretIn("shop"), parent)
	grantAll(client)
	// Objects stay unstructured in the fake, as the dynamic client sees them.
	scheme := runtime.NewScheme()
	live := service.DeepCopy()
	live.SetNamespace("shop")
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		{Version: "v1", Resource: "configmaps"}:                 "ConfigMapList",
		{Version: "v1", Resource: "services"}:                   "ServiceList",
		{Version: "v1", Resource: "replicationcontrollers"}:     "ReplicationControllerList",
		{Group: "apps", Version: "v1", Resource: "deployments"}: "DeploymentList",
	}, live, stale)
	// The fake's tracker cannot merge an apply into an unstructured object;
	// answer it as the server would.
	dyn.PrependReactor("patch", "services", func(k8stesting.Action) (bool, runtime.Object, error) { return true, live, nil })
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{corev1.SchemeGroupVersion, {Group: "apps", Version: "v1"}})
	for _, gvk := range []schema.GroupVersionKind{corev1.SchemeGroupVersion.WithKind("Service"), corev1.SchemeGroupVersion.WithKind("ConfigMap"),
		corev1.SchemeGroupVersion.WithKind("ReplicationController"), {Group: "apps", Version: "v1", Kind: "Deployment"}} {
		mapper.Add(gvk, meta.RESTScopeNamespace)
	}
	ctx := t.Context()
	d := &deploy.Deployer{
		Target:  &Target{Env: "dev", Context: "envops-dev", Namespace: "shop", Config: config.Default(), Client: client},
		Tooling: "kubectl-envops/test", Dynamic: dyn, Mapper: mapper,
	}
	res := d.Deploy(ctx, deploy.Request{App: "web", Plan: &deploy.Plan{Controllers: []*unstructured.Unstructured{rc, deployment}, Others: []*unstructured.Unstructured{service}},
		Options: rollout.Options{DryRun: rollout.DryRunServer, Timeout: time.Minute}, Prune: true})
	if res.Err != nil {
		t.Fatalf("deploy: %v", res.Err)
	}
	pruned := false
	for _, o := range res.Objects {
		pruned = pruned || (o.Action == deploy.ActionPruned && o.Name == "old")
	}
	if !pruned {
		t.Errorf("the dry run did not prune the stale ConfigMap: %+v", res.Objects)
	}
	recorded := deployment.DeepCopy()
	recorded.SetNamespace("shop")
	if err := audit.RecordDeploy(ctx, client, "web", "Deployment", recorded, audit.Record{User: "ci", Time: time.Now(), Environment: "dev"}); err != nil {
		t.Fatalf("record the deploy: %v", err)
	}
	lock, _, err := rollout.AcquireDeployLock(ctx, client, "shop", "web", "ci", false)
	if err != nil {
		t.Fatalf("lock: %v", err)
	}
	if err := lock.Release(ctx); err != nil {
		t.Fatalf("release: %v", err)
	}

	all := append(calls(client.Actions()), calls(dyn.Actions())...)
	for _, c := range all {
		if !rbac.Covers(rbac.Deploy, c, false) {
			t.Errorf("deploy calls %s %s (group %q, all namespaces %v), which the deploy table does not list", c.Verb, c.Resource, c.Group, c.AllNamespaces)
		}
	}
	for _, want := range []string{"get secrets", "patch services", "create events", "patch deployments", "list configmaps", "delete configmaps", "patch configmaps", "create leases"} {
		found := false
		for _, c := range all {
			found = found || c.Verb+" "+c.Resource == want
		}
		if !found {
			t.Errorf("no %q call was recorded; the test no longer drives that part", want)
		}
	}
}

// The command line recorded as the change cause keeps no password or token
// written into a URL, whichever flag carries it.
func TestChangeCauseRedactsURLUserInfo(t *testing.T) {
	g, _, _ := envTestGlobals(t, envTestKubeconfig(t), envTestProject(t, ""), "", "")
	var cause string
	root := envTestRoot(g, NewCmdInitEnv(g, func(o *InitEnvOptions) error {
		cause = o.Cause
		return nil
	}))
	root.SetArgs([]string{"init-env", "dev", "--proxy-url=http://alice:s3cret@proxy.example.com:3128",
		"--server", "https://bob:hunter2@127.0.0.1:1", "--insecure-skip-tls-verify"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"s3cret", "hunter2", "alice", "bob"} {
		if strings.Contains(cause, secret) {
			t.Errorf("change cause %q records %q", cause, secret)
		}
	}
	for _, kept := range []string{"--proxy-url=http://REDACTED@proxy.example.com:3128", "--server=https://REDACTED@127.0.0.1:1"} {
		if !strings.Contains(cause, kept) {
			t.Errorf("change cause %q lacks %q", cause, kept)
		}
	}
	if got := changeCause(root, nil, "rolled by https://ci:t0ken@ci.example.com/job/7"); got != "rolled by https://REDACTED@ci.example.com/job/7" {
		t.Errorf("a given cause is recorded as %q", got)
	}
}

// rbac -o prints the objects through kubectl's printers: templates and
// names see them as a List.
func TestRBACOutputFormats(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{"jsonpath={.items[*].kind}", "ServiceAccount Role RoleBinding"},
		{`go-template={{range .items}}{{.metadata.name}}{{"\n"}}{{end}}`, "ci\nenvops-lint\nenvops-lint:ci\n"},
		{"name", "serviceaccount/ci\nrole.rbac.authorization.k8s.io/envops-lint\nrolebinding.rbac.authorization.k8s.io/envops-lint:ci\n"},
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		var got *RBACOptions
		cmd := NewCmdRBAC(nodeAgentGlobals(t, streams), func(o *RBACOptions) error { got = o; return nil })
		cmd.SetArgs([]string{"--for", "lint", "--service-account", "ci", "-o", tc.format})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if err := got.Run(t.Context()); err != nil {
			t.Fatalf("%s: %v", tc.format, err)
		}
		if out.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.format, out.String(), tc.want)
		}
	}
}

// rbac --for node-agent --preset datadog prints the role that runs the
// command and, after it, the agent's own ServiceAccount (the one its pods
// run as), ClusterRole and binding.
func TestRBACPrintsAPresetAgentsRole(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &RBACOptions{For: "node-agent", ServiceAccount: "ci", Output: "yaml", Namespace: "monitoring", Preset: "datadog", IOStreams: streams}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, doc := range strings.Split(out.String(), "\n---\n") {
		var obj struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, obj.Kind+"/"+obj.Metadata.Name)
	}
	want := []string{"ServiceAccount/ci", "Role/envops-node-agent", "RoleBinding/envops-node-agent:ci", "ClusterRole/envops-node-agent-cluster",
		"ClusterRoleBinding/envops-node-agent-cluster:monitoring:ci",
		"ServiceAccount/" + nodeagent.Datadog.ServiceAccount, "ClusterRole/envops-agent-datadog", "ClusterRoleBinding/envops-agent-datadog:monitoring"}
	if strings.Join(kinds, " ") != strings.Join(want, " ") {
		t.Errorf("objects %v\nwant %v", kinds, want)
	}
}

// Every preset whose pods run as a ServiceAccount has the agent's rules
// in pkg/rbac, so "rbac --preset" can grant what the preset needs.
func TestEveryPresetHasItsAgentRole(t *testing.T) {
	for _, p := range nodeagent.Presets {
		if p.ServiceAccount == "" {
			continue
		}
		if _, err := rbac.AgentRules(p.Name); err != nil {
			t.Errorf("preset %s: %v", p.Name, err)
		}
	}
}

// A real apply of an agent goes through the deploy entry point: the lock,
// the agent's set and the audit record are called for as well. The fake
// cluster runs no pod, so the wait ends at a short --timeout; what counts
// is that every call made until then is in the node-agent table.
func TestRBACTableCoversTheAgentsDeploy(t *testing.T) {
	nodes := []runtime.Object{&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}}
	for _, mode := range []nodeagent.Mode{nodeagent.ModeDaemonSet, nodeagent.ModeReplicationController} {
		t.Run(string(mode), func(t *testing.T) {
			client := fake.NewClientset(append([]runtime.Object{envSecretIn("monitoring")}, nodes...)...)
			grantAll(client)
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
				{Version: "v1", Resource: "replicationcontrollers"}:    "ReplicationControllerList",
				{Group: "apps", Version: "v1", Resource: "daemonsets"}: "DaemonSetList",
			})
			mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{corev1.SchemeGroupVersion, {Group: "apps", Version: "v1"}})
			mapper.Add(corev1.SchemeGroupVersion.WithKind("ReplicationController"), meta.RESTScopeNamespace)
			mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}, meta.RESTScopeNamespace)
			streams, _, _, _ := genericiooptions.NewTestIOStreams()
			o := &NodeAgentOptions{
				Name: "datadog", Image: "datadog/agent:7", HostPort: 8125, mode: mode, protocol: corev1.ProtocolUDP,
				Namespace: "monitoring", Config: config.Default(), Client: client, Discovery: client.Discovery(), Timeout: 200 * time.Millisecond,
				Guard: rbac.NewGuard(client, rbac.NodeAgent).Check, IOStreams: streams,
			}
			o.deployer = func(env string) *deploy.Deployer {
				return &deploy.Deployer{Target: &Target{Env: env, Context: "c", Namespace: "monitoring", Config: o.Config, Client: client},
					Tooling: "kubectl-envops/test", Guard: o.Guard, Dynamic: dyn, Mapper: mapper}
			}
			_ = o.Run(t.Context())
			recorded := append(calls(client.Actions()), calls(dyn.Actions())...)
			leased := false
			for _, c := range recorded {
				leased = leased || c.Resource == "leases"
				if !rbac.Covers(rbac.NodeAgent, c, false) {
					t.Errorf("node-agent calls %s %s (group %q, all namespaces %v), which the node-agent table does not list", c.Verb, c.Resource, c.Group, c.AllNamespaces)
				}
			}
			if !leased {
				t.Error("the agent was not applied through the deploy: it took no lock")
			}
		})
	}
}
