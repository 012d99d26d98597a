# Two commands do all the set-up: `make run` (serve on the embedded default) and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 8000
KATEX := static/vendor/katex/katex.min.js

.PHONY: install static run test test-sqlite test-postgres compose-check check lint typecheck bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# torch is pinned (a CPU wheel lies on this machine; unpinned, pip pulls a multi-GB CUDA build).
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install -q -e ".[semantic,dev]"
	touch $@

install: $(VENV)/.installed

$(KATEX): package.json package-lock.json
	npm ci --no-audit --no-fund --silent --omit=optional  # pdfjs-dist's optional canvas is for Node only
	rm -rf static/vendor/katex && mkdir -p static/vendor/katex
	cp -r node_modules/katex/dist/katex.min.js node_modules/katex/dist/katex.min.css \
	      node_modules/katex/dist/fonts node_modules/katex/dist/contrib static/vendor/katex/
	rm -rf static/vendor/swagger-ui && mkdir -p static/vendor/swagger-ui
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
	   node_modules/swagger-ui-dist/favicon-32x32.png static/vendor/swagger-ui/
	# axe-core: the accessibility checker the browser tests inject (tests/browser/test_reading.py).
	rm -rf static/vendor/axe-core && mkdir -p static/vendor/axe-core
	cp node_modules/axe-core/axe.min.js static/vendor/axe-core/
	# PDF.js: the inline PDF viewer (static/js/pdfview.js), its worker, the fonts and character maps a
	# PDF may name without embedding, and the JS image decoders (not the wasm ones: the CSP allows no
	# 'wasm-unsafe-eval', so pdfview.js turns wasm off).
	rm -rf static/vendor/pdfjs && mkdir -p static/vendor/pdfjs/wasm
	cp node_modules/pdfjs-dist/build/pdf.min.mjs node_modules/pdfjs-dist/build/pdf.worker.min.mjs \
	   node_modules/pdfjs-dist/LICENSE static/vendor/pdfjs/
	cp -r node_modules/pdfjs-dist/cmaps node_modules/pdfjs-dist/standard_fonts node_modules/pdfjs-dist/iccs \
	   static/vendor/pdfjs/
	cp node_modules/pdfjs-dist/wasm/*_nowasm_fallback.js node_modules/pdfjs-dist/wasm/LICENSE_* static/vendor/pdfjs/wasm/
	touch $@

static: $(KATEX)

run: install static
	$(BIN)/coolpapers db upgrade
	$(BIN)/coolpapers demo
	$(BIN)/coolpapers serve --host $(HOST) --port $(PORT)

# The whole suite on SQLite, then on PostgreSQL, with real PostgreSQL and Redis on loopback.
test: install static compose-check
	tests/services.sh $(MAKE) --no-print-directory test-sqlite test-postgres

# Validate docker-compose.yml with whichever compose client is installed (CI has no Docker engine).
compose-check:
	@if command -v docker-compose >/dev/null; then POSTGRES_PASSWORD=check docker-compose -f docker-compose.yml config -q; \
	elif docker compose version >/dev/null 2>&1; then POSTGRES_PASSWORD=check docker compose -f docker-compose.yml config -q; fi

test-sqlite:
	env -u TEST_DATABASE_URL $(BIN)/pytest -q

test-postgres:
	@test -n "$$TEST_DATABASE_URL" || { echo "TEST_DATABASE_URL is not set: run 'make test'"; exit 1; }
	DATABASE_URL=$$TEST_DATABASE_URL $(BIN)/alembic upgrade head
	DATABASE_URL=$$TEST_DATABASE_URL $(BIN)/alembic check
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck:
	$(BIN)/mypy

check: install static lint typecheck compose-check
	tests/services.sh $(MAKE) --no-print-directory test-sqlite test-postgres

bench: install
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/pages.py

clean:
	rm -rf $(VENV) node_modules static/vendor .ci-services .pytest_cache .mypy_cache .ruff_cache
