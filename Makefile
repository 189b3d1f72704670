# The two commands: `make demo` and `make test`. Both create the venv, install the package,
# and bring up the local stack (a real Kafka broker from Maven jars, a real Redis and a real
# PostgreSQL from Debian's packages); `make test` also makes sure Debian's Chromium is there.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: help install up down status browser tools lint test test-servers demo bench live chaos image image-test bench-test monitoring-test clean

help:
	@echo "make demo   - set up everything and run the main job"
	@echo "make test   - set up everything, lint, and run the tests"
	@echo "make bench  - end-to-end and scoring-core benchmarks (results in bench/results/)"
	@echo "make bench-test - the benchmark's peers: Quix Streams (builds their venv once), Kafka's perf tools"
	@echo "make monitoring-test - a shortened demo under a real Prometheus: alert, dashboard queries"
	@echo "make live   - a simulated half-year through real workers: live quality per level"
	@echo "make down   - stop the local Kafka, Redis and PostgreSQL that the stack started"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed: set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

up: install
	$(BIN)/fraud-worker stack up

down:
	@if [ -x $(BIN)/fraud-worker ]; then $(BIN)/fraud-worker stack down; else echo "nothing to stop (no venv)"; fi

status: install
	$(BIN)/fraud-worker stack status

# Debian's Chromium for the triage app's browser tests (installed when missing and root).
browser: install
	$(BIN)/fraud-worker stack browser

# Debian's promtool (alert rules and their unit tests) and the chart's helm (built once with
# `go install` into .stack/tools/, a few minutes on a fresh machine).
tools: install
	$(BIN)/fraud-worker stack tools

lint: install
	$(BIN)/ruff check worker tests
	$(BIN)/mypy worker

# helm's first build (go install, minutes) runs in the background while the rest sets up and
# the tests run; the tests that need helm run last, and wait for that build if it is not done.
# Lint runs beside the servers' set-up (which goes step by step: each step may call apt-get,
# which takes one lock).
HELM_LOG := .stack/helm-build.log

test: install
	@mkdir -p .stack
	@echo "building helm in the background if needed (log: $(HELM_LOG))"
	@$(BIN)/fraud-worker stack tools --no-promtool > $(HELM_LOG) 2>&1 &
	$(MAKE) --no-print-directory -j2 lint test-servers
	$(BIN)/pytest

test-servers: install
	$(MAKE) --no-print-directory up
	$(MAKE) --no-print-directory browser
	$(BIN)/fraud-worker stack tools --no-helm

demo: up
	$(BIN)/fraud-worker demo

bench: up
	$(BIN)/fraud-worker bench e2e
	$(BIN)/fraud-worker bench core

# The benchmark's peers: Quix Streams (their own venv, built once from PyPI: a few minutes)
# and Kafka's ProducerPerformance/ConsumerPerformance (by Maven, once).
bench-test: up
	$(BIN)/fraud-worker bench tools
	FRAUD_PEERS_TEST=1 $(BIN)/pytest tests/peers

# A shortened demo (30,000 events, an 18 s Redis outage) under a real Prometheus on a stack of
# its own (.stack-prom/): the scaled alert fires and resolves, every dashboard query answers.
monitoring-test: install
	FRAUD_DEMO_PROM_TEST=1 $(BIN)/pytest tests/monitoring

# A simulated half-year and its chargebacks through real workers (~10 min): live quality.
live: up
	$(BIN)/fraud-worker bench live

# The chaos suite on a stack of its own (.stack-chaos/, ports 29092/29093/26379), both modes.
chaos: install
	$(BIN)/python -m worker.chaos --mode both

# The container image (deploy/image/Containerfile), built with Debian's podman on a Debian
# base made with debootstrap (no registry needed); image-test runs it against the local stack.
image: install
	$(BIN)/fraud-worker stack image

image-test: up
	FRAUD_IMAGE_TEST=1 $(BIN)/pytest tests/image

clean: down
	rm -rf .stack
