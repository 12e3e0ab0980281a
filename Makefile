# riskstream: the two commands of the README's quick start, and their parts.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test lint types docs docs-gen pytest system-deps clean

## make demo: install into .venv and run the demo on embedded defaults (ARGS="--duration 120")
demo: $(VENV)/.installed
	$(BIN)/riskstream demo $(ARGS)

## make test: install system packages (apt-get) and test tools, then lint (ruff, import
## contracts), types, the documentation (warnings are errors) and all tests
test: system-deps $(VENV)/.installed-test lint types docs pytest

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

system-deps:
	@scripts/system-deps.sh

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

types: $(VENV)/.installed-test
	$(BIN)/mypy

## make docs: the documentation site into site/, offline (no CDN, no web fonts); fails on
## any warning and when a generated reference page is stale
docs: $(VENV)/.installed-test
	$(BIN)/python -m riskstream.docs_gen --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

## make docs-gen: rewrite the reference pages generated from the code (docs/reference/)
docs-gen: $(VENV)/.installed-test
	$(BIN)/python -m riskstream.docs_gen

# Two processes by default: much of the suite waits on servers, browsers and clusters.
# Each test file stays in one process (its module fixtures are built once).
PYTEST_WORKERS ?= 2

pytest: $(VENV)/.installed-test
	@scripts/run-pytest.sh $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) riskstream-demo riskstream-data site .pytest_cache .mypy_cache .ruff_cache
