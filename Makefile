# The interface for newcomers and operators: `make run` and `make test` are all you need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Validation tools for the deployment files, fetched from the Go module proxy and PyPI.
KUSTOMIZE := $(VENV)/bin/kustomize
KUSTOMIZE_VERSION := v5.5.0
COMPOSE_SCHEMA := $(VENV)/share/compose-spec.json

.DEFAULT_GOAL := help
.PHONY: help install tools run demo test test-unit lint format schemas clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Install Python dependencies into .venv and fetch the Kafka jars
	$(PY) -c 'from deploy.local import kafka_libs; print("Kafka jars:", kafka_libs())'

$(KUSTOMIZE):
	GOBIN=$(abspath $(VENV)/bin) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

# The compose-spec JSON Schema, as shipped inside the docker-compose wheel.
$(COMPOSE_SCHEMA): $(STAMP)
	mkdir -p $(VENV)/share/wheels
	$(PY) -m pip download --quiet --no-deps --dest $(VENV)/share/wheels docker-compose==1.29.2
	$(PY) -m deploy.schema_from_wheel $(VENV)/share/wheels/docker_compose-1.29.2-*.whl compose/config/compose_spec.json $@

tools: $(KUSTOMIZE) $(COMPOSE_SCHEMA) ## Fetch the validators of the deployment files

run: install ## Run the whole system (Kafka, databases, services) until Ctrl-C
	$(PY) -m deploy.run

demo: $(STAMP) ## Walk the program's examples through every stage (needs `make run`)
	$(PY) -m deploy.demo

test: install tools ## Run every test against a real Kafka broker and PostgreSQL
	$(PY) -m pytest

test-unit: $(STAMP) ## Run the unit tests only (no servers)
	$(PY) -m pytest tests/unit

lint: $(STAMP) ## Check style and lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## Format the code
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

schemas: $(STAMP) ## Regenerate the event JSON Schemas under shared/events/schemas
	$(PY) -m shared.events.schemas

clean: ## Remove local data of `make run` (keeps the installed environment)
	rm -rf .run
