# cxloop — build, demo and test.
#
#   make demo           first look: SQLite, bundled sample data, the local Slack stand-in
#   make sandbox        try it in a browser: Slack and Teams stand-ins driving the real cxloop (127.0.0.1:8700)
#   make sandbox-assets the npm packages the sandbox page loads (Microsoft's Adaptive Cards renderer)
#   make test           the whole suite on SQLite, then again on a throwaway PostgreSQL
#   make test-sqlite    the suite on SQLite only
#   make test-postgres  the suite on PostgreSQL only (installs the server from Debian if needed)
#   make test-faketime  the SQLite suite with the wall clock 400 days ahead (Debian's faketime)
#   make bench          the benchmarks in bench/
#   make clean          stop the test cluster, delete the venv and build leftovers
#
# Extra pytest arguments: make test PYTEST_ARGS='-k scores -x'. Sandbox options: make sandbox SANDBOX_ARGS='--port 9000'

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

VENV        ?= .venv
# python3.11 if there is one, else python3 (checked to be >= 3.11 when the venv is made).
PYTHON      ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null || echo python3)
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.cxloop-installed
PYTEST      := $(PY) -m pytest -ra
PYTEST_ARGS ?=
BENCH_ARGS  ?=
SANDBOX_ARGS ?=
# Microsoft's Adaptive Cards renderer and markdown-it, from the npm registry, into a git-ignored folder.
SANDBOX_NPM := standins/sandbox/node_modules/.cxloop-installed
# The browser tests draw Teams cards with it: the test targets install it when npm is there.
TEST_ASSETS := $(if $(shell command -v npm 2>/dev/null),$(SANDBOX_NPM))

.PHONY: help venv demo sandbox sandbox-assets test test-sqlite test-postgres test-faketime bench clean

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

# The venv itself: made once.
$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "cxloop needs Python 3.11 or newer; found " + sys.version.split()[0] + " at " + sys.executable)'
	$(PYTHON) -m venv $(VENV)

# The project and its test tools: reinstalled only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/cxloop demo

$(SANDBOX_NPM): standins/sandbox/package.json
	@command -v npm >/dev/null || { echo "make sandbox needs npm for Microsoft's Adaptive Cards renderer (apt-get install npm)" >&2; exit 1; }
	npm install --prefix standins/sandbox --no-audit --no-fund --no-package-lock --loglevel=error
	@touch $@

sandbox-assets: $(SANDBOX_NPM)

sandbox: $(STAMP) $(SANDBOX_NPM)
	$(VENV)/bin/cxloop sandbox $(SANDBOX_ARGS)

# Both backends run even if the first fails; the target fails if either did.
test: $(STAMP) $(TEST_ASSETS)
	@rc=0; \
	$(MAKE) --no-print-directory test-sqlite || rc=1; \
	$(MAKE) --no-print-directory test-postgres || rc=1; \
	if [ $$rc -ne 0 ]; then echo "make test: FAILED (see the runs above)" >&2; fi; \
	exit $$rc

test-sqlite: $(STAMP) $(TEST_ASSETS)
	@echo "=== pytest on SQLite ==="
	env -u CXLOOP_TEST_DATABASE_URL -u DATABASE_URL $(PYTEST) $(PYTEST_ARGS)

# The cluster is stopped and deleted whatever pytest's outcome.
test-postgres: $(STAMP) $(TEST_ASSETS)
	@echo "=== pytest on PostgreSQL ==="
	@url="$$(bash scripts/postgres.sh start)"; \
	trap 'bash scripts/postgres.sh stop' EXIT; \
	echo "CXLOOP_TEST_DATABASE_URL=$$url"; \
	env -u DATABASE_URL CXLOOP_TEST_DATABASE_URL="$$url" $(PYTEST) $(PYTEST_ARGS)

# No test may depend on today's date: run the suite as if it were 400 days from now, so the next
# time bomb fails here instead of on a user's machine. Only the wall clock moves (monotonic time is
# left alone, or every timed wait would stretch by 400 days); tests/conftest.py explains the sleep fix.
test-faketime: $(STAMP) $(TEST_ASSETS)
	@command -v faketime >/dev/null || { echo "make test-faketime needs faketime (apt-get install faketime)" >&2; exit 1; }
	@echo "=== pytest on SQLite, 400 days ahead (faketime) ==="
	env -u CXLOOP_TEST_DATABASE_URL -u DATABASE_URL FAKETIME_DONT_FAKE_MONOTONIC=1 \
		faketime -f +400d $(PYTEST) $(PYTEST_ARGS)

bench: $(STAMP)
	@if [ -f bench/run.py ]; then \
		set -x; $(PY) bench/run.py $(BENCH_ARGS); \
	else \
		shopt -s nullglob; files=(bench/bench_*.py); \
		if [ $${#files[@]} -eq 0 ]; then echo "make bench: no bench/run.py or bench/bench_*.py" >&2; exit 1; fi; \
		for f in "$${files[@]}"; do (set -x; $(PY) "$$f" $(BENCH_ARGS)); done; \
	fi

clean:
	-bash scripts/postgres.sh stop
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis var/pg standins/sandbox/node_modules
	-@rmdir var 2>/dev/null || true
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
