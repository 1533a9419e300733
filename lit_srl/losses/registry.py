"""``build_loss(name, **params)``: every loss by name, with the paper's defaults."""

from __future__ import annotations

import inspect
from typing import Any

from lit_srl.losses.assembled import SG_OFFICIAL, AssembledLoss
from lit_srl.losses.base import SentenceLoss
from lit_srl.losses.contrastive import MET, MPT, ArcCon, InfoNCE
from lit_srl.losses.noncontrastive import MHE, MHS, BarlowTwins, VICReg

#: "mod" settings of the released bert-base-uncased scripts (notes §5): λ = 1, in-view gate m = 0.30,
#: exponential weights τ = 0.05, explicit ratio r.
_MOD = dict(lambd=1.0, gate="in_view", margin=0.30, explicit_ratio=True)
_MOD_WEIGHTED = dict(_MOD, exp_weights=True, temperature=0.05)

#: name -> (class, defaults that differ from the class's own)
LOSSES: dict[str, tuple[type[SentenceLoss], dict[str, Any]]] = {
    "infonce": (InfoNCE, {}),
    "arccon": (ArcCon, {}),
    "mpt": (MPT, {}),
    "met": (MET, {}),
    "assembled": (AssembledLoss, {}),
    "sg": (AssembledLoss, SG_OFFICIAL),
    "barlowtwins": (BarlowTwins, {}),
    "barlowtwins_mod": (BarlowTwins, dict(_MOD_WEIGHTED, ratio=1.5)),
    "vicreg": (VICReg, {}),
    "vicreg_mod": (VICReg, dict(_MOD_WEIGHTED, ratio=1.5)),
    "mhe": (MHE, {}),
    "mhe_mod": (MHE, dict(_MOD_WEIGHTED, ratio=1.75)),
    "mhs": (MHS, {}),
    "mhs_mod": (MHS, dict(_MOD, ratio=1.75)),
}


def available_losses() -> tuple[str, ...]:
    return tuple(LOSSES)


def build_loss(name: str, **params: Any) -> SentenceLoss:
    """The loss called ``name`` with ``params`` overriding its defaults.

    Names: infonce, arccon, mpt, met, assembled, sg (the official AssembledLoss configuration),
    barlowtwins, vicreg, mhe, mhs and their ``*_mod`` forms; ``mod=True`` selects the ``*_mod`` form
    of a non-contrastive name. Unknown names or parameters raise ValueError listing the valid ones.
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
