# Two commands: `make run` serves the desk, `make test` runs the whole suite.
# Each installs what it needs on a fresh machine and reuses it afterwards.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
TEST_STAMP := $(VENV)/.test-installed
CHROMIUM ?= /usr/bin/chromium

.PHONY: run test test-unit test-integration test-e2e bench lint fixtures chromium clean

run: $(RUN_STAMP)
	exec $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: $(TEST_STAMP) chromium
	$(BIN)/pytest

test-unit: $(TEST_STAMP)
	$(BIN)/pytest tests/unit

test-integration: $(TEST_STAMP)
	$(BIN)/pytest tests/integration

test-e2e: $(TEST_STAMP) chromium
	$(BIN)/pytest tests/e2e

bench: $(TEST_STAMP)
	@set -e; for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b; done

lint: $(TEST_STAMP)
	$(BIN)/ruff check peaktrade tests bench scripts wsgi.py gunicorn.conf.py

fixtures: $(RUN_STAMP)
	$(BIN)/python scripts/make_fixtures.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUN_STAMP): setup.cfg pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Browser tests drive Debian's Chromium; install it when it is missing.
chromium:
	@test -x $(CHROMIUM) || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-liberation >/dev/null; }

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
