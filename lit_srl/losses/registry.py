"""``build_loss(name, **params)``: every loss by name, with the paper's defaults.

The names and their defaults are the loss presets, ``configs/loss/<name>.yaml`` — the same files
LightningCLI composes with ``--config`` — read on first use: a preset's ``class_path`` is the class,
its ``init_args`` the defaults. Each class a preset names is also known by its own name
(``AssembledLoss`` → ``assembled``, ``InfoNCE`` → ``infonce``) with the class's own defaults, unless a
preset has that name. Adding a loss is a class (exported by :mod:`lit_srl.losses`) and its preset.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lit_srl.errors import LitSrlError
from lit_srl.losses.assembled import AssembledLoss
from lit_srl.losses.base import SentenceLoss
from lit_srl.losses.contrastive import MET, MPT, ArcCon, InfoNCE
from lit_srl.losses.noncontrastive import MHE, MHS, BarlowTwins, VICReg
from lit_srl.paths import configs_dir

#: The order names are listed in (``available_losses``, error messages): the paper's — the
#: contrastive losses, the assembled one, the non-contrastive ones; a class not here comes after
#: these, by name. Within a class: its own name first, then its presets by name (ori before mod).
LISTING_ORDER: tuple[type[SentenceLoss], ...] = (InfoNCE, ArcCon, MPT, MET, AssembledLoss, BarlowTwins, VICReg, MHE, MHS)


def presets_dir() -> Path:
    """``configs/loss/``: one YAML per preset, ``model: {loss: {class_path, init_args}}``."""
    return configs_dir() / "loss"


def class_name(cls: type) -> str:
    """A class's registry name: ``AssembledLoss`` → ``assembled``, ``VICReg`` → ``vicreg``."""
    name = cls.__name__.lower()
    return name[: -len("loss")] if name.endswith("loss") and name != "loss" else name


def read_preset(path: Path) -> tuple[type[SentenceLoss], dict[str, Any]]:
    """The class and init_args of the preset file ``path``."""
    import yaml

    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))["model"]["loss"]
        module_name, _, cls_name = spec["class_path"].rpartition(".")
        cls = getattr(importlib.import_module(module_name), cls_name)
        init_args = dict(spec.get("init_args") or {})
    except (KeyError, TypeError, AttributeError, ImportError, yaml.YAMLError) as exc:
        raise LitSrlError(
            f"loss preset {path} must be model: {{loss: {{class_path: lit_srl.losses.<Class>, init_args: {{…}}}}}} "
            f"naming an importable class ({type(exc).__name__}: {exc})"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, SentenceLoss)):
        raise LitSrlError(f"loss preset {path}: {spec['class_path']} is not a lit_srl.losses.SentenceLoss")
    return cls, init_args


def _listing_key(item: tuple[str, tuple[type, dict]]) -> tuple:
    name, (cls, _) = item
    rank = LISTING_ORDER.index(cls) if cls in LISTING_ORDER else len(LISTING_ORDER)
    return rank, cls.__name__, name != class_name(cls), name


class LossRegistry(Mapping):
    """name → (class, defaults: the preset's init_args; none for a plain class name), read on first use."""

    @functools.cached_property
    def _entries(self) -> dict[str, tuple[type[SentenceLoss], dict[str, Any]]]:
        entries = {path.stem: read_preset(path) for path in sorted(presets_dir().glob("*.yaml"))}
        for cls, _ in list(entries.values()):
            entries.setdefault(class_name(cls), (cls, {}))
        return dict(sorted(entries.items(), key=_listing_key))

    def __getitem__(self, name: str) -> tuple[type[SentenceLoss], dict[str, Any]]:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


#: name -> (class, defaults), in listing order
LOSSES = LossRegistry()


def available_losses() -> tuple[str, ...]:
    """Every loss name, in listing order: the presets of ``configs/loss/`` and the plain class names."""
    return tuple(LOSSES)


def build_loss(name: str, **params: Any) -> SentenceLoss:
    """The loss called ``name`` with ``params`` overriding its defaults.

    Names (:func:`available_losses`): infonce, arccon, mpt, met, assembled, sg (the official
    AssembledLoss configuration), barlowtwins, vicreg, mhe, mhs and their ``*_mod`` forms;
    ``mod=True`` selects the ``*_mod`` form of a non-contrastive name. Unknown names or parameters
    raise ValueError listing the valid ones.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid choices: {', '.join(LOSSES)}")
    if "mod" in params:
        mod = params.pop("mod")
        if mod and not key.endswith("_mod"):
            if f"{key}_mod" not in LOSSES:
                valid = ", ".join(k for k in LOSSES if f"{k}_mod" in LOSSES)
                raise ValueError(f"loss {name!r} has no mod form; valid choices for mod=True: {valid}")
            key = f"{key}_mod"
        elif not mod and key.endswith("_mod"):
            key = key[: -len("_mod")]
    cls, defaults = LOSSES[key]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for loss {key!r}; valid choices: {', '.join(valid)}"
        )
    return cls(**{**defaults, **params})
