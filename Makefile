# The few verbs people reach for. `make run` and `make test` work from a clean clone.
VENV    := .venv
PY      := $(VENV)/bin/python
PORT    ?= 8000
HOST    ?= 127.0.0.1
STAMP   := $(VENV)/.installed-stamp
NPMSTAMP := node_modules/.installed-stamp

.PHONY: run test lint schema bench install migrate seed clean

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
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

install: $(STAMP)

$(NPMSTAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo --if-empty

run: seed $(NPMSTAMP)
	@echo "GraphiQL: http://$(HOST):$(PORT)/graphql/"
	$(PY) -m uvicorn config.asgi:application --host $(HOST) --port $(PORT)

test: install $(NPMSTAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports   # the import arrows and no cycles ([tool.importlinter] in pyproject.toml)

schema: install
	$(PY) manage.py export_schema graph.schema --path schema.graphql

bench: install
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev,bench]"
	$(PY) -m tests.benchmarks.run $(if $(FULL),--full,)
	$(PY) -m tests.benchmarks.bench_celery
	$(PY) -m tests.benchmarks.bench_live

clean:
	rm -rf $(VENV) node_modules db.sqlite3* test_db.sqlite3*
