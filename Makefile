# Two commands from a fresh machine: `make demo` and `make test`. Each bootstraps itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCKED := $(VENV)/.locked
LOCK   := requirements/lock.txt
# Every pin of the resolved tree, from pyproject.toml's ranges (all extras) and the installer.
LOCK_INPUTS := pyproject.toml requirements/tools.in
PIP_COMPILE := pip-compile -q --extra dev --extra bench --generate-hashes --allow-unsafe \
  --strip-extras --no-emit-find-links --no-emit-index-url --no-emit-trusted-host

.PHONY: setup system bench-system test test-latest lock lint demo faults bench schema clean

setup: $(STAMP) system

# The environment is the lock, exactly: built afresh whenever the lock changes (an old .venv
# may hold packages the lock no longer names), every distribution checked against its hash;
# then the project itself on top, again when pyproject.toml changes, resolving nothing.
# scripts/check-lock.py fails the setup if `pip freeze` differs from the lock.
$(LOCKED): $(LOCK)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(LOCK)
	touch $(LOCKED)

$(STAMP): $(LOCKED) pyproject.toml
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python scripts/check-lock.py $(LOCK)
	touch $(STAMP)

# Refresh the lock from pyproject.toml's ranges: keeps every pin that still fits and resolves
# only what must change. `make lock UPGRADE="--upgrade-package pyyaml"` moves one package;
# `make lock UPGRADE=--upgrade` moves everything. Then `make test`, and commit both.
lock:
	test -x .venv-lock/bin/pip-compile || ($(PYTHON) -m venv .venv-lock \
	  && .venv-lock/bin/python -m pip install -q pip-tools==7.6.2)
	.venv-lock/bin/$(PIP_COMPILE) $(UPGRADE) -o $(LOCK) $(LOCK_INPUTS)

# The suite against the newest releases pyproject.toml's ranges allow, in an environment of
# its own (.venv-latest): how an upgrade is tried before `make lock`. Not part of CI.
test-latest: system
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip setuptools
	.venv-latest/bin/python -m pip install -q --upgrade -e '.[dev,bench]'
	mkdir -p test-output
	.venv-latest/bin/python -m pip freeze --exclude-editable > test-output/latest-freeze.txt
	LIFEBOAT_UNLOCKED_ENV=1 PREFECT_SERVER_ANALYTICS_ENABLED=false \
	  .venv-latest/bin/python -m pytest -q

system:
	@scripts/bootstrap-system.sh

# Peers bench/ measures against that come from Debian (rclone); only `make bench` wants them.
bench-system:
	@scripts/bootstrap-system.sh rclone

test: setup
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m pytest -q

# Fault injection and bad-input fuzzing (also part of `make test`), then their table.
faults: setup
	rm -f test-output/faults/ledger.jsonl
	PREFECT_SERVER_ANALYTICS_ENABLED=false $(BIN)/python -m pytest -q tests/faults; \
	  status=$$?; $(BIN)/python -m tests.faults.table || status=1; exit $$status

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy lifeboat checks flows tests bench

demo: setup
	$(BIN)/lifeboat demo

bench: setup bench-system
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/audit.py

# Regenerate the committed JSON Schema after changing the model or registering a step.
schema: setup
	$(BIN)/lifeboat schema > runbook.schema.json

clean:
	rm -rf $(VENV) .venv-lock .venv-latest build *.egg-info .pytest_cache .mypy_cache .ruff_cache
