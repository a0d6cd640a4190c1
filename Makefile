# Every command the README shows. `make test` and `make demo` set everything up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -e '.[server,dev,dask,anthropic,gemini,mistral,vertex,bedrock]'
	@# pip compiles what it installs on one core; on every core it takes half the time (a file that does
	@# not compile is left to be compiled, or refused, when something imports it, as pip leaves it)
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null || echo "some installed files did not compile"
	touch $(STAMP)

# Where bytecode is not written as modules are imported (PYTHONDONTWRITEBYTECODE set), a `batchkit` process
# compiles every module it imports (0.1 s for validate, 0.25 s for serve) unless it was compiled before: so
# batchkit is compiled once first, on every core (files unchanged since are skipped).
BYTECODE := $(BIN)/python -m compileall -q -j 0 batchkit > /dev/null

# Two workers (the machines have two cores); whole files per worker, since several start one server per
# module. Files in collection order (slow ones first, tests/conftest.py), not xdist's order by test count,
# which left the longest single tests to end a run alone. Slow tests run too: nothing is deselected.
test: install
	$(BYTECODE)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: install
	$(BIN)/ruff check batchkit tests bench
	$(BIN)/ruff format --check batchkit tests bench

demo: install
	$(BYTECODE)
	$(BIN)/python -m batchkit.demo

bench: install
	$(BIN)/python -m pip install -q -r bench/requirements.txt
	$(BYTECODE)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache .hypothesis
