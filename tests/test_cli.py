"""End-to-end training on a tiny random BERT: checkpoints, TensorBoard logs, composition, errors."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from support.helpers import REPO, fit_args, read_scalars, run_cli
from lit_srl.checkpoint import load_encoder
from lit_srl.cli import lightning_cli


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bert, data_dir):
    root = tmp_path_factory.mktemp("fit")
    assert run_cli(fit_args(root, str(tiny_bert), "--model.pooler=cls")) == 0
    return root


def test_fit_writes_best_and_last_checkpoints(tiny_run):
    ckpts = sorted(p.name for p in tiny_run.rglob("*.ckpt"))
    assert "last.ckpt" in ckpts
    assert any(name.startswith("best-step") for name in ckpts), ckpts


def test_fit_logs_loss_and_stsb_dev_spearman_to_tensorboard(tiny_run):
    scalars = read_scalars(tiny_run)
    assert "train/loss" in scalars and len(scalars["train/loss"]) >= 5
    assert all(math.isfinite(v) for _, v in scalars["train/loss"])
    steps = [s for s, _ in scalars["val/stsb_spearman"]]
    assert len(steps) == 2  # after optimizer steps 3 and 6
    assert all(-1 <= v <= 1 for _, v in scalars["val/stsb_spearman"])
    assert "train/sent_per_s" in scalars


def test_checkpoint_alone_rebuilds_the_encoder_with_its_pooler_and_head(tiny_run, tiny_bert):
    last = next(tiny_run.rglob("last.ckpt"))
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    hp = ckpt["hyper_parameters"]
    assert hp["backbone"] == str(tiny_bert) and hp["pooler"] == "cls" and hp["head"] == "mlp"
    assert hp["loss"]["class_path"] == "lit_srl.losses.InfoNCE"
    encoder = load_encoder(last)
    assert encoder.pooler == "cls" and encoder.head_kind == "mlp" and not encoder.head_at_eval
    trained = {k[len("encoder."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("encoder.")}
    for name, value in encoder.state_dict().items():
        assert torch.equal(value, trained[name]), name
    emb = encoder.encode(["a man is playing a guitar .", "a dog runs"])
    assert emb.shape == (2, 32) and torch.isfinite(emb).all()


def test_loss_preset_composes_with_a_recipe(tiny_bert, data_dir, tmp_path):
    cli = lightning_cli(
        [
            "--config", str(REPO / "configs" / "quickstart.yaml"),
            "--config", str(REPO / "configs" / "loss" / "arccon.yaml"),
            f"--model.backbone={tiny_bert}",
            f"--trainer.default_root_dir={tmp_path}",
        ],
        run=False,
    )
    loss = cli.model.loss_fn
    assert type(loss).__name__ == "ArcCon"
    assert loss.init_args["temperature"] == pytest.approx(0.05)
    assert loss.init_args["margin"] == pytest.approx(math.pi / 18)


@pytest.mark.parametrize("preset", ["trainer/ddp.yaml", "trainer/slurm_example.yaml"])
def test_trainer_presets_compose_with_the_published_recipe(preset, capsys):
    with pytest.raises(SystemExit):
        lightning_cli(["fit", "--config", str(REPO / "configs" / "simcse_bert_base.yaml"),
                       "--config", str(REPO / "configs" / preset), "--print_config"])
    assert "DDPStrategy" in capsys.readouterr().out


def test_published_simcse_recipe_parses_and_prints_its_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        lightning_cli(["fit", "--config", str(REPO / "configs" / "simcse_bert_base.yaml"), "--print_config"])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "bert-base-uncased" in out and "lit_srl.losses.InfoNCE" in out and "batch_size: 64" in out


@pytest.mark.parametrize(
    "override, expected",
    [
        ("--data.batch_size=1", "batch_size"),
        ("--data.max_length=2", "max_length"),
        ("--data.train_files=corpus/no_such_file.txt", "no_such_file.txt"),
        ("--model.pooler=maxpool", "valid choices"),
        ("--model.backbone=./no/such/model", "does not exist"),
        ("--model.loss=lit_srl.losses.NoSuchLoss", "lit_srl.losses.InfoNCE"),
        ("--model.no_such_option=1", "unrecognized arguments"),
    ],
)
def test_bad_input_gives_one_line_error(override, expected, tiny_bert, data_dir, tmp_path, capsys):
    args = fit_args(tmp_path, str(tiny_bert))
    if override.startswith("--model.backbone"):
        args = [a for a in args if not a.startswith("--model.backbone")]
    assert run_cli(args + [override]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error: ") and expected in err[-1]
    assert not list(tmp_path.rglob("*.ckpt"))


def test_empty_corpus_is_reported(tiny_bert, data_dir, tmp_path, capsys):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n   \n\n")
    assert run_cli(fit_args(tmp_path, str(tiny_bert), f"--data.train_files={corpus}")) == 2
    assert "empty.txt" in capsys.readouterr().err


def test_trainer_test_logs_every_task_and_the_average(tiny_checkpoint, tiny_bert, tmp_path):
    args = [
        "test",
        "--config", str(REPO / "configs" / "quickstart.yaml"),
        f"--model.backbone={tiny_bert}",
        "--model.pooler=avg",
        f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false",
        "--data.test_tasks=[STS16,STSBenchmark]",
        f"--ckpt_path={tiny_checkpoint}",
    ]
    assert run_cli(args) == 0
    scalars = read_scalars(tmp_path)
    for tag in ("test/sts16_spearman", "test/stsb_spearman", "test/avg"):
        assert len(scalars[tag]) == 1 and -1 <= scalars[tag][0][1] <= 1, tag
    avg = scalars["test/avg"][0][1]
    assert avg == pytest.approx((scalars["test/sts16_spearman"][0][1] + scalars["test/stsb_spearman"][0][1]) / 2, abs=1e-6)


def test_checkpoint_of_another_backbone_or_format_is_refused(tiny_checkpoint, tmp_path):
    from lit_srl.errors import LitSrlError

    ckpt = torch.load(tiny_checkpoint, map_location="cpu", weights_only=False)
    old = dict(ckpt, lit_srl=dict(ckpt["lit_srl"], format_version=0))
    torch.save(old, tmp_path / "old.ckpt")
    with pytest.raises(LitSrlError, match="format 0"):
        load_encoder(tmp_path / "old.ckpt")
    foreign = dict(ckpt, lit_srl=dict(ckpt["lit_srl"], backbone_config=dict(ckpt["lit_srl"]["backbone_config"], hidden_size=64, intermediate_size=128)))
    torch.save(foreign, tmp_path / "foreign.ckpt")
    with pytest.raises(LitSrlError, match="does not match"):
        load_encoder(tmp_path / "foreign.ckpt")
    plain = {k: v for k, v in ckpt.items() if k != "lit_srl"}
    torch.save(plain, tmp_path / "plain.ckpt")
    with pytest.raises(LitSrlError, match="not written by lit_srl"):
        load_encoder(tmp_path / "plain.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(LitSrlError, match="cannot be read"):
        load_encoder(tmp_path / "junk.ckpt")


def test_missing_sts_folder_is_reported_before_training(tiny_bert, tmp_path, capsys):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "wiki1m_head.txt").write_text("a sentence .\n" * 64)
    args = fit_args(tmp_path / "run", str(tiny_bert), f"--data.data_dir={tmp_path}")
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "STSBenchmark" in err and str(tmp_path) in err


def test_a_fit_raises_no_warning_from_lit_srl_s_own_code(tiny_bert, data_dir, tmp_path):
    """Deprecations (torch's all_gather, jsonargparse's skip_none, …) or any other warning whose
    source line is ours would show here; libraries' own warnings are theirs to fix."""
    import warnings

    ours = (str(REPO / "lit_srl"), str(REPO / "callbacks"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run_cli(fit_args(tmp_path, str(tiny_bert), "--model.pooler=cls", steps=3, val_every=3)) == 0
    from_us = [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught if w.filename.startswith(ours)]
    assert not from_us, from_us


def test_lit_srls_log_goes_to_the_stderr_of_the_moment_not_a_closed_earlier_one(monkeypatch):
    """main() may first run under a stderr that is closed later (pytest's capture of another
    test): the handler it installs once must not keep writing there."""
    import io
    import logging

    from lit_srl.cli import _setup_logging

    logger = logging.getLogger("lit_srl")
    monkeypatch.setattr(logger, "handlers", [])
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    _setup_logging()
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logger.info("a message")
    assert second.getvalue() == "a message\n"
