#!/usr/bin/env bash
# Deploys an environment of 40 apps (2 replicas each, one chain of needs
# three apps long) to a new image on a local cluster with kwok nodes: once
# with "kubectl envops deploy --all", once with the 40 "deploy APP" one
# after another, then "deploy --all" again with nothing to do; prints the
# mean wall times and their ratio.
#
# The benchmark starts its own cluster, or reuses the dev cluster when
# ENVOPS_E2E_KUBECONFIG names the kubeconfig of "make cluster-up".
# BENCH_COUNT is the number of rounds (default 3); BENCH_CONTROLLER_QPS
# the request rate of the started cluster's controllers
# (kube-controller-manager --kube-api-qps; default its own, 20).
set -euo pipefail
cd "$(dirname "$0")/../.."
export BENCH_COUNT="${BENCH_COUNT:-3}"
go test -count=1 -run '^$' -bench '^BenchmarkDeployAll$' -benchtime 1x -timeout 60m ./bench/environment/ |
	awk '
		/^BenchmarkDeployAll/ {
			for (i = 1; i <= NF; i++) {
				if ($i == "all-s/op") all = $(i-1)
				if ($i == "serial-s/op") serial = $(i-1)
				if ($i == "all/serial") ratio = $(i-1)
				if ($i == "noop-s/op") noop = $(i-1)
				if ($i == "rounds") rounds = $(i-1)
				if ($i == "controller-qps") qps = $(i-1)
			}
			found = 1
		}
		{ print }
		END {
			if (!found) { print "error: the benchmark printed no result" > "/dev/stderr"; exit 1 }
			if (qps < 0) how = "as the reused cluster was started"
			else if (qps == 0) how = "20 requests/s, its default"
			else how = int(qps) " requests/s"
			printf "\n40 apps x 2 replicas to a new image (mean of %d rounds; kube-controller-manager at %s):\n", rounds, how
			printf "  kubectl envops deploy --all                 %8.2fs\n", all
			printf "  40 x kubectl envops deploy APP, one by one  %8.2fs\n", serial
			printf "  ratio                                       %8.2f   (target <= 0.35)\n", ratio
			printf "  deploy --all with nothing to do             %8.2fs   (target <= 3s)\n", noop
		}'
