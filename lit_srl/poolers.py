"""Poolers: how a sentence embedding is read off a transformer's hidden states.

Shapes: ``last_hidden`` (B, T, H), ``attention_mask`` (B, T), result (B, H).

=====================  ======================================================================
``cls``                last-layer [CLS] through a projection head in training (by default
                       SimCSE's train-only MLP, Linear+Tanh); the head is dropped at evaluation.
``cls_before_pooler``  last-layer [CLS], no head.
``avg``                masked mean of the last layer.
``avg_first_last``     masked mean of (first transformer layer + last layer) / 2 (SimCSE).
=====================  ======================================================================

Heads (``make_head``), applied to the pooled (B, H) embedding in training only, unless
``head_at_eval``:

=================  ==========================================================================
``mlp``            SimCSE: Linear(H, H) then Tanh, PyTorch's default initialisation.
``linear``         ACL 2024 paper, BERT: Linear(H, H), no activation; weight and bias drawn
                   from N(0, 0.006²).
``tanh_linear``    ACL 2024 paper, RoBERTa: Tanh then Linear(H, H), i.e. Linear(tanh(cls));
                   weight and bias drawn from N(0, 0.006²).
``none``           no head.
=================  ==========================================================================
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

POOLERS = ("cls", "cls_before_pooler", "avg", "avg_first_last")
HEADS = ("mlp", "linear", "tanh_linear", "none")
#: std of the normal initialisation of the paper's fresh heads (weight and bias), N(0, 0.006²)
PAPER_HEAD_INIT_STD = 0.006


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the non-padding tokens: Σ_t m_t h_t / Σ_t m_t, (B, T, H) → (B, H)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def pool(
    pooler: str,
    attention_mask: torch.Tensor,
    last_hidden: torch.Tensor,
    hidden_states: Optional[Sequence[torch.Tensor]] = None,
) -> torch.Tensor:
    """Apply ``pooler`` (one of :data:`POOLERS`); ``hidden_states`` is needed for avg_first_last."""
    if pooler in ("cls", "cls_before_pooler"):
        return last_hidden[:, 0]
    if pooler == "avg":
        return masked_mean(last_hidden, attention_mask)
    if pooler == "avg_first_last":
        if hidden_states is None:
            raise ValueError("avg_first_last needs the encoder's hidden_states")
        return masked_mean((hidden_states[1] + hidden_states[-1]) / 2.0, attention_mask)
    raise ValueError(f"unknown pooler {pooler!r}; valid choices: {', '.join(POOLERS)}")


def paper_linear(hidden_size: int) -> nn.Linear:
    """Linear(H, H) initialised as the ACL 2024 paper's released code: weight and bias ~ N(0, 0.006²)."""
    layer = nn.Linear(hidden_size, hidden_size)
    nn.init.normal_(layer.weight, mean=0.0, std=PAPER_HEAD_INIT_STD)
    nn.init.normal_(layer.bias, mean=0.0, std=PAPER_HEAD_INIT_STD)
    return layer


def make_head(kind: str, hidden_size: int) -> Optional[nn.Module]:
    """The projection head used on top of the pooled embedding during training; None for ``none``.

    ``mlp``: SimCSE's Linear(H, H) + Tanh. ``linear``: the ACL 2024 paper's BERT head, Linear(H, H)
    with no activation. ``tanh_linear``: the paper's RoBERTa head, Tanh then Linear(H, H). Both
    paper heads draw weight and bias from N(0, 0.006²). ``none``: no head.
    """
    if kind == "none":
        return None
    if kind == "mlp":
        return nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.Tanh())
    if kind == "linear":
        return nn.Sequential(paper_linear(hidden_size))
    if kind == "tanh_linear":
        return nn.Sequential(nn.Tanh(), paper_linear(hidden_size))
    raise ValueError(f"unknown head {kind!r}; valid choices: {', '.join(HEADS)}")
