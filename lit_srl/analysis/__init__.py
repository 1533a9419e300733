"""Gradient analysis of Li, Zhang & Nie, "Towards Better Understanding of Contrastive Sentence
Representation Learning: A Unified Paradigm for Gradient" (ACL 2024).

* :mod:`.effective` — GD, W, R of any loss measured from autograd by least squares
  (:func:`effective_components`).
* :mod:`.simulate` — ``python -m lit_srl simulate``: the §3.1 simulations (GD heat-maps,
  hardest-negative weight vs τ, ratio maps).
* :mod:`.figures` — ``python -m lit_srl figures``: PNGs from a run's TensorBoard logs.
* :mod:`.results_figure` — the sweep report's figures: each group's STS change against the
  untrained backbone (the paper's Figure 1 comparison) and STS against swept component values.

The callbacks that log these during training live in ``lit_srl.callbacks.gradient_monitor`` and
``lit_srl.callbacks.effective_components``.
"""

from lit_srl.analysis.effective import EffectiveComponents, effective_components, max_anchors, min_dimension

__all__ = ["EffectiveComponents", "effective_components", "max_anchors", "min_dimension"]
