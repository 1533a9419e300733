"""Non-contrastive objectives in their published ("ori") and repaired ("mod") forms."""

from lit_srl.losses.noncontrastive.base import GATE_MODES, NonContrastiveLoss
from lit_srl.losses.noncontrastive.mhe import MHE
from lit_srl.losses.noncontrastive.mhs import MHS
from lit_srl.losses.noncontrastive.second_moment import BarlowTwins, SecondMomentLoss, VICReg

__all__ = ["GATE_MODES", "MHE", "MHS", "BarlowTwins", "NonContrastiveLoss", "SecondMomentLoss", "VICReg"]
