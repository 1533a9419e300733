"""The opt-in transfer column: ``fit --result R --transfer …`` records it in result.json and
``test --transfer …`` prints it (tiny BERT, fixture transfer data beside the real STS data)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from support.helpers import fit_args, run_cli



@pytest.fixture
def data_root_with_transfer(tmp_path, data_dir, transfer_root) -> Path:
    """The real STS/SICK and corpus, plus the transfer fixtures, under one data root."""
    root = tmp_path / "data"
    shutil.copytree(transfer_root / "senteval", root / "senteval")
    for part in ("STS", "SICK"):
        (root / "senteval" / part).symlink_to(data_dir / "senteval" / part)
    (root / "corpus").symlink_to(data_dir / "corpus")
    return root


def test_fit_result_records_the_transfer_column_and_test_prints_it(tmp_path, tiny_bert, data_root_with_transfer, capsys):
    result = tmp_path / "result.json"
    common = [f"--data.data_dir={data_root_with_transfer}", "--data.test_tasks=[STSBenchmark]", "--model.pooler=avg",
              "--transfer=MR,TREC", "--transfer_mode=fast"]
    assert run_cli(fit_args(tmp_path / "run", str(tiny_bert), *common, f"--result={result}", steps=2, val_every=2)) == 0
    record = json.loads(result.read_text())
    assert set(record["transfer"]) == {"MR", "TREC", "avg"}
    assert record["transfer"]["avg"] == pytest.approx((record["transfer"]["MR"] + record["transfer"]["TREC"]) / 2)
    assert 0 <= record["transfer"]["MR"] <= 100 and record["train"]["transfer_seconds"] > 0
    assert "transfer" not in record["scores"]  # the STS column is unchanged

    ckpt = next((tmp_path / "run").rglob("last.ckpt"))
    capsys.readouterr()
    test = fit_args(tmp_path / "test", str(tiny_bert), *common)
    test[0] = "test"
    test = [a for a in test if not a.startswith(("--trainer.max_steps", "--trainer.val_check_interval"))]
    assert run_cli([*test, f"--ckpt_path={ckpt}"]) == 0
    printed = capsys.readouterr().out
    assert "transfer (fast mode), test accuracy ×100: MR" in printed and "TREC" in printed and "avg" in printed
