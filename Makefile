# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
SCORE_DB_PATH ?= ./data/db.sqlite

.PHONY: install install-run run run-cluster lint test system-deps tools schemas bench bench-scaleout bench-instrumentation bench-pages lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamp files re-install only when a lock file changes.
$(VENV)/.run-installed: requirements.lock | $(BIN)/python
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(VENV)/.test-installed: requirements-test.lock | $(BIN)/python
	$(BIN)/pip install -q -r requirements-test.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(VENV)/.run-installed $@

install-run: $(VENV)/.run-installed
install: $(VENV)/.test-installed

run: install-run
	HOST=$(HOST) PORT=$(PORT) SCORE_DB_PATH=$(SCORE_DB_PATH) $(BIN)/python main.py

# Two app processes on PostgreSQL behind HAProxy (cookie stickiness) on PORT; Ctrl+C stops all.
CLUSTER_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/drafty_cluster
REPLICAS ?= 2
run-cluster: install-run
	$(BIN)/python scripts/cluster.py --database-url $(CLUSTER_DATABASE_URL) --create-db \
		--host $(HOST) --port $(PORT) --replicas $(REPLICAS)

# Debian packages the tests drive for real (browser, Prometheus/promtool).
system-deps:
	@bash scripts/system-deps.sh

# Tool venvs kept apart from the app's, as each pins many packages that would fight its deps:
# checkov, and the real Azure CLI used only for its argument parser (tests/infra/test_az_command_lines.py).
TOOLS := .tools
AZCLI := .azcli
$(TOOLS)/.installed: requirements-tools.lock
$(AZCLI)/.installed: requirements-azcli.lock
$(TOOLS)/.installed $(AZCLI)/.installed:
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/pip install -q --upgrade pip
	$(@D)/bin/pip install -q -r $<
	touch $@

# azure-cli 2.87.0, the last release with `az afd` in its core (2.88.0 moved it to the `cdn`
# extension, Azure/azure-cli#33336, which installs from Microsoft's index, not PyPI): its core
# and cdn module only, run on .azcli's packages, to parse RUNBOOK's `az afd` lines.
AZCLI_AFD := .azcli-afd
$(AZCLI_AFD)/.installed: requirements-azcli-afd.lock | $(AZCLI)/.installed
	rm -rf $(AZCLI_AFD)
	$(AZCLI)/bin/pip install -q --no-deps --require-hashes --target $(AZCLI_AFD) -r requirements-azcli-afd.lock
	find $(AZCLI_AFD)/azure/cli/command_modules -mindepth 1 -maxdepth 1 -type d ! -name cdn -exec rm -rf {} +
	touch $@

tools: $(TOOLS)/.installed $(AZCLI)/.installed $(AZCLI_AFD)/.installed

# Style and types; configured in pyproject.toml. `make test` runs it first.
lint: install
	@$(BIN)/ruff check . || { echo "make lint: ruff check failed (many are fixed by: $(BIN)/ruff check --fix .)" >&2; exit 1; }
	@$(BIN)/ruff format --check . || { echo "make lint: not formatted (fix with: $(BIN)/ruff format .)" >&2; exit 1; }
	@$(BIN)/mypy || { echo "make lint: mypy found type errors (see above)" >&2; exit 1; }

# Azure SDK model files, read (never imported) as resource schemas by tests/infra/test_resource_schema.py.
SCHEMAS := .azure-schemas
$(SCHEMAS)/.installed: requirements-schemas.lock | $(BIN)/python
	rm -rf $(SCHEMAS)
	$(BIN)/pip install -q --no-deps --require-hashes --target $(SCHEMAS) -r requirements-schemas.lock
	touch $@

schemas: $(SCHEMAS)/.installed

# Two pytest-xdist workers, a test file per worker at a time: 11-13 min on 2 cores, against
# 22-26 min in one process (TEST_WORKERS=0). The browser tests that play in real time steer
# from inside the page (tests/ui/helpers.py), so the second worker's load cannot make them late.
TEST_WORKERS ?= 2
test: lint system-deps tools schemas
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# bench-pages is not part of `make bench`: the full curve (100 to 2,000 pages, reconnect
# storms) takes about 15 minutes and two cores; run it on its own.
# The API rounds in docs/PERFORMANCE.md are driven by wrk (the aiohttp client takes most of a core).
bench: install system-deps
	$(BIN)/python bench/bench_api.py --client wrk
	$(BIN)/python bench/bench_layers.py
	$(BIN)/python bench/bench_export_cost.py --route /leaderboard --reps 5
	$(BIN)/python bench/bench_scaleout.py

# Open pages on one server: RSS, idle CPU, top-10 broadcast p50/p99, loop lag, /healthz p99,
# reconnect storm, at 100 to 2,000 pages (docs/PERFORMANCE.md "Open pages"). PAGES_ARGS to narrow it.
PAGES_ARGS ?=
bench-pages: install
	$(BIN)/python bench/pages_load.py $(PAGES_ARGS)

# SQLite vs PostgreSQL with 1 and 2 replicas (behind HAProxy), 10k and 1M rows (docs/PERFORMANCE.md).
bench-scaleout: install system-deps
	$(BIN)/python bench/bench_scaleout.py

# Metrics/tracing overhead: instrumentation on vs off vs exporting (docs/PERFORMANCE.md).
bench-instrumentation: install
	$(BIN)/python bench/bench_instrumentation.py

# Regenerate the pinned lock files from pyproject.toml (needs network to PyPI).
lock:
	$(BIN)/pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 -o requirements-test.lock
	$(BIN)/uv pip compile requirements-tools.in --python-version 3.11 -o requirements-tools.lock
	$(BIN)/uv pip compile requirements-azcli.in --python-version 3.11 -o requirements-azcli.lock

clean:
	rm -rf $(VENV) $(TOOLS) $(AZCLI) $(AZCLI_AFD) $(SCHEMAS) .pytest_cache
