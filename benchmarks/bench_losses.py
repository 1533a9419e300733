"""Forward+backward time of every loss of lit_srl.losses beside plain cross-entropy InfoNCE.

    python benchmarks/bench_losses.py [--sizes 64 1024] [--dim 768] [--repeats 10] [--threads T]

Prints a markdown table: the best (min) milliseconds of forward+backward on random float32 embeddings
(N, D) of both views, and the ratio to ``F.cross_entropy(normalize(z1) @ normalize(z2).T / τ,
arange(N))``. Runs on the CPU (or ``--device cuda``).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from lit_srl.losses import available_losses, build_loss


def plain_infonce(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    logits = F.normalize(z1, dim=-1) @ F.normalize(z2, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(z1.shape[0], device=z1.device))


def time_pair(fn, baseline, z1: torch.Tensor, z2: torch.Tensor, repeats: int, warmup: int = 2) -> tuple[float, float]:
    """Best (min) ms of ``fn`` and of ``baseline``, timed alternately so that both see the same load."""

    def step(f) -> float:
        z1.grad = z2.grad = None
        start = time.perf_counter()
        f(z1, z2).backward()
        if z1.is_cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1e3

    for _ in range(warmup):
        step(fn), step(baseline)
    times, base = [], []
    for _ in range(repeats):
        times.append(step(fn))
        base.append(step(baseline))
    return min(times), min(base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 1024])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fns = {"cross_entropy InfoNCE (baseline)": plain_infonce}
    for name in available_losses():
        loss = build_loss(name).to(args.device)
        fns[name] = lambda z1, z2, loss=loss: loss(z1, z2).loss
    table: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for n in args.sizes:
        z1 = torch.randn(n, args.dim, device=args.device, requires_grad=True)
        z2 = (z1.detach() + 0.5 * torch.randn_like(z1)).requires_grad_()
        repeats = max(args.repeats, args.repeats * 1024 // n)  # small batches are cheap: more samples
        time_pair(plain_infonce, plain_infonce, z1, z2, repeats)  # warm up threads and allocator
        for name, fn in fns.items():
            t, b = time_pair(fn, plain_infonce, z1, z2, repeats)
            table[name].append((t, t / b))
    print(
        f"Forward+backward, float32, D = {args.dim}, {args.device}, {torch.get_num_threads()} threads; "
        f"best of {args.repeats} (x1024/N for small N), each loss timed alternately with the baseline (×CE = ratio of the two)\n"
    )
    print("| loss | " + " | ".join(f"N={n} ms | ×CE" for n in args.sizes) + " |")
    print("|---|" + "---:|---:|" * len(args.sizes))
    for name, cells in table.items():
        print(f"| {name} | " + " | ".join(f"{t:.2f} | {r:.2f}" for t, r in cells) + " |")


if __name__ == "__main__":
    main()
