# riskstream: the two commands of the README's quick start, and their parts.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: demo test lint types pytest system-deps clean

## make demo: install into .venv and run the demo on embedded defaults (ARGS="--duration 120")
demo: $(VENV)/.installed
	$(BIN)/riskstream demo $(ARGS)

## make test: install system packages (apt-get) and test tools, then lint (ruff, import
## contracts), types and all tests
test: system-deps $(VENV)/.installed-test lint types pytest

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

pytest: $(VENV)/.installed-test
	@scripts/run-pytest.sh $(BIN)/pytest

clean:
	rm -rf $(VENV) riskstream-demo riskstream-data .pytest_cache .mypy_cache .ruff_cache
