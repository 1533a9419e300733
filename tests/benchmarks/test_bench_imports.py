"""benchmarks/bench_imports.py: the imports of a fresh fit process, stage by stage."""

from __future__ import annotations

import sys

from support.helpers import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_imports  # noqa: E402


def test_every_stage_imports_and_is_timed_in_order():
    seconds = bench_imports.measure_stages()  # the modules are loaded already here: this checks the statements
    assert list(seconds) == [label for label, _ in bench_imports.STAGES]
    assert all(value >= 0 for value in seconds.values())


def test_the_table_gives_each_stage_its_median_and_minimum_and_the_totals():
    labels = [label for label, _ in bench_imports.STAGES]
    runs = [dict.fromkeys(labels, 1.0), dict.fromkeys(labels, 3.0), dict.fromkeys(labels, 2.0)]
    table = bench_imports.markdown(runs, walls=[30.0, 10.0, 20.0])
    assert f"| {labels[0]} | 2.00 | 1.00 |" in table and f"| {labels[-1]} | 2.00 | 1.00 |" in table
    total = len(labels)
    assert f"| **all imports** | **{2 * total:.2f}** | **{total:.2f}** |" in table
    assert "| the whole process: start, imports, exit | 20.00 | 10.00 |" in table


def test_the_gpu_check_reads_the_total_and_lit_srls_share_from_the_table(gpu_check):
    labels = [label for label, _ in bench_imports.STAGES]
    runs = [{label: 0.5 if label.startswith("lit_srl") else 2.0 for label in labels}]
    step = gpu_check.Step("imports", [], 1, gpu_check.imports_figures)
    (figure,) = gpu_check.imports_figures(step, bench_imports.markdown(runs, walls=[13.0]))
    assert figure.value == f"{2.0 * (len(labels) - 1) + 0.5:.1f}, 0.50"
    (missing,) = gpu_check.imports_figures(step, "a log whose format changed")
    assert missing.missing


def test_with_the_collector_on_runs_a_last_column_of_medians():
    labels = [label for label, _ in bench_imports.STAGES]
    paused = [dict.fromkeys(labels, 1.0), dict.fromkeys(labels, 2.0), dict.fromkeys(labels, 3.0)]
    on = [dict.fromkeys(labels, 1.5), dict.fromkeys(labels, 9.0), dict.fromkeys(labels, 2.5)]
    table = bench_imports.markdown(paused, [10.0, 11.0, 12.0], on, [13.0, 14.0, 15.0])
    assert "| stage | median s | min s | median s, collector on |" in table
    assert f"| {labels[0]} | 2.00 | 1.00 | 2.50 |" in table
    total = len(labels)
    assert f"| **all imports** | **{2 * total:.2f}** | **{total:.2f}** | **{2.5 * total:.2f}** |" in table
    assert "| the whole process: start, imports, exit | 11.00 | 10.00 | 14.00 |" in table


def test_a_child_imports_with_the_collector_paused_unless_told(monkeypatch, capsys):
    """The child measures as python -m lit_srl imports: the collector off during the stages."""
    import gc

    states = []
    monkeypatch.setattr(bench_imports, "measure_stages", lambda: states.append(gc.isenabled()) or {"x": 0.0})
    monkeypatch.setattr(gc, "freeze", lambda: None)  # this is the pytest process: keep its garbage collectable
    assert bench_imports.main(["--child"]) == 0
    assert bench_imports.main(["--child", "--collector-on"]) == 0
    assert states == [False, True]

