"""The objectives of the comparison: the loss presets of ``configs/loss`` and per-objective settings."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import lit_srl
from lit_srl.errors import LitSrlError


#: The objectives of the paper's comparison, in table order (preset names in configs/loss).
OBJECTIVES = (
    "infonce", "arccon", "mpt", "met",
    "barlowtwins", "barlowtwins_mod", "vicreg", "vicreg_mod", "mhe", "mhe_mod", "mhs", "mhs_mod",
)


DISPLAY = {
    "infonce": "InfoNCE", "arccon": "ArcCon", "mpt": "MPT", "met": "MET", "sg": "sg (assembled)",
    "barlowtwins": "Barlow Twins ori", "barlowtwins_mod": "Barlow Twins mod",
    "vicreg": "VICReg ori", "vicreg_mod": "VICReg mod",
    "mhe": "MHE ori", "mhe_mod": "MHE mod", "mhs": "MHS ori", "mhs_mod": "MHS mod",
}


def presets_dir() -> Path:
    """``configs/loss`` of the source checkout the package lives in."""
    folder = Path(lit_srl.__file__).resolve().parents[1] / "configs" / "loss"
    if not folder.is_dir():
        raise LitSrlError(
            f"the loss presets folder {folder} does not exist; the experiment reads configs/loss/*.yaml of a "
            "source checkout: install lit_srl from its repository with pip install -e ."
        )
    return folder


def available_objectives() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.yaml"))


def load_preset(name: str) -> dict:
    """``{"class_path", "init_args"}`` of ``configs/loss/<name>.yaml``."""
    import yaml

    path = presets_dir() / f"{name}.yaml"
    if not path.is_file():
        raise LitSrlError(f"unknown objective {name!r} (no {path}); valid choices: {', '.join(available_objectives())}")
    spec = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("model", {}).get("loss")
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise LitSrlError(f"{path} has no model.loss.class_path; a loss preset sets model: loss: class_path/init_args")
    return {"class_path": str(spec["class_path"]), "init_args": dict(spec.get("init_args") or {})}


#: What a settings file may set per objective, with the check each value must pass.
SETTING_CHECKS = {
    "lr": (lambda v: isinstance(v, (int, float)) and v > 0, "a positive number"),
    "batch_size": (lambda v: isinstance(v, int) and v >= 2, "an integer of at least 2"),
    "budget": (lambda v: isinstance(v, int) and v >= 1, "an integer of at least 1"),
}


def load_settings(path: Optional[str]) -> dict[str, dict]:
    """Per-objective overrides from a YAML file: ``{objective: {lr?, batch_size?, budget?}}``.

    The file holds one mapping, ``objectives:``; each entry names a preset and sets any of
    :data:`SETTING_CHECKS`. A missing file, an unknown objective or key, or a bad value is a
    :class:`LitSrlError` naming it.
    """
    import yaml

    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise LitSrlError(f"--settings file {file} does not exist; see configs/experiment/ for an example")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LitSrlError(f"--settings file {file} is not valid YAML ({str(exc).splitlines()[0]})") from exc
    table = data.get("objectives") if isinstance(data, dict) else None
    if not isinstance(table, dict) or set(data) != {"objectives"}:
        raise LitSrlError(f"{file} must hold one mapping, objectives: {{<objective>: {{lr, batch_size, budget}}}}")
    valid = available_objectives()
    settings: dict[str, dict] = {}
    for name, values in table.items():
        if name not in valid:
            raise LitSrlError(f"{file}: unknown objective {name!r}; valid choices: {', '.join(valid)}")
        if not isinstance(values, dict):
            raise LitSrlError(f"{file}: {name} must map to settings ({', '.join(SETTING_CHECKS)}), got {values!r}")
        for key, value in values.items():
            if key not in SETTING_CHECKS:
                raise LitSrlError(f"{file}: {name}.{key} is not a setting; valid: {', '.join(SETTING_CHECKS)}")
            check, wanted = SETTING_CHECKS[key]
            if isinstance(value, bool) or not check(value):
                raise LitSrlError(f"{file}: {name}.{key} must be {wanted}, got {value!r}")
        settings[name] = dict(values)
    return settings


def parse_objectives(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise LitSrlError(f"--objectives is empty; valid choices: {', '.join(available_objectives())}")
    if names == ["all"]:
        return list(OBJECTIVES)
    valid = available_objectives()
    for name in names:
        if name not in valid:
            raise LitSrlError(f"unknown objective {name!r}; valid choices: {', '.join(valid)} (or all)")
    return list(dict.fromkeys(names))
