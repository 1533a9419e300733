"""``figures``: PNGs from a run's TensorBoard logs (lit_srl.analysis.figures)."""

from __future__ import annotations

import pytest

from lit_srl.analysis import figures
from lit_srl.errors import LitSrlError

ALL = ("components", "effective", "cosines", "stsb", "loss", "cos_hist")


def is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_figures_turns_a_monitored_run_into_nonempty_pngs(monitored_run, tmp_path):  # noqa: F811
    out = tmp_path / "figs"
    assert figures.main(["--logdir", str(monitored_run), "--output", str(out)]) == 0
    for name in ALL:
        assert is_png(out / f"{name}.png"), name


def test_cosine_histograms_are_read_back_per_step(monitored_run):  # noqa: F811
    _, hists = figures.read_logs(monitored_run)
    assert [step for step, _, _ in hists["cos/pos"]] == list(range(6))
    step, limits, counts = hists["cos/neg"][0]
    assert counts.sum() == 8 * 7 and limits.size == counts.size


def test_missing_tags_are_skipped_with_a_message(tmp_path, capsys):
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "run")) as writer:
        for step in range(5):
            writer.add_scalar("train/loss", 2.0 - 0.1 * step, step)
    out = tmp_path / "figs"
    assert figures.main(["--logdir", str(tmp_path / "run"), "--output", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["loss.png"]
    printed = capsys.readouterr().out
    assert "skipped components.png" in printed and "skipped cos_hist.png" in printed


def test_rebinning_preserves_counts():
    import numpy as np

    limits = np.linspace(-1, 1, 81)
    counts = np.concatenate([[0.0], np.arange(80.0)])
    new = figures.rebin(limits, counts, np.linspace(-1, 1, 21))
    assert new.sum() == pytest.approx(counts.sum())


def test_a_logdir_without_event_files_is_an_error_naming_it(tmp_path):
    with pytest.raises(LitSrlError, match=str(tmp_path)):
        figures.main(["--logdir", str(tmp_path)])
    with pytest.raises(LitSrlError, match="does not exist"):
        figures.main(["--logdir", str(tmp_path / "nope")])
