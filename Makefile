# The two commands a new machine needs: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: run test install install-test lint typecheck bench clean

# Re-install whenever the dependency pins or the package metadata change.
$(BIN)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test,dev]'
	touch $@

install: $(BIN)/.installed
install-test: $(BIN)/.installed

## Install, create the SQLite database with the synthetic demo cohort, print the demo logins and serve the UI.
run: install
	$(BIN)/jk500db init --demo
	$(BIN)/jk500db serve --host $(HOST) --port $(PORT)

## Install with the test extras and run the whole suite (PostgreSQL tests need JK500DB_TEST_POSTGRES_URL).
test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check jk500db admin tests migrations benchmarks

typecheck: install
	$(BIN)/mypy

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache *.egg-info test-output
