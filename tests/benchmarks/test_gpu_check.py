"""scripts/gpu_check.py's pieces that BENCHMARKS.md relies on (its smoke run is .ci/run's: make gpu-check-smoke)."""

from __future__ import annotations

from support.helpers import REPO


def test_the_section_between_the_markers_is_replaced_and_the_rest_kept(gpu_check, tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\n\nbefore\n\n{gpu_check.START_MARKER}\nold table\n{gpu_check.END_MARKER}\n\nafter\n")
    gpu_check.update_section(path, "new table\n")
    gpu_check.update_section(path, "newer table\n")
    assert path.read_text() == (f"# Benchmarks\n\nbefore\n\n{gpu_check.START_MARKER}\nnewer table\n"
                                f"{gpu_check.END_MARKER}\n\nafter\n")
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_file_without_the_markers_gets_them_once_at_its_end(gpu_check, tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n")
    gpu_check.update_section(path, "table\n")
    gpu_check.update_section(path, "table 2\n")
    text = path.read_text()
    assert text.count(gpu_check.START_MARKER) == 1 and text.endswith(f"table 2\n{gpu_check.END_MARKER}\n")


def test_benchmarks_md_has_the_markers(gpu_check):
    text = (REPO / "BENCHMARKS.md").read_text()
    assert text.count(gpu_check.START_MARKER) == 1 and text.index(gpu_check.START_MARKER) < text.index(gpu_check.END_MARKER)


def test_a_figure_that_cannot_be_read_is_missing_and_fails_the_check(gpu_check):
    step = gpu_check.Step("encode", [], 1, gpu_check.encode_figures)
    figures = gpu_check.encode_figures(step, "a log whose format changed")
    assert figures and all(f.missing for f in figures[:2])
    assert not gpu_check.Figure("encode", "x", "1.20", "≥ 1", True).missing
