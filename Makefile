# bc-sales-sync: Business Central <-> Dynamics 365 Sales sync as Airflow DAGs.
# `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export PYTHONPATH := $(CURDIR)

.PHONY: install test lint format demo sync airflow settings sandbox bench lock clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt -r requirements-dev.txt
	touch $@

lock:
	$(BIN)/uv pip compile --quiet --python 3.11 --no-header requirements.in -o requirements.txt
	$(BIN)/uv pip compile --quiet --python 3.11 --no-header requirements-dev.in -o requirements-dev.txt

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sandbox: install
	$(BIN)/python -m include.sandbox serve $(SANDBOX_ARGS)

demo: install
	$(BIN)/python -m dev demo

sync: install
	$(BIN)/python -m dev sync $(SYNC_ARGS)

airflow: install
	$(BIN)/python -m dev airflow

settings: install
	$(BIN)/python -m dev prepare

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .ruff_cache
