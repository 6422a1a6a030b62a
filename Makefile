# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-fast run bench lint clean help

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/tokenboard demo

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

run: $(STAMP)
	$(BIN)/tokenboard serve

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .tokenboard demo-output .pytest_cache

help:
	@echo "make install    the virtualenv in $(VENV), with the dev tools (the targets that need it make it)"
	@echo "make demo       offline: synthetic org, real ingest, both rankings (README: The demo)"
	@echo "make test       every test (pytest)"
	@echo "make test-fast  every test not marked slow (pytest -m 'not slow'), under a minute"
	@echo "make run        tokenboard serve"
	@echo "make bench      the benchmarks (docs/benchmarks.md)"
	@echo "make lint       ruff check"
	@echo "make clean      remove the virtualenv and local data"
