# Two commands on a fresh machine with only Python 3.11+:  make demo  |  make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000
PYTEST_ARGS ?=

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The site announces the port it serves on (LTI tool URLs, the LRS home page) unless
# GXPBRIDGE_BASE_URL is set: make demo PORT=8010 advertises :8010.
DEMO_BASE_URL = $${GXPBRIDGE_BASE_URL:-http://$(HOST):$(PORT)}

demo: $(STAMP)
	@export GXPBRIDGE_BASE_URL="$(DEMO_BASE_URL)"; set -e; \
	  $(BIN)/gxpbridge db upgrade; \
	  $(BIN)/gxpbridge demo load; \
	  echo ""; \
	  echo "GxP Bridge demo on $$GXPBRIDGE_BASE_URL/  (health: $$GXPBRIDGE_BASE_URL/healthz)"; \
	  echo "Sign in as admin, qa.author, qa.approver, trainer, supervisor, operator1 or auditor"; \
	  echo "with the password Demo-Password-2026.  Ctrl-C stops the server and the worker."; \
	  echo ""; \
	  $(BIN)/gxpbridge worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/gxpbridge serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache
