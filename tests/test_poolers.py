"""Poolers on hand-made hidden states: cls, avg over non-padding tokens, avg of first and last layers."""

from __future__ import annotations

import pytest
import torch

from lit_srl.poolers import POOLERS, masked_mean, pool

HIDDEN = torch.arange(2 * 3 * 2, dtype=torch.float64).reshape(2, 3, 2)  # (B=2, T=3, H=2)
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])


@pytest.mark.parametrize("pooler", ["cls", "cls_before_pooler"])
def test_cls_poolers_take_the_first_token(pooler):
    assert torch.equal(pool(pooler, MASK, HIDDEN), HIDDEN[:, 0])


def test_avg_is_the_mean_over_the_non_padding_tokens():
    expected = torch.stack([HIDDEN[0, :2].mean(0), HIDDEN[1].mean(0)])
    assert torch.equal(pool("avg", MASK, HIDDEN), expected)


def test_an_all_padding_row_pools_to_zero_not_nan():
    assert torch.equal(masked_mean(HIDDEN[:1], torch.zeros(1, 3)), torch.zeros(1, 2, dtype=torch.float64))


def test_avg_first_last_averages_the_first_layer_and_the_last():
    embeddings, first, last = HIDDEN + 100, HIDDEN, -HIDDEN * 3
    got = pool("avg_first_last", MASK, last, (embeddings, first, HIDDEN, last))
    assert torch.allclose(got, masked_mean((first + last) / 2, MASK))
    with pytest.raises(ValueError, match="hidden_states"):
        pool("avg_first_last", MASK, last)


def test_unknown_pooler_lists_the_valid_ones():
    with pytest.raises(ValueError, match=", ".join(POOLERS)):
        pool("max", MASK, HIDDEN)
