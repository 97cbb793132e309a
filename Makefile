# Two commands for a newcomer: `make demo` and `make test`.
# Each creates .venv on first use and installs the project with its test extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench firmware system-deps clean

SPEEDUPS := $(VENV)/.speedups

$(STAMP): pyproject.toml
	./scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# The serial path's compiled part (firmware_bridge/speedups), built for this machine.
$(SPEEDUPS): $(STAMP) firmware_bridge/speedups/_speedups.c $(wildcard firmware_bridge/speedups/fusion/*.[ch])
	$(BIN)/python -m firmware_bridge.speedups build
	touch $(SPEEDUPS)

demo: $(SPEEDUPS)
	$(BIN)/stridesync demo --history

test: $(SPEEDUPS)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=25

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(SPEEDUPS)
	$(BIN)/python -m bench all

# Every sensor node's firmware, for the real boards and for QEMU, with its flash and RAM.
firmware:
	./scripts/system-deps.sh
	$(MAKE) -C firmware_bridge/firmware

system-deps:
	./scripts/system-deps.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info firmware_bridge/firmware/build
	rm -f firmware_bridge/speedups/_speedups.*.so
