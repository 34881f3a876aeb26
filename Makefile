# The two commands: `make run` (dashboard + worker, demo data on an empty database) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint docs install bench bench-scale clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m core migrate
	$(PY) -m core demo --if-empty
	PYTHON=$(PY) bash scripts/run.sh

# The whole suite in parallel (pytest-xdist): one process per core, each with its own PostgreSQL database and SQLite
# file (tests/conftest.py). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
test: $(VENV)/.installed
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Lint and format check (settings in pyproject.toml).
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The manual (docs/, mkdocs.yml): --strict fails on any warning (broken link or anchor, page out of the nav).
# Built into a temporary directory that is removed afterwards; `.venv/bin/mkdocs serve` previews it.
docs: $(VENV)/.installed
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir "$$out"

bench: $(VENV)/.installed
	$(PY) -m bench.ingest

# 10,000,000 records into the PostgreSQL database aium_scale (dropped and recreated), then the scale table.
ROWS ?= 10000000
bench-scale: $(VENV)/.installed
	$(PY) -m bench.generate --rows $(ROWS) --db aium_scale
	$(PY) -m bench.scale --db aium_scale

clean:
	rm -rf $(VENV) .pytest_cache site
