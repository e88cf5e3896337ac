#!/usr/bin/env bash
# Rolls a 30-replica ReplicationController (max surge 3, max unavailable 0)
# with the plugin's updater on a local cluster with kwok nodes, then the
# equivalent Deployment through its controller, and prints both wall times,
# their ratio and the API requests the updater made.
#
# The clusters are started by the end-to-end harness, or reused when
# ENVOPS_E2E_KUBECONFIG names the kubeconfig of "make cluster-up".
# BENCH_COUNT repeats the measurement (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
export count="${BENCH_COUNT:-3}"
go test -count=1 -run '^$' -bench 'BenchmarkRollingUpdate30Replicas' -benchtime "${count}x" -timeout 30m ./test/e2e/ |
	awk '
		/^BenchmarkRollingUpdate30Replicas/ {
			for (i = 1; i <= NF; i++) {
				if ($i == "rc-s/op") rc = $(i-1)
				if ($i == "deployment-s/op") dep = $(i-1)
				if ($i == "rc/deployment") ratio = $(i-1)
				if ($i == "rc-requests/op") req = $(i-1)
			}
			found = 1
		}
		{ print }
		END {
			if (!found) { print "error: the benchmark printed no result" > "/dev/stderr"; exit 1 }
			printf "\nrolling update of 30 replicas, max surge 3, max unavailable 0 (mean of %s runs):\n", ENVIRON["count"]
			printf "  ReplicationController, kubectl envops updater  %8.2fs  %s API requests\n", rc, req
			printf "  Deployment, kube-controller-manager            %8.2fs\n", dep
			printf "  ratio                                          %8.2f   (target <= 1.2)\n", ratio
		}'
