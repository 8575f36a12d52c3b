# bc-sales-sync: Business Central <-> Dynamics 365 Sales sync as Airflow DAGs.
# `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export PYTHONPATH := $(CURDIR)

.PHONY: install install-deploy test lint format demo sync airflow settings sandbox bench deploy-check lock clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt -r requirements-dev.txt
	touch $@

# The CeleryExecutor deployment's packages (Celery provider, Redis client), pinned in their own file.
install-deploy: $(VENV)/.deploy-installed

$(VENV)/.deploy-installed: $(VENV)/.installed requirements-deploy.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.txt -r requirements-dev.txt -r requirements-deploy.txt
	touch $@

lock:
	$(BIN)/uv pip compile --quiet --python 3.11 --no-header requirements.in -o requirements.txt
	$(BIN)/uv pip compile --quiet --python 3.11 --no-header requirements-dev.in -o requirements-dev.txt
	$(BIN)/uv pip compile --quiet --python 3.11 --no-header requirements-deploy.in -o requirements-deploy.txt

test: install install-deploy
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

# A CeleryExecutor deployment on this machine (PostgreSQL, Redis, two workers) runs the DAGs once
# against a fresh sandbox, checks the result and stops everything (DEPLOY_ARGS="--run-timeout 600", see --help).
deploy-check: install-deploy
	$(BIN)/python -m dev.deploy_check $(DEPLOY_ARGS)

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .sandbox .deploy-check .pytest_cache .ruff_cache
