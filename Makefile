# lit_srl — make install, make test (see README.md)
PYTHON ?= python3
PIP := $(PYTHON) -m pip
# The CPU wheel on this kind of machine; on a GPU machine set TORCH_SPEC to the build you want.
# A torch that is already installed is kept as it is.
TORCH_SPEC ?= torch==2.13.0
# The data root of the tests (senteval/, corpus/): $LIT_SRL_DATA, else ../shared/data where it
# exists, else ./data (what `make data` fills).
TEST_DATA := $(abspath $(or $(LIT_SRL_DATA),$(if $(wildcard ../shared/data),../shared/data,data)))
export TOKENIZERS_PARALLELISM ?= false

# make bench BENCH_ARGS="--threads 1"   (one torch thread: steadier timings on a shared CPU)
BENCH_ARGS ?=
# make experiment: RESULTS.md from the committed MiniLM sweeps (configs/sweeps/minilm_*.yaml; about 4 min a
# run on 2 idle CPU cores). Finished runs under results/ are skipped, interrupted ones resume;
# SWEEP_ARGS="--only '*_seed1'" runs a subset. Each entry is SWEEP:FOLDER under results/: the
# figure-1 and components sweeps in today's full-corpus order go to *_permutation (results/minilm_figure1
# and results/minilm_components hold the same sweeps in the earlier buffered order, for comparison).
SWEEPS ?= minilm_figure1:minilm_figure1_permutation minilm_components:minilm_components_permutation minilm_precision:minilm_precision
SWEEP_ARGS ?=

.PHONY: install test test-fast quickstart data bench gpu-check gpu-check-smoke gpu-bundle gpu-dry-run experiment clean

install:
	@if $(PYTHON) -c "import torch" 2>/dev/null; then \
		echo "keeping the installed torch $$($(PYTHON) -c 'import torch; print(torch.__version__)')"; \
	else \
		$(PIP) install "$(TORCH_SPEC)"; \
	fi
	$(PIP) install -e ".[dev]"

# pytest-xdist workers: many tests wait on subprocesses, SLURM and signals, so 2 workers keep 2 cores busy
TEST_JOBS ?= 2
# Each worker, and each fit a test starts, computes on TEST_THREADS OpenMP threads. torch's default
# (one per core) puts TEST_JOBS × cores threads on the cores, and OpenMP's threads then spin waiting
# for each other. On a 2-core VM (2026-12-07), 1 thread: 13:57 for the suite instead of 15:48.
TEST_THREADS ?= 1
# --dist loadgroup: one test (or one xdist_group: a module whose tests share a costly module
# fixture) at a time to whichever worker is free; tests/conftest.py puts the slow tests first.
test:
	OMP_NUM_THREADS=$(TEST_THREADS) LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) -m pytest -q -n $(TEST_JOBS) --dist loadgroup

test-fast:
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) -m pytest -q -m "not minilm and not ddp and not slurm"

quickstart:
	$(PYTHON) -m lit_srl fit --config configs/quickstart.yaml

data:
	$(PYTHON) -m lit_srl data download

bench:
	@$(PYTHON) -c "import datasets, accelerate" 2>/dev/null || $(PIP) install -e ".[bench]"
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) benchmarks/run_all.py --output BENCHMARKS.md $(BENCH_ARGS)

# make gpu-check: on a GPU machine, the tests with the GPU visible, the training and encoding
# benchmarks, a paper-recipe fit, the imports of a fresh process and a packed sweep in about 8
# minutes; one summary table, and the gpu-check section of BENCHMARKS.md rewritten
# (scripts/gpu_check.py). gpu-check-smoke: the same steps at toy sizes on the CPU (CI). gpu-bundle:
# what the GPU test machine lacks, packed into gpu_bundle/ (scripts/gpu_bundle.py; there: bash
# scripts/gpu_device.sh). gpu-dry-run: that device path rehearsed here on the CPU, in a venv with the GPU
# machine's Python and library releases (scripts/gpu_dry_run.sh; its venv takes 5.5 GB).
GPU_CHECK_ARGS ?=

gpu-check:
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) scripts/gpu_check.py --out-dir gpu_check --update BENCHMARKS.md $(GPU_CHECK_ARGS)

gpu-check-smoke:
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) scripts/gpu_check.py --smoke --out-dir gpu_check_smoke $(GPU_CHECK_ARGS)

gpu-bundle:
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) scripts/gpu_bundle.py --out gpu_bundle

gpu-dry-run:
	LIT_SRL_DATA=$(TEST_DATA) PYTHON=$(PYTHON) bash scripts/gpu_dry_run.sh

experiment:
	@for entry in $(SWEEPS); do \
		LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) -m lit_srl sweep run configs/sweeps/$${entry%%:*}.yaml --output-dir results/$${entry#*:} $(SWEEP_ARGS) || exit $$?; \
	done
	$(PYTHON) -m lit_srl sweep report results --output RESULTS.md

clean:
	rm -rf build *.egg-info .pytest_cache
