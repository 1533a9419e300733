"""Losses of lit_srl: the contrastive losses, their GD/W/R components, the assembled (sg) loss and
the non-contrastive objectives of Li, Zhang & Nie, "Towards Better Understanding of Contrastive
Sentence Representation Learning: A Unified Paradigm for Gradient" (ACL 2024).

    from lit_srl.losses import build_loss
    out = build_loss("arccon")(z1, z2)      # z1, z2: (N, D) raw embeddings of the two views
    out.loss.backward(); out.stats          # {"gd_mean": ..., "w_hardest": ..., ...}
    out.details.means(); out.details.samples()   # alignment, uniformity; histogram samples (on demand)

GD, W and R choices of the assembled loss are the tables of :mod:`lit_srl.losses.components`.

Every class is importable as ``lit_srl.losses.<Name>`` (its ``__module__``), the path that
checkpoints and YAML configs store.
"""

from lit_srl.losses.assembled import SG_OFFICIAL, AssembledLoss
from lit_srl.losses.base import STAT_KEYS, Components, LossOutput, SentenceLoss
from lit_srl.losses.contrastive import MET, MPT, ArcCon, InfoNCE
from lit_srl.losses.noncontrastive import MHE, MHS, BarlowTwins, NonContrastiveLoss, SecondMomentLoss, VICReg
from lit_srl.losses.pairwise import ContrastiveLoss
from lit_srl.losses.registry import LOSSES, available_losses, build_loss
from lit_srl.losses.stats import StatDetails

__all__ = [
    "LOSSES",
    "MET",
    "MHE",
    "MHS",
    "MPT",
    "SG_OFFICIAL",
    "STAT_KEYS",
    "ArcCon",
    "AssembledLoss",
    "BarlowTwins",
    "Components",
    "ContrastiveLoss",
    "InfoNCE",
    "LossOutput",
    "NonContrastiveLoss",
    "SecondMomentLoss",
    "SentenceLoss",
    "StatDetails",
    "VICReg",
    "available_losses",
    "build_loss",
]

# Stable public path for checkpoints/YAML: lit_srl.losses.InfoNCE, not lit_srl.losses.contrastive.InfoNCE.
for _cls in (
    SentenceLoss, ContrastiveLoss, NonContrastiveLoss, SecondMomentLoss, InfoNCE, ArcCon, MPT, MET,
    AssembledLoss, MHE, MHS, VICReg, BarlowTwins, LossOutput, Components,
):
    _cls.__module__ = __name__
del _cls
