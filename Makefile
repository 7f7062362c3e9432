# nasaflow: two commands for users (make demo, make test); the rest manage the platform.
SHELL := /bin/bash
ENV := ops/with-env.sh
PYTEST_ARGS ?=
# default: one machine's engines (local Spark, one Kafka broker, LocalExecutor); cluster:
# Spark standalone, three Kafka brokers, an S3 object store, Airflow on Celery (up/down/status).
PROFILE ?= default
export NASAFLOW_PROFILE := $(PROFILE)

.PHONY: help setup up down status demo lint test test-unit bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup:  ## install what is missing: Debian packages, .venv, Maven jars, .env (idempotent)
	@ops/setup.sh

up: setup  ## start PostgreSQL, Kafka, the replay server and Airflow; wait until healthy
	@ops/up.sh

down:  ## stop what make up started
	@ops/down.sh

status:  ## report every local service with its health
	@ops/status.sh

demo: up  ## run the pipeline end to end on the bundled sample date and print what landed
	@$(ENV) python ops/demo.py

# Service-free tests first, then real services, then through Airflow, then the browser,
# then the cluster profile (the suite starts a cluster of its own beside the platform).
TEST_ORDER := tests/unit tests/dags tests/integration tests/e2e tests/browser tests/cluster

# ruff and mypy read their settings (rules, paths) from pyproject.toml.
lint: setup  ## check the code: ruff (style, bugs, imports, Airflow rules) and mypy (types)
	@.venv/bin/ruff check
	@.venv/bin/mypy

# The suite works on its own copies (database, topic, folders with a _test suffix); the
# guard plugin fails the run if the user's rows, files or topic offsets changed.
# --durations: the slowest tests are listed, since the whole run must stay under 45 minutes.
test: lint up  ## check the code, then install, start and run the whole suite; fails if the user's data changed
	@$(ENV) python -m pytest -p tests.user_data_guard --guard-user-data --durations=25 $(TEST_ORDER) $(PYTEST_ARGS)

test-unit: setup  ## the tests that need no service
	@$(ENV) python -m pytest tests/unit $(PYTEST_ARGS)

bench: up  ## run every benchmark under bench/
	@for script in bench/*.py; do echo "== $$script"; $(ENV) python $$script || exit 1; done
