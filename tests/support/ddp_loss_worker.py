"""One rank of the 2-process gloo check in tests/losses/test_losses_ddp.py (also the problem definition).

    python tests/support/ddp_loss_worker.py --rank R --world-size W --port P --out DIR

Each rank takes its n-row shard of a fixed global batch, runs a tiny float64 nn.Linear encoder
wrapped in DistributedDataParallel (one forward of both views, 2n rows, as SimCSE does) and every
loss of ``CASES``, and saves the averaged parameter gradients and its per-rank loss value.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lit_srl.losses import build_loss  # noqa: E402

#: case id -> (build_loss name, params)
CASES: dict[str, tuple[str, dict]] = {
    "infonce": ("infonce", {}),
    "infonce_symmetric": ("infonce", {"symmetric": True}),
    "arccon": ("arccon", {}),
    "mpt": ("mpt", {}),
    "met": ("met", {"symmetric": True}),
    "assembled": ("assembled", {"weight": "power", "power": 2.0}),
    "sg": ("sg", {}),
    "barlowtwins": ("barlowtwins", {}),
    "barlowtwins_mod": ("barlowtwins_mod", {}),
    "vicreg": ("vicreg", {}),
    "vicreg_mod": ("vicreg_mod", {}),
    "mhe": ("mhe", {}),
    "mhe_mod": ("mhe_mod", {}),
    "mhe_mod_cross_view": ("mhe_mod", {"gate": "cross_view"}),
    "mhs": ("mhs", {}),
    "mhs_mod": ("mhs_mod", {}),
}
N_LOCAL, D_IN, D_OUT = 6, 12, 16


def global_batch(world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two views (M, D_IN), M = world_size·N_LOCAL: close, opposite and random positives, and
    near-duplicate rows on different ranks so that in-view gates depend on other ranks' rows."""
    g = torch.Generator().manual_seed(1234)
    m = world_size * N_LOCAL
    x1 = torch.randn(m, D_IN, generator=g, dtype=torch.float64)
    x1[N_LOCAL : N_LOCAL + 2] = x1[0:2] + 0.1 * torch.randn(2, D_IN, generator=g, dtype=torch.float64)
    x2 = x1 + 0.3 * torch.randn(m, D_IN, generator=g, dtype=torch.float64)
    x2[2::3] = -x1[2::3]
    return x1, x2


def encoder() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(D_IN, D_OUT, dtype=torch.float64)


def run_case(model: torch.nn.Module, case: str, x1: torch.Tensor, x2: torch.Tensor) -> tuple[dict, torch.Tensor, dict]:
    """Parameter gradients, loss value and the loss's mean statistics (``stats`` and
    ``details.means()``) of one step on (x1, x2) with the loss of ``case``."""
    name, params = CASES[case]
    loss = build_loss(name, **params)
    model.zero_grad(set_to_none=True)
    z = model(torch.cat([x1, x2]))
    z1, z2 = z.chunk(2)
    out = loss(z1, z2)
    out.loss.backward()
    inner = getattr(model, "module", model)
    stats = {**out.stats, **out.details.means()}
    return {k: p.grad.detach().clone() for k, p in inner.named_parameters()}, out.loss.detach(), stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank, world_size=args.world_size
    )
    try:
        x1, x2 = global_batch(args.world_size)
        shard = slice(args.rank * N_LOCAL, (args.rank + 1) * N_LOCAL)
        results = {}
        for case in CASES:
            model = DistributedDataParallel(encoder())
            results[case] = run_case(model, case, x1[shard], x2[shard])
        torch.save(results, args.out / f"rank{args.rank}.pt")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
