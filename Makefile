# The two commands: `make run` (dashboard + worker, demo data on an empty database) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test docs install bench bench-scale bench-peers bench-venv clean

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

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# The manual (docs/, mkdocs.yml): --strict fails on any warning (broken link or anchor, page out of the nav).
# Built into a temporary directory that is removed afterwards; `.venv/bin/mkdocs serve` previews it.
docs: $(VENV)/.installed
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir "$$out"

bench: $(VENV)/.installed
	$(PY) -m bench.ingest

# DuckDB and chDB for bench.peers, in a virtualenv of their own (bench.peers finds it, or BENCH_PYTHON).
BENCH_VENV := .bench-venv
$(BENCH_VENV)/.installed: requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements-bench.txt
	touch $@

bench-venv: $(BENCH_VENV)/.installed

# 10,000,000 records into the PostgreSQL database aium_scale (dropped and recreated), then the scale table
# (the Overview against DuckDB, chDB and the plain GROUP BY included).
ROWS ?= 10000000
bench-scale: $(VENV)/.installed $(BENCH_VENV)/.installed
	$(PY) -m bench.generate --rows $(ROWS) --db aium_scale
	$(PY) -m bench.scale --db aium_scale

# The Overview against DuckDB and chDB on the generated ledger (make bench-scale generates it).
bench-peers: $(VENV)/.installed $(BENCH_VENV)/.installed
	$(PY) -m bench.peers --db aium_scale

clean:
	rm -rf $(VENV) $(BENCH_VENV) .pytest_cache site
