# The README's two commands: `make demo` and `make test`. Each creates or refreshes .venv and installs
# everything it needs (the CPU engine is built once per machine and cached under ~/.cache/infer-harness).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
PYTEST_ARGS ?=

.PHONY: demo test unit lint engine venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[cpu,dev]'
	touch $(STAMP)

venv: $(STAMP)

engine: venv
	$(BIN)/harness engines build llamacpp

demo: engine
	$(BIN)/harness demo

lint: venv
	$(BIN)/mypy --strict
	$(BIN)/ruff check harness tests suites scripts benchmarks

test: engine lint
	$(BIN)/python -m pytest tests -p no:cacheprovider $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest tests/unit -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) reports/runs
