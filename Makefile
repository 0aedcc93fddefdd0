# sareeflow: every target bootstraps .venv on a fresh clone (python3 >= 3.11 required).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# Offline-friendly Prefect defaults; the project keeps its own Prefect home and database.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1

.PHONY: install run test test-fast demo bench bench-validate bench-stages bench-load lint lock sample

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install sareeflow with its dev tools

run: $(STAMP) ## Prefect server + UI (:4200), deployment runner, API (:8000); Ctrl-C stops all
	$(PY) -m sareeflow.stack

test: $(STAMP) ## the whole suite, slow end-to-end tests included
	$(PY) -m pytest

test-fast: $(STAMP) ## everything but the slow end-to-end tests
	$(PY) -m pytest -m "not slow"

demo: $(STAMP) ## one standard job on the bundled sample saree, no servers
	$(VENV)/bin/sareeflow demo

bench: $(STAMP) ## DESIGN §12 figures beside their budgets
	$(PY) -m benchmarks.bench

bench-validate: $(STAMP) ## validation catch / false-alarm rates on the defect corpus
	$(PY) -m benchmarks.bench_validate

bench-stages: $(STAMP) ## isolate/flatten/extract accuracy on generated photos
	$(PY) -m benchmarks.bench_stages

bench-load: $(STAMP) ## status/gallery latency under 200 concurrent clients while jobs run
	$(PY) -m benchmarks.bench_load

lock: ## re-pin constraints.txt to the newest versions pyproject.toml allows (fresh venv)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	{ head -n 2 constraints.txt; .venv-lock/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .venv-lock

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

sample: $(STAMP) ## regenerate the bundled sample saree photo
	$(PY) -m sareeflow.synth.sample
