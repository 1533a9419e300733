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
# make experiment: RESULTS.md as committed (MiniLM, 80 steps, seeds 1 and 2: about 47 min a seed on
# 2 idle CPU cores). Finished runs in results/ are reused; EXPERIMENT_ARGS=--overwrite reruns them,
# EXPERIMENT_ARGS="--output-dir elsewhere --report elsewhere.md" keeps them.
BUDGET ?= 80
SEEDS ?= 1 2
BACKBONE ?= minilm
EXPERIMENT_ARGS ?=

.PHONY: install test test-fast quickstart data bench experiment clean

install:
	@if $(PYTHON) -c "import torch" 2>/dev/null; then \
		echo "keeping the installed torch $$($(PYTHON) -c 'import torch; print(torch.__version__)')"; \
	else \
		$(PIP) install "$(TORCH_SPEC)"; \
	fi
	$(PIP) install -e ".[dev]"

test:
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) -m pytest -q

test-fast:
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) -m pytest -q -m "not minilm and not ddp"

quickstart:
	$(PYTHON) -m lit_srl fit --config configs/quickstart.yaml

data:
	$(PYTHON) -m lit_srl data download

bench:
	@$(PYTHON) -c "import datasets, accelerate" 2>/dev/null || $(PIP) install -e ".[bench]"
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) benchmarks/run_all.py --output BENCHMARKS.md $(BENCH_ARGS)

experiment:
	LIT_SRL_DATA=$(TEST_DATA) $(PYTHON) -m lit_srl experiment --backbone $(BACKBONE) --budget $(BUDGET) --seeds $(SEEDS) $(EXPERIMENT_ARGS)

clean:
	rm -rf build *.egg-info .pytest_cache
