# The few verbs people reach for. `make run` and `make test` work from a clean clone.
VENV    := .venv
PY      := $(VENV)/bin/python
PORT    ?= 8000
HOST    ?= 127.0.0.1
# Two install stamps: the server's dependencies (make run), and the test and lint tools on top
# (make test, make lint; playwright alone is 165 MB, and make run never needs it).
STAMP   := $(VENV)/.installed-stamp
DEVSTAMP := $(VENV)/.installed-dev-stamp
NPMSTAMP := node_modules/.installed-stamp
NPMRUNSTAMP := node_modules/.installed-run-stamp
NPM     ?= npm

.PHONY: run test lint schema bench install install-dev migrate seed static graphiql-assets clean

# A Python >= 3.12 for the virtual environment: the first that qualifies.
define find_python
py=""; for c in python3.14 python3.13 python3.12 python3 python; do \
  if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then py=$$c; break; fi; \
done; \
if [ -z "$$py" ]; then \
  echo "error: this project needs Python 3.12 or newer, found: $$(python3 --version 2>&1 || echo none)." >&2; \
  echo "       install it (pyenv install 3.12, or your system's python3.12 package) and run make again." >&2; \
  exit 1; \
fi
endef

$(STAMP): pyproject.toml constraints.txt
	@$(find_python); \
	if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then rm -rf $(VENV); fi; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$($$py --version)"; $$py -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	@touch $@

$(DEVSTAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

install: $(STAMP)

install-dev: $(DEVSTAMP)

$(NPMSTAMP): package.json package-lock.json
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

# The server needs GraphiQL's assets only (package.json "dependencies"); a full install
# (make test) already has them, and `npm ci --omit=dev` would remove the test tools.
$(NPMRUNSTAMP): package.json package-lock.json
	@if [ -f $(NPMSTAMP) ] && [ $(NPMSTAMP) -nt package-lock.json ]; then :; \
	else $(NPM) ci --omit=dev --no-audit --no-fund --loglevel=error; fi
	@touch $@

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

# The admin's styles and scripts, collected into STATIC_ROOT for ServeStatic (config.settings).
static: install
	$(PY) manage.py collectstatic --noinput --verbosity 0

# GraphiQL's scripts come from npm; without npm the API still runs and GraphiQL's page says how to enable it.
graphiql-assets:
	@if command -v $(NPM) >/dev/null 2>&1; then $(MAKE) --no-print-directory $(NPMRUNSTAMP); \
	else echo "npm not found: the API runs, GraphiQL's page says how to enable it (install Node.js, npm ci)"; fi

run: seed static graphiql-assets
	@echo "GraphiQL: http://$(HOST):$(PORT)/graphql/   Admin: http://$(HOST):$(PORT)/admin/"
	$(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT)

test: $(DEVSTAMP) $(NPMSTAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEVSTAMP)
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports   # the import arrows and no cycles ([tool.importlinter] in pyproject.toml)

# Export the schema, list what changed against the committed schema.graphql (graphql-inspector),
# and refuse a breaking change that CHANGELOG.md's "## Unreleased" section does not name.
schema: install $(NPMSTAMP)
	@tmp=$$(mktemp --suffix=.graphql) && trap 'rm -f "$$tmp"' EXIT && \
	$(PY) manage.py export_schema graph.schema --path "$$tmp" && \
	node tools/schema_changes.mjs schema.graphql "$$tmp" CHANGELOG.md && \
	cp "$$tmp" schema.graphql && echo "schema.graphql updated"

bench: $(DEVSTAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,bench]"
	$(PY) -m tests.benchmarks.run $(if $(FULL),--full,)
	$(PY) -m tests.benchmarks.bench_catalogue --suite $(if $(FULL),--full,)
	$(PY) -m tests.benchmarks.bench_celery
	$(PY) -m tests.benchmarks.bench_history
	$(PY) -m tests.benchmarks.bench_drain_before
	$(PY) -m tests.benchmarks.bench_live

clean:
	rm -rf $(VENV) node_modules db.sqlite3* test_db.sqlite3*
