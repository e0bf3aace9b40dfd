# clientdesk — the two commands a newcomer needs are `make dev` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install dev test lint lock bench seed schema clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the dependencies change; the stamp makes repeated runs instant.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

dev: install ## start PostgreSQL, Redis, a mail sink, the API (GraphiQL) and a worker
	$(BIN)/clientdesk dev

# One pytest worker per core, each with its own PostgreSQL, Redis and SMTP server (at most
# four: each one starts its services). Each file runs on one worker, so that the processes a
# module's fixture starts (servers, a whole installation) start once, not once per worker.
# PYTEST_ARGS="-n 0 -k …" runs in this process alone.
test: install ## run the whole test suite against real PostgreSQL, Redis and SMTP
	$(BIN)/pytest -n auto --maxprocesses 4 --dist loadfile $(PYTEST_ARGS)

lint: install ## ruff (lint and format) and mypy over every package
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app schema resolvers domain workers bench

# The image installs exactly requirements.lock; re-pin it after changing the dependencies.
lock: ## resolve [project] dependencies and the otel extra in a fresh venv and pin them in requirements.lock
	rm -rf var/lock-venv
	$(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/python -m pip install --quiet '.[otel]'
	{ sed -n '1,2p' requirements.lock; var/lock-venv/bin/python -m pip freeze --exclude clientdesk; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	rm -rf var/lock-venv

bench: install ## every performance target beside its baseline, MET or NOT MET (long: 1M clients)
	$(BIN)/python -m bench $(BENCH_ARGS)

seed: install
	$(BIN)/clientdesk seed --clients 10000

schema: install ## rewrite schema.graphql (the API's SDL) and migrations/schema.sql; commit both
	$(BIN)/clientdesk export-schema
	$(BIN)/clientdesk migrate --dump-schema

clean:
	rm -rf $(VENV) var .pytest_cache
