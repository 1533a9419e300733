"""Cross-device negatives: 2 gloo processes with DDP give the gradients of 1 process on the
concatenated batch (and the mean of the per-rank losses is the global-batch loss)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from support import ddp_loss_worker as worker

#: one worker runs the module, so the two-rank run (a module fixture) is computed once
pytestmark = pytest.mark.xdist_group("losses_ddp")

WORLD_SIZE = 2


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_results(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    script = Path(worker.__file__).resolve()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), "--rank", str(r), "--world-size", str(WORLD_SIZE),
             "--port", str(port), "--out", str(out)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        for r in range(WORLD_SIZE)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=120)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, log in zip(procs, logs):
        assert p.returncode == 0, log[-3000:]
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD_SIZE)]


@pytest.mark.ddp
@pytest.mark.parametrize("case", list(worker.CASES))
def test_ddp_parameter_gradients_equal_the_single_process_gradients_on_the_global_batch(ddp_results, case):
    x1, x2 = worker.global_batch(WORLD_SIZE)
    want_grads, want_loss, _ = worker.run_case(worker.encoder(), case, x1, x2)
    for rank_results in ddp_results:
        grads, _, _ = rank_results[case]
        for name, want in want_grads.items():
            torch.testing.assert_close(grads[name], want, rtol=1e-9, atol=1e-12, msg=f"{case}: {name}")
    mean_loss = torch.stack([r[case][1] for r in ddp_results]).mean()
    torch.testing.assert_close(mean_loss, want_loss, rtol=1e-9, atol=1e-12)


@pytest.mark.ddp
@pytest.mark.parametrize("case", list(worker.CASES))
def test_ddp_statistics_averaged_over_ranks_equal_the_single_process_statistics(ddp_results, case):
    """Each rank's loss describes its anchors against every rank's columns, so the mean over ranks
    (what the gradient monitor logs) is the statistic of the global batch."""
    x1, x2 = worker.global_batch(WORLD_SIZE)
    _, _, want = worker.run_case(worker.encoder(), case, x1, x2)
    per_rank = [r[case][2] for r in ddp_results]
    assert all(sorted(stats) == sorted(want) for stats in per_rank)
    for key, value in want.items():
        mean = torch.stack([stats[key] for stats in per_rank]).mean()
        torch.testing.assert_close(mean, value, rtol=1e-9, atol=1e-12, msg=f"{case}: {key}")


@pytest.mark.ddp
def test_without_gathering_each_rank_uses_only_its_local_negatives(ddp_results):
    """Sanity check of the check: the global-batch gradient differs from a local-only one."""
    x1, x2 = worker.global_batch(WORLD_SIZE)
    want_grads, _, _ = worker.run_case(worker.encoder(), "infonce", x1, x2)
    n = worker.N_LOCAL
    local = [worker.run_case(worker.encoder(), "infonce", x1[s], x2[s]) for s in (slice(0, n), slice(n, 2 * n))]
    local_mean = (local[0][0]["weight"] + local[1][0]["weight"]) / 2
    assert not torch.allclose(local_mean, want_grads["weight"])
