# stopsms: `make run` runs the demo on the embedded default, `make test` runs every check.
# Both create the virtualenv (.venv) and install the project when it is missing or stale.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The SMPP server of the fault tests (npm `smpp`, run by node), installed from its lock file.
PEERS  := tests/peers/node_modules/.package-lock.json
# The browser libraries the customer area serves (htmx, uPlot for the charts), pinned in vendor/package-lock.json and
# committed as text under src/stopsms/web/static so that `pip install -e .` serves them offline;
# axe-core, which only the browser tests inject (accessibility), committed under tests/e2e/vendor.
# `make vendor` refreshes the copies from npm after a change of version.
VENDOR := vendor/node_modules/.package-lock.json

.PHONY: run test lint typecheck unit bench clean vendor browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(PEERS): tests/peers/package.json tests/peers/package-lock.json
	cd tests/peers && npm ci --no-audit --no-fund --silent

$(VENDOR): vendor/package.json vendor/package-lock.json
	cd vendor && npm ci --no-audit --no-fund --silent

vendor: $(VENDOR)
	cp vendor/node_modules/htmx.org/dist/htmx.min.js src/stopsms/web/static/htmx.min.js
	mkdir -p tests/e2e/vendor
	cp vendor/node_modules/axe-core/axe.min.js tests/e2e/vendor/axe.min.js
	cp vendor/node_modules/uplot/dist/uPlot.iife.min.js src/stopsms/web/static/uPlot.iife.min.js
	cp vendor/node_modules/uplot/dist/uPlot.min.css src/stopsms/web/static/uPlot.min.css

# The browser tests drive Debian's Chromium (no browser download works here): installed when
# missing, never `playwright install`.
browser:
	test -x /usr/bin/chromium || apt-get install -y chromium

# `make run` runs the demo, then serves the customer area on this port until Ctrl-C.
PORT ?= 8000

run: $(STAMP)
	$(BIN)/stopsms demo --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

# The tests run on every core (pytest-xdist): each test has its own databases, folders and
# ports (PostgreSQL databases by unique name, port 0 everywhere), so workers never collide.
TEST_JOBS ?= auto

unit: $(STAMP) $(PEERS) browser
	$(BIN)/pytest -n $(TEST_JOBS)

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache tests/peers/node_modules vendor/node_modules
