# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
# For `make run` only (the tests make their own databases and URLs). Checkout links and the sandbox
# notifications are built from the public URL, so it follows HOST and PORT. Roamcard defaults to
# production (development secrets refused, no demo, no sandbox); `make run` is the development setup.
run: export ROAMCARD_ENVIRONMENT = development
run: export ROAMCARD_DATABASE_URL ?= sqlite:///./roamcard.db
run: export ROAMCARD_PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)

.PHONY: run test fuzz lint typecheck unit install install-dev browser-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

install: $(STAMP)
install-dev: $(DEV_STAMP)

## make run: install, migrate, load demo data, serve portal + API + worker on SQLite.
run: $(STAMP)
	$(BIN)/roamcard migrate
	$(BIN)/roamcard demo
	$(BIN)/roamcard serve --host $(HOST) --port $(PORT)

## make test: lint, type-check and the whole suite (SQLite; PostgreSQL too when reachable, required in CI).
test: $(DEV_STAMP) browser-deps
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

## make fuzz: a long schemathesis campaign (FUZZ_EXAMPLES per operation; `make test` runs 10).
FUZZ_EXAMPLES ?= 500
fuzz: $(DEV_STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:cacheprovider tests/fuzz $(PYTEST_ARGS)

## Debian's Chromium for the browser tests (Playwright drives it; no browser download).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) roamcard.db roamcard.db-wal roamcard.db-shm test-artifacts .pytest_cache .mypy_cache .ruff_cache
