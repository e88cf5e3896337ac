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
run kubectl plugin list
step "its version"
run kubectl envops version
step "the two clusters, one context each"
run kubectl config get-contexts

project="$state/project"; mkdir -p "$project"; cd "$project"
if kubectl envops init-env --help >/dev/null 2>&1; then
	step "declare each cluster's environment (the environment Secret)"
	run kubectl envops --context envops-dev init-env dev
	run kubectl envops --context envops-prod init-env prod
	step "the tool reads back which environment each cluster is"
	run kubectl envops env --all-contexts
	step "prod cannot be declared on the dev cluster by mistake"
	run kubectl envops --context envops-dev init-env prod || echo "(refused, as it should be)"
fi

step "done. To point the plugin at a real cluster, use your own kubeconfig and context:"
cat <<'TXT'
    kubectl envops --context my-prod-cluster env
    kubectl envops --kubeconfig ~/.kube/config --context staging version
  (kubectl's global flags go after "envops".)
TXT
