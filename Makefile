# Two commands do all set-up: `make run` (the main job) and `make test` (the test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: run test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# the slim serving set: no torch
$(VENV)/.run-installed: pyproject.toml serving/constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c serving/constraints.txt -e '.[serve]'
	touch $@

# everything: serving, training (torch==2.14.1, torchvision==0.29.1, mlflow), export, tests
$(VENV)/.test-installed: pyproject.toml serving/constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c serving/constraints.txt -e '.[serve,train,export,dev]'
	touch $@ $(VENV)/.run-installed

# the demo's JavaScript linter (ESLint, pinned in package-lock.json)
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# the scoring service with the shipped model and the writing demo on http://127.0.0.1:8000/
run: $(VENV)/.run-installed
	$(BIN)/kanjiwrite serve

test: $(VENV)/.test-installed node_modules/.installed
	$(BIN)/ruff check .
	npx --no-install eslint serving/static
	$(BIN)/pytest

lint: $(VENV)/.test-installed node_modules/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
	npx --no-install eslint serving/static

clean:
	rm -rf $(VENV) node_modules build dist *.egg-info .pytest_cache out
