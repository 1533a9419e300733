"""SentencesPerSecond: the global batch over the time between batch ends, smoothed, paused by validation."""

from __future__ import annotations

import types

import pytest
import torch

from lit_srl import metric_names as names
from lit_srl.callbacks import SentencesPerSecond


class Module:
    def __init__(self) -> None:
        self.logged = []

    def log(self, name, value, **kwargs) -> None:
        self.logged.append((name, value))


def test_rate_counts_every_device_s_sentences_and_is_smoothed(monkeypatch):
    clock = iter([0.0, 1.0, 3.0])
    monkeypatch.setattr("time.perf_counter", lambda: next(clock))
    callback, module = SentencesPerSecond(smoothing=0.5), Module()
    trainer = types.SimpleNamespace(world_size=2, log_every_n_steps=0)
    batch = {"input_ids": torch.zeros(8, 4)}
    callback.on_train_epoch_start(trainer, module)
    for i in range(3):
        callback.on_train_batch_end(trainer, module, None, batch, i)
    # 16 sentences in 1 s, then 16 in 2 s: 16, then 0.5·16 + 0.5·8
    assert module.logged == [(names.SENTENCES_PER_SECOND, 16.0), (names.SENTENCES_PER_SECOND, pytest.approx(12.0))]


def test_validation_time_is_not_counted(monkeypatch):
    clock = iter([0.0, 100.0, 101.0])
    monkeypatch.setattr("time.perf_counter", lambda: next(clock))
    callback, module = SentencesPerSecond(), Module()
    trainer = types.SimpleNamespace(world_size=1, log_every_n_steps=0)
    batch = {"input_ids": torch.zeros(4, 4)}
    callback.on_train_batch_end(trainer, module, None, batch, 0)
    callback.on_validation_end(trainer, module)
    callback.on_train_batch_end(trainer, module, None, batch, 1)
    callback.on_train_batch_end(trainer, module, None, batch, 2)
    assert module.logged == [(names.SENTENCES_PER_SECOND, 4.0)]


def test_only_logging_steps_log_and_the_rate_still_counts_every_step(monkeypatch):
    """Lightning writes logged values at its logging steps only; logging in between would cost
    host time each step for nothing. The average still takes in every step's rate."""
    clock = iter([0.0, 1.0, 3.0, 4.0])
    monkeypatch.setattr("time.perf_counter", lambda: next(clock))
    callback, module = SentencesPerSecond(smoothing=0.5), Module()
    connector = types.SimpleNamespace(should_update_logs=False)
    trainer = types.SimpleNamespace(world_size=1, log_every_n_steps=3, _logger_connector=connector)
    batch = {"input_ids": torch.zeros(8, 4)}
    for i in range(4):
        connector.should_update_logs = i == 3
        callback.on_train_batch_end(trainer, module, None, batch, i)
    # 8/1, 8/2, 8/1 sentences per second: 8, 0.5·8 + 0.5·4 = 6, 0.5·6 + 0.5·8 = 7, logged once
    assert module.logged == [(names.SENTENCES_PER_SECOND, pytest.approx(7.0))]
