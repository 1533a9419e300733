"""Every documented composition of configs/ resolves to the config it resolved to before the recipes
were split into config groups (issue 12, item 5), and every sweep file still plans the same runs.

tests/fixtures/resolved_recipes/ holds, written before the split:

- ``<composition>.yaml``: ``python -m lit_srl fit --config F1 --config F2 … --print_config`` of each
  documented composition and of each set of config files a committed sweep run composes;
- ``_defaults.yaml``: ``fit --print_config`` with no config file (the package's own defaults);
- ``sweeps/<sweep>.yaml``: each sweep run's ``fit`` arguments, by run name.

While the package's defaults are those of ``_defaults.yaml`` the resolved configs must be equal key
for key. When another change moves a default (a new argument of the datamodule, of a callback…),
the comparison is of what the config files set: the leaves that differ from the defaults of their
time, with a class's init_args compared where they differ from its current signature.

Write the references (only at a commit whose configs are the intended ones, and say so):
    LIT_SRL_WRITE_REFERENCE=1 python -m pytest tests/configs/test_recipes.py
"""

from __future__ import annotations

import importlib
import inspect
import os
from pathlib import Path

import pytest
import yaml

from support.helpers import REPO
from support.helpers import print_config as print_config_of
from lit_srl.sweep.spec import load_sweep

FIXTURES = REPO / "tests" / "fixtures" / "resolved_recipes"
CONFIGS = REPO / "configs"
WRITE = bool(os.environ.get("LIT_SRL_WRITE_REFERENCE"))

#: the compositions README, the Makefile and the recipes' headers document (paths under configs/)
DOCUMENTED = [
    ("quickstart.yaml",),
    ("quickstart.yaml", "loss/arccon.yaml"),
    ("quickstart.yaml", "loss/barlowtwins_mod.yaml"),
    ("quickstart.yaml", "trainer/ddp.yaml"),
    ("simcse_bert_base.yaml",),
    ("simcse_bert_base.yaml", "trainer/ddp.yaml"),
    ("simcse_bert_base.yaml", "trainer/slurm_example.yaml"),
    ("paper_bert_base.yaml",),
    ("paper_roberta_base.yaml",),
]
SWEEPS = sorted(p.stem for p in (CONFIGS / "sweeps").glob("*.yaml"))


def sweep_runs(sweep: str) -> list:
    cwd = Path.cwd()
    os.chdir(REPO)  # sweep files name configs relative to the repository root
    try:
        return load_sweep(CONFIGS / "sweeps" / f"{sweep}.yaml").runs
    finally:
        os.chdir(cwd)


def sweep_compositions() -> list[tuple[str, ...]]:
    """The distinct config-file lists of the committed sweeps' runs (paths under configs/)."""
    found = {}
    for sweep in SWEEPS:
        for run in sweep_runs(sweep):
            found[tuple(str(Path(f).relative_to("configs")) for f in run.configs)] = None
    return list(found)


COMPOSITIONS = list(dict.fromkeys(DOCUMENTED + sweep_compositions()))


def fixture_name(files: tuple[str, ...]) -> str:
    """``quickstart+loss-arccon`` for (quickstart.yaml, loss/arccon.yaml)."""
    return "+".join(f.removesuffix(".yaml").replace("/", "-") for f in files)


def print_config(*files: str) -> dict:
    """``fit --config configs/F1 … --print_config``, parsed."""
    return print_config_of(*(f"configs/{f}" for f in files))


def reference(path: Path, current):
    """The stored reference at ``path``; with LIT_SRL_WRITE_REFERENCE set, ``current`` is stored."""
    if WRITE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(current, sort_keys=False, allow_unicode=True), encoding="utf-8")
    assert path.is_file(), f"no reference {path.relative_to(REPO)}; see this module's docstring"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def leaves(tree, prefix: str = "") -> dict:
    """Dotted key → value; a list or a ``class_path`` entry is one leaf."""
    if isinstance(tree, dict) and "class_path" not in tree:
        out = {}
        for key, value in tree.items():
            out.update(leaves(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): tree}


def class_parameters(class_path: str) -> dict[str, inspect.Parameter] | None:
    """The parameters of the class's own signature (None if it cannot be imported)."""
    module, _, name = class_path.rpartition(".")
    try:
        return dict(inspect.signature(getattr(importlib.import_module(module), name)).parameters)
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def class_default(class_path: str, arg: str):
    parameter = (class_parameters(class_path) or {}).get(arg)
    return inspect.Parameter.empty if parameter is None else parameter.default


def without_class_defaults(value):
    """``class_path`` entries (also in lists) with the init_args that equal the class's defaults dropped."""
    if isinstance(value, list):
        return [without_class_defaults(v) for v in value]
    if isinstance(value, dict) and "class_path" in value:
        init = value.get("init_args") or {}
        kept = {k: v for k, v in init.items() if v != class_default(value["class_path"], k)}
        return {"class_path": value["class_path"], "init_args": kept}
    return value


def set_by_files(config: dict, defaults: dict) -> dict:
    """The leaves of ``config`` that its config files set: those that differ from ``defaults``."""
    base = leaves(defaults)
    return {
        key: without_class_defaults(value)
        for key, value in leaves(config).items()
        if key not in base or value != base[key]
    }


def written_keys(files: tuple[str, ...]) -> set[str]:
    """Every mapping key the config files write, at any depth, the config-group files they name
    (``model: model/minilm.yaml``, relative to the naming file) included."""
    found: set[str] = set()

    def walk(node, folder: Path) -> None:
        if isinstance(node, dict):
            found.update(map(str, node))
            for value in node.values():
                walk(value, folder)
        elif isinstance(node, list):
            for value in node:
                walk(value, folder)
        elif isinstance(node, str) and node.endswith(".yaml") and (folder / node).is_file():
            read(folder / node)

    def read(path: Path) -> None:
        walk(yaml.safe_load(path.read_text(encoding="utf-8")), path.parent)

    for name in files:
        read(CONFIGS / name)
    return found


def without_unwritten_forwarded_arguments(tree, written: set[str]):
    """``tree`` without the init_args a class only passes on through ``**kwargs`` that no config file
    writes. jsonargparse resolves those (DDPStrategy's, for torch's DistributedDataParallel) to the
    installed library's defaults, which move between releases (``broadcast_buffers``: True in torch
    2.11, None in 2.13): they say which torch resolved the config, not what a recipe set."""
    if isinstance(tree, list):
        return [without_unwritten_forwarded_arguments(v, written) for v in tree]
    if not isinstance(tree, dict):
        return tree
    tree = {k: without_unwritten_forwarded_arguments(v, written) for k, v in tree.items()}
    own = class_parameters(tree["class_path"]) if "class_path" in tree else None
    if own is not None and isinstance(tree.get("init_args"), dict):
        tree["init_args"] = {k: v for k, v in tree["init_args"].items() if k in own or k in written}
    return tree


@pytest.fixture(scope="module")
def defaults() -> tuple[dict, dict]:
    """(the package's defaults now, the defaults when the references were written)."""
    now = print_config()
    return now, reference(FIXTURES / "_defaults.yaml", now)


@pytest.mark.parametrize("files", COMPOSITIONS, ids=fixture_name)
def test_composition_resolves_as_before_the_split_into_groups(files, defaults):
    got = print_config(*files)
    want = reference(FIXTURES / f"{fixture_name(files)}.yaml", got)
    written = written_keys(files)
    got, want = (without_unwritten_forwarded_arguments(tree, written) for tree in (got, want))
    now_defaults, then_defaults = defaults
    if now_defaults == then_defaults:
        assert got == want, f"{' + '.join(files)} resolves differently from its reference"
    else:
        assert set_by_files(got, now_defaults) == set_by_files(want, then_defaults)


@pytest.mark.parametrize("sweep", SWEEPS)
def test_sweep_plans_the_same_runs(sweep):
    got = {run.name: run.fit_args() for run in sweep_runs(sweep)}
    want = reference(FIXTURES / "sweeps" / f"{sweep}.yaml", got)
    assert list(got) == list(want), f"{sweep}: the runs or their order changed"
    assert got == want
