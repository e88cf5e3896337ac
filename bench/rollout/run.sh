#!/usr/bin/env bash
# Rolls a ReplicationController with the plugin's updater on a local cluster
# with kwok nodes, then the equivalent Deployment through its controller, at
# 30 replicas (max surge 3) and at 300 replicas (max surge 30), max
# unavailable 0, and prints the mean wall times, their ratio and the API
# requests the plugin sent for each.
#
# The benchmark starts its own cluster, or reuses the dev cluster when
# ENVOPS_E2E_KUBECONFIG names the kubeconfig of "make cluster-up".
# BENCH_COUNT is the number of runs per size (default 3).
set -euo pipefail
cd "$(dirname "$0")/../.."
export BENCH_COUNT="${BENCH_COUNT:-3}"
go test -count=1 -run '^$' -bench '^BenchmarkRollingUpdate$' -benchtime 1x -timeout 60m ./bench/rollout/ |
	awk '
		/^BenchmarkRollingUpdate\/replicas=/ {
			split($1, p, /[=\/-]/)
			size = p[3]; surge = p[5]
			for (i = 1; i <= NF; i++) {
				if ($i == "rc-s/op") rc[size] = $(i-1)
				if ($i == "deployment-s/op") dep[size] = $(i-1)
				if ($i == "rc/deployment") ratio[size] = $(i-1)
				if ($i == "rc-requests/op") rcreq[size] = $(i-1)
				if ($i == "deployment-requests/op") depreq[size] = $(i-1)
				if ($i == "runs") runs[size] = $(i-1)
			}
			sg[size] = surge
			order[++n] = size
		}
		{ print }
		END {
			if (n < 2) { print "error: the benchmark did not print both sizes" > "/dev/stderr"; exit 1 }
			for (k = 1; k <= n; k++) {
				s = order[k]
				printf "\nrolling update of %s replicas, max surge %s, max unavailable 0 (mean of %d runs):\n", s, sg[s], runs[s]
				printf "  ReplicationController, kubectl envops updater  %8.2fs  %6d API requests\n", rc[s], rcreq[s]
				printf "  Deployment, kube-controller-manager            %8.2fs  %6d API requests (the plugin waiting)\n", dep[s], depreq[s]
				printf "  ratio                                          %8.2f   (target <= 0.75)\n", ratio[s]
			}
		}'
