# The two commands of the README:
#   make run    installs everything and starts NovaGenIA on http://127.0.0.1:7860
#   make test   installs everything and runs the whole test suite
# GPU users: `make run TORCH="torch"` (or install your CUDA build of torch into .venv first).

VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test test-python test-web web lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q "$(TORCH)"
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $@

install: $(STAMP)

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

web: web/node_modules/.package-lock.json
	cd web && npm run build

run: install web
	$(VENV)/bin/serve run serve_config.yaml

test: install web
	$(PY) -m pytest
	$(MAKE) test-web

test-web:
	cd web && npm test
	cd web && RAY_AUTH_MODE=disabled npm run e2e

lint: install
	$(VENV)/bin/ruff check novagenia tests bench training
	$(VENV)/bin/ruff format --check novagenia tests bench training

bench: install
	$(PY) -m bench.overhead

clean:
	rm -rf $(VENV) web/node_modules web/dist
