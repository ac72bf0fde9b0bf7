# Thin entry points; the work is done by the scripts they call.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BASE_STAMP := $(VENV)/.base-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: up down test test-faults bench lint fmt logs status ps lock

## up: start the whole stack in the background (Docker Compose if an engine answers, else native)
up: $(BASE_STAMP)
	@deploy/up

## down: stop everything `make up` started
down:
	@deploy/down

## test: the full test suite against real PostgreSQL, RabbitMQ, nginx, gunicorn and workers
test: $(DEV_STAMP)
	@tests/run

## test-faults: the fault-injection scenarios (native stack and the 3-node RabbitMQ cluster) with 1000-task batches; updates the table in docs/delivery.md
test-faults: $(DEV_STAMP)
	@FAULT_BATCH=$${FAULT_BATCH:-1000} tests/run tests/faults tests/containers/test_rabbitmq_cluster.py
	@$(VENV)/bin/python tests/faults/report.py .run/test/faults.json docs/delivery.md

## bench: benchmarks against the real stack, the open-loop latency sweep, then the 3-node cluster against one node (containers); writes bench/results/
bench: $(DEV_STAMP)
	@bench/run
	@bench/run openloop
	@bench/run publish-path
	@bench/run table-growth
	@bench/run flower-memory
	@bench/run cluster

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

fmt: $(DEV_STAMP)
	$(VENV)/bin/ruff format src tests bench
	$(VENV)/bin/ruff check --fix src tests bench

## logs: follow the native runner's logs
logs:
	@tail -n 50 -F .run/log/*.log

## status: the health check; ps: the native runner's processes
status:
	@deploy/bin/healthcheck

ps:
	@deploy/native/ctl status

## lock: re-resolve requirements/*.in into the hashed lock files
lock: $(DEV_STAMP)
	cd requirements && ../$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links -o base.lock base.in
	cd requirements && ../$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links -o dev.lock dev.in

$(BASE_STAMP): requirements/base.lock
	@deploy/native/need-venv $(PYTHON)
	@test -x $(VENV)/bin/pip || $(PYTHON) -m venv --clear $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements/base.lock
	@touch $@

$(DEV_STAMP): requirements/dev.lock $(BASE_STAMP)
	$(VENV)/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements/base.lock -r requirements/dev.lock
	@touch $@
