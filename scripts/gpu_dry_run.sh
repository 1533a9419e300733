#!/usr/bin/env bash
# A rehearsal, on this CPU machine, of what the GPU test machine runs (../shared/docs/gpu-device.md),
# with that machine's Python and library releases: a GPU machine is lent for minutes, and a fault of
# a release (a default that moved, an API that is newer) is found here instead of there.
#
#   bash scripts/gpu_dry_run.sh        (make gpu-dry-run; 8.6 min on a 2-core VM, the 5.5 GB venv included)
#
# 1. a venv (GPU_DRY_RUN_VENV, default ~/.cache/lit_srl/gpu_venv) of Python 3.12 with the releases
#    that machine has (DEVICE_PACKAGES below; torch is PyPI's CUDA build, run here on the CPU) and
#    without what gpu_bundle/ brings (jsonargparse, docstring_parser, typeshed_client, datasets, ...);
# 2. make gpu-bundle, and a copy of the working tree as the device tool carries it (tracked and
#    untracked files that git does not ignore, plus gpu_bundle/);
# 3. there: scripts/gpu_device.sh --smoke (the bundle unpacked, every step of make gpu-check at toy
#    sizes), then the test suite as make gpu-check's tests step runs it (-m "not slurm and not ddp")
#    from the bundle's site, its data and its MiniLM.
# Exit status 0 only if both passed. The logs and gpu_check's results stay in the printed work
# folder; the tree copy and the temporary files (about 2 GB, mostly the tests') are removed at the
# end unless GPU_DRY_RUN_KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
# the first Python 3.12 that runs (a pyenv shim of a version not selected exists but fails)
if [ -z "${DEVICE_PYTHON:-}" ]; then
    for candidate in $(command -v python3.12) "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            DEVICE_PYTHON="$candidate"
            break
        fi
    done
fi
VENV="${GPU_DRY_RUN_VENV:-$HOME/.cache/lit_srl/gpu_venv}"
# the GPU test machine's releases (gpu-device.md), and pyarrow, pandas and xxhash, which the
# bundled datasets wheel needs and that machine is taken to have
DEVICE_PACKAGES=(torch==2.11.0 lightning==2.6.6 transformers==5.17.0 "tokenizers==0.23.*" sentence-transformers==6.0.1
                 accelerate scipy scikit-learn tensorboard matplotlib safetensors pytest pytest-xdist pytest-timeout
                 pyarrow pandas xxhash)
BROUGHT_BY_BUNDLE=(jsonargparse docstring_parser typeshed_client datasets)

if [ ! -x "$VENV/bin/python3" ]; then
    [ -n "${DEVICE_PYTHON:-}" ] || { echo "error: no Python 3.12 here for $VENV; set DEVICE_PYTHON to one" >&2; exit 2; }
    "$DEVICE_PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python3" -m pip install --quiet "${DEVICE_PACKAGES[@]}"
for module in "${BROUGHT_BY_BUNDLE[@]}"; do
    if "$VENV/bin/python3" -c "import $module" 2>/dev/null; then
        echo "error: $VENV has $module, which the GPU machine lacks; remove it (pip uninstall) or the venv" >&2
        exit 2
    fi
done

make --no-print-directory gpu-bundle PYTHON="${PYTHON:-python3}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lit_srl_dry_run.XXXXXX")"
mkdir -p "$WORK/tree" "$WORK/tmp" "$WORK/out"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$WORK/tree"
cp -r gpu_bundle "$WORK/tree/"
echo "gpu dry run: $WORK (Python $("$VENV/bin/python3" -c 'import platform; print(platform.python_version())'))"

cd "$WORK/tree"
device_env=(env -u PYTHONPATH -u LIT_SRL_DATA -u LIT_SRL_MINILM_DIR PATH="$VENV/bin:$PATH" HF_HUB_OFFLINE=1
            TRANSFORMERS_OFFLINE=1 TMPDIR="$WORK/tmp")
smoke=0
"${device_env[@]}" OUT="$WORK/out" bash scripts/gpu_device.sh --smoke > "$WORK/smoke.log" 2>&1 || smoke=$?
echo "gpu_device.sh --smoke: exit $smoke (log $WORK/smoke.log)"

unpacked="$(ls -d "$WORK"/tmp/lit_srl_gpu.* 2>/dev/null | head -1 || true)"
[ -n "$unpacked" ] || { echo "error: gpu_device.sh unpacked no bundle; see $WORK/smoke.log" >&2; exit 1; }
tests=0
"${device_env[@]}" PYTHONPATH="$unpacked/site:$WORK/tree" LIT_SRL_DATA="$unpacked/data" LIT_SRL_MINILM_DIR="$unpacked/minilm" \
    OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false \
    python3 -m pytest -q -p no:cacheprovider -m "not slurm and not ddp" -n "${TEST_JOBS:-2}" --dist loadgroup \
    > "$WORK/tests.log" 2>&1 || tests=$?
echo "tests (not slurm, not ddp): exit $tests: $(tail -1 "$WORK/tests.log") (log $WORK/tests.log)"
grep -E '^(FAILED|ERROR) ' "$WORK/tests.log" || true
cd "$WORK"
[ -n "${GPU_DRY_RUN_KEEP:-}" ] || rm -rf "$WORK/tree" "$WORK/tmp"
[ "$smoke" -eq 0 ] && [ "$tests" -eq 0 ]
