"""lit_srl/startup.py: ``python -m lit_srl`` imports its command with the cyclic collector paused."""

from __future__ import annotations

import gc
import sys
import weakref

import pytest

import lit_srl.cli as cli
from lit_srl.startup import imports_without_gc


@pytest.fixture
def collector():
    """The collector on, nothing frozen; both put back afterwards (a frozen pytest process would
    keep its garbage)."""
    was_enabled = gc.isenabled()
    gc.enable()
    gc.unfreeze()
    yield
    gc.unfreeze()
    (gc.enable if was_enabled else gc.disable)()


class Node:
    """An object in a reference cycle, observable through a weak reference."""


def garbage_cycle() -> weakref.ref:
    node = Node()
    node.self = node
    return weakref.ref(node)


def test_the_collector_is_off_inside_then_on_with_what_exists_frozen(collector):
    with imports_without_gc():
        assert not gc.isenabled()
        import_garbage = garbage_cycle()  # what a module import leaves behind
    assert gc.isenabled()
    gc.collect()
    assert import_garbage() is not None  # frozen: later collections skip it
    later_garbage = garbage_cycle()
    gc.collect()
    assert later_garbage() is None  # the run's own garbage is collected as usual
    gc.unfreeze()
    gc.collect()
    assert import_garbage() is None


def test_inactive_or_already_off_it_changes_nothing(collector):
    with imports_without_gc(active=False):
        assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    gc.disable()
    with imports_without_gc():
        assert not gc.isenabled()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def seen_by_a_tool(monkeypatch) -> dict:
    """Replace the ``simulate`` tool with one that records the collector's state when its module
    is imported and when it runs."""
    seen = {}

    def fake_import(name):
        seen["import"] = gc.isenabled()

        def run(argv):
            seen["run"] = (gc.isenabled(), gc.get_freeze_count())
            return 0
        return run

    monkeypatch.setattr(cli, "_tool", fake_import)
    return seen


def test_the_process_entry_imports_its_command_without_the_collector(collector, monkeypatch):
    seen = seen_by_a_tool(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["lit_srl", "simulate"])
    assert cli.main() == 0  # argv from sys.argv: python -m lit_srl
    assert seen["import"] is False
    enabled, frozen = seen["run"]
    assert enabled and frozen > 0


def test_a_library_call_of_main_leaves_the_collector_alone(collector, monkeypatch):
    seen = seen_by_a_tool(monkeypatch)
    assert cli.main(["simulate"]) == 0
    assert seen == {"import": True, "run": (True, 0)}


def test_a_fit_process_imports_lightning_and_the_model_before_it_parses(collector, monkeypatch):
    """fit/validate/test: the stack is imported with the collector paused, before LightningCLI."""
    seen = {}

    def fake_lightning_cli(args=None, run=True):
        seen["modules"] = [name for name in cli.LIGHTNING_COMMAND_IMPORTS if name in sys.modules]
        seen["state"] = (gc.isenabled(), gc.get_freeze_count())

    monkeypatch.setattr(cli, "lightning_cli", fake_lightning_cli)
    monkeypatch.setattr(sys, "argv", ["lit_srl", "fit", "--config", "configs/quickstart.yaml"])
    assert cli.main() == 0
    assert seen["modules"] == list(cli.LIGHTNING_COMMAND_IMPORTS)
    enabled, frozen = seen["state"]
    assert enabled and frozen > 0
