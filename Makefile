# kubectl-envops — build, test and demo. Run "make help" for the targets.

SHELL      := /bin/bash
MODULE     := github.com/envops/kubectl-envops
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.1.0-dev)
COMMIT     ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS    := -s -w -X $(MODULE)/pkg/version.version=$(VERSION) -X $(MODULE)/pkg/version.commit=$(COMMIT)
BIN        := bin
GO         ?= go
# Every go command run from here, and those the tests and the control-plane
# build run, compile with the same settings, so the packages they share (most
# of Kubernetes) are compiled once per machine: -trimpath, and CGO_ENABLED
# left to the toolchain's default (the release builds alone set it to 0; a
# control plane built without cgo makes the API-server outage test flaky).
# The test harnesses pass -trimpath explicitly too, for runs without make.
export GOFLAGS := $(strip $(GOFLAGS) -trimpath)
# The local clusters used by "make cluster-up" and "make demo".
CLUSTER_STATE ?= $(abspath .cache/clusters)
CLUSTER    := cd test/cluster && $(GO) run ./cmd/envops-cluster
E2E_TIMEOUT ?= 45m
# The fuzz targets, as package:function; "make fuzz" runs each for FUZZTIME.
FUZZ_TARGETS ?= ./pkg/lint:FuzzLint ./pkg/lint:FuzzListStream ./pkg/render:FuzzApp ./pkg/render:FuzzWriteIsThePrinter ./pkg/config:FuzzParse ./pkg/text:FuzzEscape ./pkg/kube:FuzzKubeconfig
FUZZTIME   ?= 10s
# The krew install test builds the release for these platforms; empty means all five.
KREW_PLATFORMS ?= $(shell $(GO) env GOOS 2>/dev/null)/$(shell $(GO) env GOARCH 2>/dev/null)

.PHONY: help build test unit race fuzz e2e cluster-test krew-test vet bench bench-rollout bench-environment demo cluster-up cluster-down cluster-status cluster-build check-go

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "error: the Go toolchain ($(GO)) is not on PATH: install Go 1.26 or newer from https://go.dev/doc/install" >&2; exit 1; }

build: check-go ## build bin/kubectl-envops with version and commit stamped in
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/kubectl-envops ./cmd/kubectl-envops

vet: check-go ## gofmt and go vet on every module
	@out=$$(gofmt -l cmd pkg test plugins bench hack); if [ -n "$$out" ]; then echo "error: gofmt needed on:" $$out >&2; exit 1; fi
	$(GO) vet ./...
	cd test/cluster && $(GO) vet ./...
	cd test/krew && $(GO) vet ./...

unit: check-go ## unit tests (no cluster)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v -e /test/e2e -e /bench/rollout -e /bench/environment)

race: check-go ## the packages that render, watch and fan out concurrently, under the race detector
	$(GO) test -race -count=1 ./pkg/render/ ./pkg/kube/watcher/ ./pkg/fleet/ ./pkg/deploy/ ./pkg/top/

fuzz: check-go ## a short run of every fuzz target (FUZZTIME each, default 10s); new failing inputs land in testdata/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "$(GO) test -run='^$$' -fuzz='^$$fn$$' -fuzztime=$(FUZZTIME) $$pkg"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

# The control plane is built first, under the build's own limit
# (ENVOPS_CLUSTER_BUILD_TIMEOUT), so a slow cold build is never cut by the
# test binary's -timeout.
e2e: check-go cluster-build ## end-to-end tests through kubectl against two local clusters (builds the control plane once, ~10 min)
	$(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) ./test/e2e/

cluster-test: check-go cluster-build ## tests of the local control plane harness itself
	cd test/cluster && $(GO) test -count=1 -timeout 30m ./...

krew-test: check-go ## build the release (KREW_PLATFORMS, default this machine's) and install it with krew v0.4.3, offline
	cd test/krew && ENVOPS_DIST_PLATFORMS="$(KREW_PLATFORMS)" $(GO) test -count=1 -v -timeout 40m ./...

test: vet unit race fuzz cluster-build cluster-test e2e krew-test ## everything CI runs: vet, unit tests, the race detector on concurrent packages, short fuzzing, harness, end-to-end and krew install tests

bench: check-go ## benchmarks against their peers (kustomize CLI, conftest), built from Go modules; prints figures
	$(GO) run ./bench/generate -apps 200
	$(GO) run ./bench/lint
	$(GO) run ./bench/list

bench-rollout: check-go ## the rolling update benchmark on a local cluster: the plugin's RC updater against the Deployment controller at 30 and 300 replicas
	bash bench/rollout/run.sh

bench-environment: check-go ## deploy --all of 40 apps against the same 40 deploys one after another, and a deploy --all with nothing to do, on a local cluster
	bash bench/environment/run.sh

cluster-build: check-go ## build the local control plane binaries (cached)
	$(CLUSTER) build

cluster-up: check-go ## start local clusters dev and prod (contexts envops-dev, envops-prod)
	$(CLUSTER) up --state-dir $(CLUSTER_STATE)

cluster-status: ## show the local clusters
	$(CLUSTER) status --state-dir $(CLUSTER_STATE)

cluster-down: ## stop the local clusters and remove their state
	$(CLUSTER) down --state-dir $(CLUSTER_STATE)

demo: build ## build, start local clusters, run the product's story, stop everything
	bash hack/demo.sh

.PHONY: dist install

dist: check-go ## cross-build the release into dist/: five archives, checksums.txt and the rendered krew-manifest.yaml
	@v="$(VERSION)"; case "$$v" in v[0-9]*) ;; *) echo "no release tag ($$v): using spec.version of krew-manifest.yaml"; v="";; esac; \
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || date +%s) \
	$(GO) run ./hack/dist -version "$$v" -commit "$(COMMIT)" -out dist

install: check-go ## install kubectl-envops and kubectl_complete-envops into INSTALL_DIR (default: go env GOBIN, else GOPATH/bin)
	@dir="$(INSTALL_DIR)"; [ -n "$$dir" ] || dir="$$($(GO) env GOBIN)"; [ -n "$$dir" ] || dir="$$($(GO) env GOPATH)/bin"; \
	mkdir -p "$$dir" && \
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o "$$dir/" ./cmd/kubectl-envops ./cmd/kubectl_complete-envops && \
	echo "installed $$dir/kubectl-envops and $$dir/kubectl_complete-envops" && \
	case ":$$PATH:" in *":$$dir:"*) ;; *) echo "note: $$dir is not on PATH; add it so that kubectl finds the plugin" >&2;; esac
