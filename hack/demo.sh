#!/usr/bin/env bash
# The product's story, end to end, on two local clusters (dev and prod) that
# this script starts and stops. Needs only Go; "make demo" runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
state=$(mktemp -d "${TMPDIR:-/tmp}/envops-demo.XXXXXX")
cluster() { (cd "$root/test/cluster" && go run ./cmd/envops-cluster "$@"); }
cleanup() {
	echo
	echo "==> stopping the local clusters"
	cluster down --state-dir "$state/clusters" || true
	rm -rf "$state"
}
trap cleanup EXIT
step() { echo; echo "==> $*"; }
run() { echo "\$ $*"; "$@"; }

step "starting two local clusters, one per environment (the first run builds the control plane: about 10 minutes)"
cluster up --state-dir "$state/clusters" --clusters dev,prod --nodes 3
export KUBECONFIG="$state/clusters/kubeconfig"
mkdir -p "$state/path"
ln -s "$(cluster build 2>/dev/null)/kubectl" "$state/path/kubectl"
cp "$root/bin/kubectl-envops" "$state/path/"
export PATH="$state/path:$PATH"
export HOME="$state/home"; mkdir -p "$HOME"

step "kubectl finds the plugin on PATH"
PATH="$state/path:/usr/bin:/bin" run kubectl plugin list
step "its version"
run kubectl envops version
step "the two clusters, one context each"
run kubectl config get-contexts

project="$state/project"; mkdir -p "$project"; cd "$project"
step "a project: one cluster per environment, prod asks for confirmation"
cat > .envops.yaml <<'YAML'
environments:
  dev:  {context: envops-dev}
  prod: {context: envops-prod, confirm: true}
YAML
run cat .envops.yaml

step "declare each cluster's environment (the environment Secret that pods mount at /etc/secrets)"
run kubectl envops --context envops-dev init-env dev
run kubectl envops --context envops-prod init-env prod
step "the tool reads back which environment each cluster serves"
run kubectl envops env --all-contexts
step "prod cannot be declared on the dev cluster by mistake"
run kubectl envops --context envops-dev init-env prod || echo "(refused, as it should be)"

step "scaffold an app: a kustomize base and one overlay per environment"
run kubectl envops new web --tier frontend --role server --image nginx:1.27 --port 8080 --replicas dev=4,prod=3
step "what deploy will send to dev: the Secret mounted, the labels filled in"
run kubectl envops generate web --env dev
step "the label convention holds on the overlay"
run kubectl envops lint --app web --env prod

step "first deploy to dev creates the ReplicationController and waits for its pods"
run kubectl envops deploy web --env dev
step "a new image: a visible rolling update, never below desired - max unavailable"
run kubectl envops deploy web --env dev --image nginx:1.28 --max-surge 1 --max-unavailable 1
run kubectl --context envops-dev get rc,pods -l app=web -o wide
step "deploying to prod with the dev cluster's context is refused by the cluster's own Secret"
run kubectl envops --context envops-dev deploy web --env prod --yes || echo "(refused, as it should be)"
step "prod, confirmed with --yes"
run kubectl envops deploy web --env prod --yes

step "every workload of the dev cluster, live, against the convention"
run kubectl envops --context envops-dev lint --live -A || echo "(findings above: exit code $?)"

step "a node agent, once per node (the ReplicationController + hostPort fallback)"
run kubectl envops --context envops-dev node-agent agent --image nginx:1.27 --host-port 8125 --mode replicationcontroller
run kubectl envops --context envops-dev node-agent status agent

step "done. To point the plugin at a real cluster, use your own kubeconfig and context:"
cat <<'TXT'
    kubectl envops --context my-prod-cluster env
    kubectl envops --kubeconfig ~/.kube/config --context staging version
  (kubectl's global flags go after "envops".)
TXT
