# Two commands from a fresh machine: `make demo` and `make test`. Each bootstraps itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup system bench-system test lint demo faults bench schema clean

setup: $(STAMP) system

# Reinstall when the dependency list changes; the stamp keeps repeated runs fast.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

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
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python bench/validate.py
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/verify.py
	$(BIN)/python bench/audit.py

# Regenerate the committed JSON Schema after changing the model or registering a step.
schema: setup
	$(BIN)/lifeboat schema > runbook.schema.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
