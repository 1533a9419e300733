"""A sweep file: the runs of an experiment as ordinary ``fit`` runs of composed YAML files.

::

    name: minilm_figure1                 # optional; default: the file's stem
    configs: [configs/quickstart.yaml]   # composed by every run, in order
    set: {trainer.max_steps: 80}         # dotted LightningCLI overrides for every run
    grid:                                # axes; their cartesian product gives the runs
      objective:                         # a config-file axis: label → config files
        infonce: [configs/loss/infonce.yaml]
        arccon: [configs/loss/arccon.yaml]
      seed_everything: [1, 2]            # a key axis: a dotted CLI key → values
    runs:                                # explicit runs, beside the grid's
      - name: no_gate_seed1
        configs: [configs/loss/sg.yaml]
        set: {model.loss.init_args.gd: none, seed_everything: 1}

A file axis may instead glob its files: one point per matching file, labelled by the file's stem,
loss names in the loss registry's order (the paper's), other labels after them by name::

      objective: {glob: configs/loss/*.yaml, exclude: [sg]}      # every loss preset but sg
      objective:                                                 # each objective with paper settings
        glob: configs/paper/bert_base/*.yaml
        configs:                                                 # default: the matched file
          - configs/loss/{label}.yaml
          - configs/paper/bert_base/{label}.yaml

``grid`` may be a list of such mappings: the union of their products ("one axis at a time" is one
mapping per axis); a mapping's ``label`` prefixes the names of its runs. A run's name is its
axis values in order — the file axis's label, ``<last key segment><value>`` for a key axis
(``seed_everything`` reads ``seed``) — joined by ``_``: ``infonce_seed1``, ``gd_margin0.1_seed2``.

Paths are relative to the folder the command runs in (the repository root). Structural mistakes
— an unknown key, an empty grid, two runs with one name, a missing config file — are
:class:`LitSrlError` lines naming the thing; keys the CLI does not know are found when the runs'
configs are resolved (:mod:`lit_srl.sweep.plan`), before any run starts.
"""

from __future__ import annotations

import glob
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from lit_srl.errors import LitSrlError

SWEEP_KEYS = ("name", "configs", "set", "grid", "runs")
RUN_KEYS = ("name", "configs", "set")
GLOB_KEYS = ("glob", "exclude", "configs")
#: Short names of key axes in run names.
SHORT_KEYS = {"seed_everything": "seed"}
NAME_CHARS = re.compile(r"[^A-Za-z0-9_.=+-]+")
#: The name of the untrained backbones' evaluation beside a sweep's runs (``--only baseline``).
BASELINE = "baseline"
#: Runs a sweep may have unless ``--max-runs`` allows more (each run is resolved before any starts).
MAX_RUNS = 10_000


@dataclass(frozen=True)
class Run:
    """One run: its name, the config files it composes and its dotted overrides (in order)."""

    name: str
    configs: tuple[str, ...]
    overrides: tuple[tuple[str, Any], ...]
    #: the values that name it: axis key (or file-axis name) → value (or label)
    axes: dict = field(default_factory=dict, compare=False, hash=False)

    def fit_args(self) -> list[str]:
        """``--config F … --key=value …`` as ``python -m lit_srl fit`` takes them."""
        args = [arg for path in self.configs for arg in ("--config", path)]
        return args + [f"--{key}={format_value(value)}" for key, value in self.overrides]


@dataclass
class Sweep:
    name: str
    path: Path
    runs: list[Run]


def format_value(value: Any) -> str:
    """A value exactly as the CLI reads it back: strings as they are, everything else as YAML
    (floats at full precision: ``1.2345678e-05``, ``1.0e-05``, ``.nan``; ``None`` → ``null``)."""
    import yaml

    if isinstance(value, str):
        return value
    text = yaml.safe_dump(value, default_flow_style=True, width=float("inf")).strip()
    return text[:-4].strip() if text.endswith("\n...") or text.endswith(" ...") else text


def display_value(value: Any) -> str:
    """A value in a run name: floats short where that loses nothing (``0.1``, ``1`` for 1.0)."""
    if isinstance(value, float) and value == value and float(format(value, "g")) == value:
        return format(value, "g")
    return format_value(value)


def name_part(key: str, value: Any) -> str:
    short = SHORT_KEYS.get(key, key.rsplit(".", 1)[-1])
    return NAME_CHARS.sub("-", f"{short}{display_value(value)}")


def _where(path: Path, where: str) -> str:
    return f"{path}: {where}"


def _check_files(path: Path, files: Any, where: str) -> tuple[str, ...]:
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise LitSrlError(f"{_where(path, where)} must be a list of config file paths, got {files!r}")
    for file in files:
        if not Path(file).is_file():
            raise LitSrlError(
                f"{_where(path, where)}: config file {file} does not exist "
                "(paths are relative to the folder the command runs in, the repository root)"
            )
    return tuple(files)


def _check_set(path: Path, values: Any, where: str) -> tuple[tuple[str, Any], ...]:
    if values is None:
        return ()
    if not isinstance(values, dict):
        raise LitSrlError(f"{_where(path, where)} must map dotted CLI keys to values, got {values!r}")
    for key in values:
        if not isinstance(key, str) or not key or key.startswith("-"):
            raise LitSrlError(f"{_where(path, where)}: {key!r} is not a dotted CLI key (e.g. trainer.max_steps)")
    return tuple(values.items())


def _is_file_axis(key: str, values: Any) -> bool:
    return "." not in key and isinstance(values, dict)


def _label_order(label: str) -> tuple:
    from lit_srl.losses import available_losses

    names = available_losses()
    return (names.index(label), "") if label in names else (len(names), label)


def _glob_axis(path: Path, key: str, spec: dict, where: str) -> dict[str, list[str]]:
    """A file axis ``{glob, exclude, configs}`` as label → config files (see the module docstring)."""
    where = f"{where}.{key}"
    bad = [k for k in spec if k not in GLOB_KEYS]
    if bad or not isinstance(spec["glob"], str):
        raise LitSrlError(f"{_where(path, where)}: a globbed file axis has keys {', '.join(GLOB_KEYS)} "
                          f"(glob: a pattern such as configs/loss/*.yaml), got {bad[0] if bad else spec['glob']!r}")
    files = {Path(f).stem: f for f in sorted(glob.glob(spec["glob"]))}
    exclude = spec.get("exclude") or []
    missing = [label for label in exclude if label not in files]
    if missing:
        raise LitSrlError(f"{_where(path, where)}: exclude names {missing[0]!r}, which {spec['glob']} does not match")
    labels = sorted((label for label in files if label not in exclude), key=_label_order)
    if not labels:
        raise LitSrlError(f"{_where(path, where)}: {spec['glob']} matches no config file "
                          "(paths are relative to the folder the command runs in, the repository root)")
    templates = spec.get("configs")
    return {label: [t.format(label=label) for t in templates] if templates else [files[label]] for label in labels}


def _axis_points(path: Path, key: str, values: Any, where: str) -> list[tuple[str, tuple, tuple, Any]]:
    """An axis as points: (name part, configs, overrides, value)."""
    if _is_file_axis(key, values) and "glob" in values:
        values = _glob_axis(path, key, values, where)
    if _is_file_axis(key, values):
        if not values:
            raise LitSrlError(f"{_where(path, where)}: axis {key!r} has no entries")
        return [
            (NAME_CHARS.sub("-", str(label)), _check_files(path, files, f"{where}.{key}.{label}"), (), str(label))
            for label, files in values.items()
        ]
    if not isinstance(values, list) or not values:
        raise LitSrlError(
            f"{_where(path, where)}: axis {key!r} must be a non-empty list of values (a key axis) "
            "or a mapping label → config files (a file axis)"
        )
    _check_set(path, {key: None}, where)
    return [(name_part(key, v), (), ((key, v),), v) for v in values]


def _grid_axes(path: Path, grid: Any, where: str) -> tuple[Any, list[tuple[str, list]]]:
    """A grid mapping as (label, [(key, points)]): checked, not yet expanded."""
    if not isinstance(grid, dict) or not grid:
        raise LitSrlError(f"{_where(path, where)} is empty; give at least one axis (e.g. seed_everything: [1, 2])")
    grid = dict(grid)
    label = grid.pop("label", None)
    if not grid:
        raise LitSrlError(f"{_where(path, where)} has a label but no axis")
    return label, [(key, _axis_points(path, key, values, where)) for key, values in grid.items()]


def _grid_runs(label: Any, axes: list[tuple[str, list]], base_configs: tuple, base_set: tuple) -> list[Run]:
    runs = []
    for combo in itertools.product(*(points for _, points in axes)):
        parts = ([str(label)] if label is not None else []) + [part for part, _, _, _ in combo]
        configs = base_configs + tuple(f for _, files, _, _ in combo for f in files)
        overrides = base_set + tuple(o for _, _, ovr, _ in combo for o in ovr)
        values = {**({"label": str(label)} if label is not None else {}),
                  **{key: value for (key, _), (_, _, _, value) in zip(axes, combo)}}
        runs.append(Run("_".join(parts), configs, overrides, values))
    return runs


def _check_count(path: Path, grids: list[tuple[Any, list]], explicit: int, max_runs: int) -> None:
    """Refuse a sweep of more than ``max_runs`` runs from the axis lengths, before building any."""
    sizes = [math.prod(len(points) for _, points in axes) for _, axes in grids]
    count = sum(sizes) + explicit
    if count > max_runs:
        shape = " + ".join(" × ".join(str(len(points)) for _, points in axes) for _, axes in grids)
        raise LitSrlError(
            f"{path}: {count:,} runs ({shape}{f' + {explicit} listed' if explicit else ''}), above the limit of "
            f"{max_runs:,}; shrink the grid, split the sweep, or give --max-runs {count} to plan them all"
        )


def load_sweep(path: Union[str, Path], max_runs: int = MAX_RUNS) -> Sweep:
    """Read and check a sweep file; the runs in file order (grid first, then ``runs``).

    A sweep of more than ``max_runs`` runs is refused from its axis lengths, before any run is built.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise LitSrlError(f"sweep file {path} does not exist; see configs/sweeps/ for examples")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LitSrlError(f"sweep file {path} is not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise LitSrlError(f"sweep file {path} must be a mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        raise LitSrlError(f"{path}: unknown key {unknown[0]!r}; a sweep file has {', '.join(SWEEP_KEYS)}")
    base_configs = _check_files(path, data.get("configs") or [], "configs")
    base_set = _check_set(path, data.get("set"), "set")
    grids = data.get("grid")
    axes = []
    if grids is not None:
        if isinstance(grids, list) and not grids:
            raise LitSrlError(f"{path}: grid is an empty list; give at least one axis mapping")
        for i, grid in enumerate(grids if isinstance(grids, list) else [grids]):
            axes.append(_grid_axes(path, grid, f"grid[{i}]" if isinstance(grids, list) else "grid"))
    explicit = data.get("runs") or []
    if not isinstance(explicit, list):
        raise LitSrlError(f"{path}: runs must be a list of {{name, configs, set}}")
    _check_count(path, axes, len(explicit), max_runs)
    runs: list[Run] = [run for label, grid_axes in axes for run in _grid_runs(label, grid_axes, base_configs, base_set)]
    for i, entry in enumerate(explicit):
        if not isinstance(entry, dict):
            raise LitSrlError(f"{path}: runs[{i}] must be a mapping with keys {', '.join(RUN_KEYS)}")
        bad = [k for k in entry if k not in RUN_KEYS]
        if bad:
            raise LitSrlError(f"{path}: runs[{i}] has unknown key {bad[0]!r}; a run has {', '.join(RUN_KEYS)}")
        configs = base_configs + _check_files(path, entry.get("configs") or [], f"runs[{i}].configs")
        overrides = _check_set(path, entry.get("set"), f"runs[{i}].set")
        name = entry.get("name") or "_".join(name_part(k, v) for k, v in overrides)
        if not name:
            raise LitSrlError(f"{path}: runs[{i}] needs a name (or set values to build one from)")
        name = NAME_CHARS.sub("-", str(name))
        seed = dict(overrides).get("seed_everything")
        # an explicit run is its own group; its seeds (name_seedK) group together in the report
        axes = {"label": re.sub(r"_seed[^_]*$", "", name) if seed is not None else name,
                **({"seed_everything": seed} if seed is not None else {})}
        runs.append(Run(name, configs, base_set + overrides, axes))
    if not runs:
        raise LitSrlError(f"{path}: no runs; give a grid (axes) or runs")
    seen: dict[str, int] = {}
    for i, run in enumerate(runs):
        if run.name in seen:
            raise LitSrlError(
                f"{path}: two runs are named {run.name!r} (runs {seen[run.name] + 1} and {i + 1}); "
                "give them distinct axis values, labels or names"
            )
        seen[run.name] = i
    return Sweep(name=str(data.get("name") or path.stem), path=path, runs=runs)
