# The two commands a fresh machine needs are `make run` and `make test`; the rest are for
# day-to-day work. Everything runs through uv with the versions locked in uv.lock.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
UV := PATH="$$HOME/.local/bin:$$PATH" uv

.PHONY: run test test-unit test-multi-instance bench lint format typecheck schemas screenshots infra-up infra-down infra-status bootstrap

bootstrap:
	@deploy/local/bootstrap.sh

## Run the whole system: local Kafka and PostgreSQL (unless configured) and every service.
run: bootstrap
	$(UV) run orderflow-system run

## Run the whole test suite against real Kafka and PostgreSQL (started when not configured).
## Chromium (for the browser tests) is installed first, outside pytest's per-test timeout; if it
## cannot be, the other tests still run and the browser tests fail saying what to do.
## TEST_WORKERS pytest-xdist workers share the servers, a test file each at a time (decision 57).
TEST_WORKERS ?= 3
test: bootstrap
	@$(UV) run orderflow-infra chromium || echo "make test: no Chromium; the browser tests will fail" >&2
	@$(UV) run pytest -n $(TEST_WORKERS) --dist loadfile --durations=20; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	  exit $$status

## Two instances of every service under load, stopped and SIGKILLed mid-stream (a few minutes).
## Its two files run one after the other (MULTI_INSTANCE_WORKERS=2 runs them side by side).
MULTI_INSTANCE_WORKERS ?= 1
test-multi-instance: bootstrap
	$(UV) run pytest -m multi_instance -n $(MULTI_INSTANCE_WORKERS) --dist loadfile tests/scale

## Unit tests only: no broker, no database, seconds.
test-unit: bootstrap
	$(UV) run pytest -m "not integration and not e2e and not chaos"

## The end-to-end benchmark (a few minutes): raw limits, throughput, latency, CPU, memory.
## Options: `uv run orderflow-bench run --help` (e.g. --runs 3 for ranges).
bench: bootstrap
	$(UV) run orderflow-bench run

## Refresh the README's screenshots (docs/screenshots/*.png), taken by the browser tests.
screenshots: bootstrap
	ORDERFLOW_SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(UV) run pytest -m browser tests/browser

lint: bootstrap
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

typecheck: bootstrap
	$(UV) run mypy

format: bootstrap
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

schemas: bootstrap
	$(UV) run orderflow-contracts export-schemas
	$(UV) run orderflow-asyncapi

infra-up: bootstrap
	$(UV) run orderflow-infra up
infra-down: bootstrap
	$(UV) run orderflow-infra down
infra-status: bootstrap
	$(UV) run orderflow-infra status
