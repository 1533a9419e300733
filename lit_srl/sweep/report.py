"""``sweep report DIR``: one table per sweep, figures, and the runs that are missing or failed.

For each sweep folder under DIR (a folder with ``plan.json``), the runs are grouped by their axis
values other than the seed; each group gets one row:

    mean ± std over seeds of the 7 test Spearman ×100 and their average, the 95% confidence
    interval of the average (Student's t, n − 1 degrees of freedom), Δavg = avg − the untrained
    backbone's avg (``baselines/``), and the means of the gradient components the monitor saw
    (GD, w_hardest = the hardest negative's weight share, R).

Figures, in each sweep's ``figures/``: ``objectives.png`` — each group's Δ against the untrained
backbone, contrastive / ori / mod coloured as in the paper's Figure 1 — and, for every swept
component key (``model.loss.init_args.gd_margin`` …), ``components.png``: the STS average
against the key's value (seeds as dots, the default point of a one-axis-at-a-time sweep included).
Runs without ``result.json`` are listed as failed (with their error line) or missing, never dropped.
A sweep run again into a second folder (same ``sweep`` name, e.g. another data order) gets a
comparison: each group's average in both, the change and the seed spread beside it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Optional

from lit_srl.errors import LitSrlError
from lit_srl.sweep.plan import FAILURE_NAME
from lit_srl.sweep.record import RESULT_NAME, TEST_METRICS
from lit_srl.sweep.spec import SHORT_KEYS, name_part

TASKS = [task for task in TEST_METRICS.values() if task != "avg"]
TASK_COLUMNS = {"STSBenchmark": "STS-B", "SICKRelatedness": "SICK-R"}
COMPONENTS = (("gd_mean", "GD"), ("w_hardest", "w_hardest"), ("ratio_mean", "R"))
SEED_KEY = "seed_everything"


def _read(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sweep_folders(root: Path) -> list[Path]:
    """``root`` if it is a sweep folder, else its sub-folders that are (sorted)."""
    root = Path(root)
    if (root / "plan.json").is_file():
        return [root]
    found = sorted(p.parent for p in root.glob("*/plan.json"))
    if not found:
        raise LitSrlError(f"no sweep under {root} (no plan.json); give the --output-dir of a sweep plan/run")
    return found


def group_label(axes: dict) -> str:
    parts = [str(axes["label"])] if "label" in axes else []
    for key, value in axes.items():
        if key in ("label", SEED_KEY):
            continue
        parts.append(str(value) if "." not in key and key not in SHORT_KEYS else name_part(key, value))
    return "_".join(parts) or "default"


def dotted(config: dict, key: str) -> Any:
    value: Any = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def t_quantile(n: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, n - 1))


def stats(values: list[float]) -> tuple[Optional[float], Optional[float], Optional[tuple[float, float]]]:
    """(mean, sample std, 95% CI) of ``values``; std and CI need two or more."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None, None
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = t_quantile(len(values)) * std / math.sqrt(len(values))
    return mean, std, (mean - half, mean + half)


def significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits: 0.0193, 5.00e-06, 148, 0 (a share near 0 keeps its size)."""
    return "0" if value == 0 else format(value, f"#.{digits}g").rstrip(".")


def cell(values: list[Optional[float]], digits: int = 2, signed: bool = False, sig: bool = False) -> str:
    """``mean ± std`` of the values: ``digits`` decimals, or with ``sig`` 3 significant digits (std 2)."""
    mean, std, _ = stats([v for v in values if v is not None])
    if mean is None:
        return "–"
    sign = "+" if signed and mean >= 0 else ""
    text = significant(mean, 3) if sig else f"{mean:.{digits}f}"
    if std is not None:
        text += f" ± {significant(std, 2) if sig else f'{std:.{digits}f}'}"
    return sign + text


class SweepResults:
    """A sweep folder read back: plan, results, failures, baselines."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        plan = _read(self.folder / "plan.json") or {}
        self.name = plan.get("sweep", self.folder.name)
        self.runs = plan.get("runs", [])
        self.results: dict[str, dict] = {}
        self.failures: dict[str, dict] = {}
        for run in self.runs:
            folder = self.folder / "runs" / run["name"]
            result = _read(folder / RESULT_NAME)
            if result is not None:
                self.results[run["name"]] = result
            elif (folder / FAILURE_NAME).is_file():
                self.failures[run["name"]] = _read(folder / FAILURE_NAME) or {}
        self.baselines = {str(p): _read(p) for p in (self.folder / "baselines").glob("*.json")}

    def baseline_avg(self, run: dict) -> Optional[float]:
        path = run.get("baseline")
        base = self.baselines.get(path) if path else None
        if base is None and path:  # the folder moved since it was planned
            base = self.baselines.get(str(self.folder / "baselines" / Path(path).name))
        return None if base is None or base.get("avg") is None else 100 * float(base["avg"])

    def groups(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for run in self.runs:
            out.setdefault(group_label(run.get("axes") or {}), []).append(run)
        return out

    def swept_keys(self) -> list[str]:
        keys: list[str] = []
        for run in self.runs:
            keys += [k for k in (run.get("axes") or {}) if "." in k and k not in keys]
        return keys


def table(sweep: SweepResults) -> list[str]:
    heads = [TASK_COLUMNS.get(t, t) for t in TASKS]
    lines = ["| run | " + " | ".join(heads) + " | avg | 95% CI avg | Δavg | GD | w_hardest | R | seeds |",
             "|---|" + "---:|" * (len(heads) + 7)]
    baselines = {}
    for run in sweep.runs:
        base = sweep.baseline_avg(run)
        if base is not None:
            baselines.setdefault(run.get("baseline"), base)
    for path, base_avg in baselines.items():
        base = sweep.baselines.get(path) or sweep.baselines.get(str(sweep.folder / "baselines" / Path(path).name)) or {}
        cells = [cell([100 * base[t]["spearman"]]) if isinstance(base.get(t), dict) else "–" for t in TASKS]
        lines.append(f"| untrained ({Path(path).stem}) | " + " | ".join(cells) + f" | {base_avg:.2f} | – | – | – | – | – | – |")
    for label, runs in sweep.groups().items():
        done = [sweep.results[r["name"]] for r in runs if r["name"] in sweep.results]
        if not done:
            continue
        cells = [cell([r["scores"].get(t) for r in done]) for t in TASKS]
        averages = [r["scores"].get("avg") for r in done]
        _, _, ci = stats(averages)
        deltas = [r["scores"]["avg"] - b for r, run in zip(done, [x for x in runs if x["name"] in sweep.results])
                  if (b := sweep.baseline_avg(run)) is not None and r["scores"].get("avg") is not None]
        comps = [cell([r["monitor"].get(key) for r in done], sig=True) for key, _ in COMPONENTS]
        ci_cell = "–" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {cell(averages)} | {ci_cell} | "
                     f"{cell(deltas, signed=True)} | " + " | ".join(comps) + f" | {len(done)}/{len(runs)} |")
    return lines


def run_times(sweep: SweepResults) -> list[tuple[float, float, bool]]:
    """(wall s from the hand-over, fit + test s, a warm start) of each finished run of one attempt
    (a resumed run's ``fit_seconds`` cover its last attempt only). A warm start: handed to a standby
    that had finished importing (:mod:`lit_srl.sweep.standby`)."""
    times = []
    for run in sweep.runs:
        result = sweep.results.get(run["name"])
        attempts = sweep.folder / "runs" / run["name"] / "attempts.jsonl"
        if result is None or not attempts.is_file():
            continue
        records = [json.loads(line) for line in attempts.read_text(encoding="utf-8").splitlines() if line.strip()]
        train = result.get("train") or {}
        if len(records) != 1 or train.get("fit_seconds") is None or train.get("test_seconds") is None:
            continue
        times.append((records[0]["wall_seconds"], train["fit_seconds"] + train["test_seconds"],
                      bool(records[0].get("warm_start"))))
    return times


def mean_outside(times: list[tuple[float, float, bool]], warm: bool) -> tuple[Optional[float], int]:
    """The mean seconds outside fit and test of the runs started warm (or cold), and their count."""
    outside = [wall - inside for wall, inside, started_warm in times if started_warm is warm]
    return (sum(outside) / len(outside) if outside else None), len(outside)


def overhead(sweep: SweepResults) -> Optional[str]:
    """How much of the runs' wall time the runner spent outside fit and test, warm and cold starts apart."""
    times = run_times(sweep)
    if not times:
        return None
    parts = []
    for warm in (True, False):
        mean, n = mean_outside(times, warm)
        if mean is not None:
            parts.append(f"{mean:.1f} s per run started {'warm' if warm else 'cold'} (n = {n})")
    walls, inside = sum(t[0] for t in times), sum(t[1] for t in times)
    return (f"runner overhead outside fit and test (process start, imports, model and data set-up; a warm start "
            f"imported while the run before it trained): {'; '.join(parts)}; fit + test = "
            f"{100 * inside / walls:.1f}% of the runs' wall time")


def objectives_figure(sweep: SweepResults, path: Path) -> Optional[Path]:
    from lit_srl.analysis.results_figure import plot_gains

    groups = group_deltas(sweep)
    if len(groups) < 2:
        return None
    return plot_gains(groups, path, f"{sweep.name}: STS average, change against the untrained backbone")


def components_figure(sweep: SweepResults, path: Path) -> Optional[Path]:
    """STS avg against each swept key's value; the runs that vary only that key (or none)."""
    from lit_srl.analysis.results_figure import plot_component_sweeps

    panels = {}
    for key in sweep.swept_keys():
        points = []
        for run in sweep.runs:
            varied = {k for k in (run.get("axes") or {}) if "." in k}
            result = sweep.results.get(run["name"])
            if result is None or not varied <= {key}:
                continue
            points.append((dotted(result.get("config") or {}, key), result["scores"]["avg"]))
        if len({str(x) for x, _ in points}) >= 2:
            panels[key] = points
    if not panels:
        return None
    return plot_component_sweeps(panels, path, f"{sweep.name}: STS average (test, ×100) against each component")


def group_deltas(sweep: SweepResults) -> dict[str, list[float]]:
    """Group label → the finished seeds' Δavg (avg − the untrained backbone's), in table order."""
    out = {}
    for label, runs in sweep.groups().items():
        values = [sweep.results[r["name"]]["scores"]["avg"] - b for r in runs
                  if r["name"] in sweep.results and (b := sweep.baseline_avg(r)) is not None]
        if values:
            out[label] = values
    return out


def findings(sweep: SweepResults) -> list[str]:
    """Plain statements read off the numbers: what moved the STS average, by how much, against noise."""
    deltas = group_deltas(sweep)
    if not deltas:
        return []
    means = {label: sum(v) / len(v) for label, v in deltas.items()}
    stds = [stats(v)[1] for v in deltas.values() if len(v) > 1]
    noise = f"; the mean seed-to-seed std is {sum(stds) / len(stds):.2f}" if stds else " (one seed each: no noise estimate)"
    best, worst = max(means, key=means.get), min(means, key=means.get)
    lines = [f"Δavg ranges from {means[worst]:+.2f} ({worst}) to {means[best]:+.2f} ({best}) points{noise}."]
    pairs = [(label, label + "_mod") for label in means if label + "_mod" in means]
    if pairs:
        diffs = [f"{label} {means[mod] - means[label]:+.2f}" for label, mod in pairs]
        better = sum(means[mod] > means[label] for label, mod in pairs)
        lines.append(f"mod − ori Δavg: {', '.join(diffs)} (mod ahead in {better} of {len(pairs)} pairs).")
    for key in sweep.swept_keys():
        points: dict[str, list[float]] = {}
        for run in sweep.runs:
            varied = {k for k in (run.get("axes") or {}) if "." in k}
            result = sweep.results.get(run["name"])
            if result is not None and varied <= {key}:
                points.setdefault(str(dotted(result.get("config") or {}, key)), []).append(result["scores"]["avg"])
        if len(points) < 2:
            continue
        avg = {value: sum(v) / len(v) for value, v in points.items()}
        hi, lo = max(avg, key=avg.get), min(avg, key=avg.get)
        spread = [stats(v)[1] for v in points.values() if len(v) > 1]
        within = f", against a mean seed std of {sum(spread) / len(spread):.2f}" if spread else ""
        lines.append(f"{key.rsplit('.', 1)[-1]}: STS avg {avg[lo]:.2f} at {lo} to {avg[hi]:.2f} at {hi} "
                     f"(a range of {avg[hi] - avg[lo]:.2f} points{within}).")
    return lines


def sweep_title(sweep: SweepResults) -> str:
    """The sweep's name, with its folder where the folder is named otherwise (one sweep run in two orders)."""
    return sweep.name if sweep.folder.name == sweep.name else f"{sweep.name} (`{sweep.folder.name}`)"


def sweep_section(sweep: SweepResults, figures_dir: Path, link_base: Path) -> list[str]:
    done, total = len(sweep.results), len(sweep.runs)
    first = next(iter(sweep.results.values()), None)
    lines = [f"## {sweep_title(sweep)}", "", f"- folder: `{os.path.relpath(sweep.folder, link_base)}`; {done} of {total} runs finished"]
    sweep_file = sweep.folder / "sweep.yaml"
    if sweep_file.is_file():
        lines.append(f"- sweep file: `{os.path.relpath(sweep_file, link_base)}` (configs, set, axes)")
    if first is not None:
        config = first.get("config") or {}
        lines.append(f"- backbone {dotted(config, 'model.backbone')}, pooler {dotted(config, 'model.pooler')}, "
                     f"{dotted(config, 'trainer.max_steps')} steps, batch {dotted(config, 'data.batch_size')}, "
                     f"lr {dotted(config, 'model.lr')}, precision {dotted(config, 'trainer.precision')}; "
                     f"device {first.get('device')}; git {((first.get('git') or {}).get('commit') or '?')[:10]}"
                     + (" (dirty)" if (first.get("git") or {}).get("dirty") else ""))
        per_step = [r["train"]["seconds_per_step"] for r in sweep.results.values() if (r.get("train") or {}).get("seconds_per_step")]
        if per_step:
            lines.append(f"- seconds per optimizer step: {sum(per_step) / len(per_step):.2f} (mean over runs)")
    note = overhead(sweep)
    if note:
        lines.append(f"- {note}")
    lines.append("- scores: Spearman ×100 of the best-on-STS-B-dev weights on the test splits (STS12–16 'all'), "
                 "mean ± std over seeds; 95% CI: Student's t over seeds; Δavg: avg − the untrained backbone's; "
                 "GD, w_hardest, R: means of the GradientComponentMonitor's grad/* over each run, 3 significant "
                 "digits (– where the loss has none)")
    lines += ["", *table(sweep)]
    found = findings(sweep)
    if found:
        lines += ["", "What the numbers say:", "", *[f"- {line}" for line in found]]
    for figure in (objectives_figure(sweep, figures_dir / "objectives.png"),
                   components_figure(sweep, figures_dir / "components.png")):
        if figure is not None:
            lines += ["", f"![{sweep.name}: {figure.stem}]({Path(os.path.relpath(figure, link_base)).as_posix()})"]
    missing = [r["name"] for r in sweep.runs if r["name"] not in sweep.results and r["name"] not in sweep.failures]
    if sweep.failures:
        lines += ["", "Failed runs (rerun `sweep run` to retry them; each resumes from its checkpoint):", ""]
        lines += [f"- {name}: exit {f.get('returncode')}" + (f" — {f['error']}" if f.get("error") else "")
                  for name, f in sweep.failures.items()]
    if missing:
        lines += ["", f"Missing runs (not run yet): {', '.join(missing)}"]
    return lines


def flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key → leaf of a resolved config (lists and ``class_path`` entries are leaves)."""
    if isinstance(tree, dict) and "class_path" not in tree and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flat(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree} if prefix else {}


#: keys that name where a run wrote, not what it trained
PLACE_KEYS = ("trainer.default_root_dir", "result", "ckpt_path")


def setting_changes(before: SweepResults, after: SweepResults) -> list[str]:
    """``key: old → new`` for every setting that differs between the first run both folders finished."""
    shared = [name for name in after.results if name in before.results]
    if not shared:
        return []
    old = flat(before.results[shared[0]].get("config") or {})
    new = flat(after.results[shared[0]].get("config") or {})
    return [f"{key}: {old.get(key, '–')} → {new.get(key, '–')}" for key in sorted(set(old) | set(new))
            if key not in PLACE_KEYS and old.get(key) != new.get(key)]


def comparison_section(before: SweepResults, after: SweepResults, link_base: Path) -> list[str]:
    """The same sweep run twice (two folders): each group's STS average before and after, the
    change, and the seed spread beside it — a change smaller than the spread is not a finding."""
    rel = lambda sweep: os.path.relpath(sweep.folder, link_base)  # noqa: E731
    lines = [f"## {after.name}: `{rel(before)}` → `{rel(after)}`", ""]
    if not any(name in before.results for name in after.results):
        return lines + ["No run has finished in both folders yet."]
    changes = setting_changes(before, after)
    lines.append("- settings that differ: " + ("; ".join(f"`{c}`" for c in changes) if changes else "none"))
    lines += ["- before, after: the STS average ×100 (mean ± std) over the seeds both folders finished; Δ: "
              "after − before; seed std: the larger of the two folders' std over every seed each finished", "",
              "| run | before | after | Δ | seed std | seeds |", "|---|---:|---:|---:|---:|---:|"]
    deltas, spreads = [], []
    for label, runs in after.groups().items():
        pairs = [(before.results[r["name"]]["scores"]["avg"], after.results[r["name"]]["scores"]["avg"])
                 for r in runs if r["name"] in before.results and r["name"] in after.results]
        if not pairs:
            continue
        old, new = [a for a, _ in pairs], [b for _, b in pairs]
        delta = sum(new) / len(new) - sum(old) / len(old)
        # the spread of every seed each folder finished (a folder with both seeds gives one even
        # while the other has finished only the first)
        every = [[sweep.results[r["name"]]["scores"]["avg"] for r in runs if r["name"] in sweep.results]
                 for sweep in (before, after)]
        spread = max((v for v in (stats(every[0])[1], stats(every[1])[1]) if v is not None), default=None)
        deltas.append(delta)
        if spread is not None:
            spreads.append((delta, spread))
        lines.append(f"| {label} | {cell(old)} | {cell(new)} | {delta:+.2f} | "
                     f"{'–' if spread is None else f'{spread:.2f}'} | {len(pairs)} |")
    if deltas:
        beyond = sum(abs(d) > s for d, s in spreads)
        lines += ["", f"- mean Δ over {len(deltas)} groups {sum(deltas) / len(deltas):+.2f} "
                      f"(from {min(deltas):+.2f} to {max(deltas):+.2f}); "
                      + (f"{beyond} of {len(spreads)} groups moved by more than their seed std"
                         if spreads else "one seed each: no spread to compare with")]
    return lines


def comparisons(sweeps: list[SweepResults], link_base: Path) -> list[str]:
    """A comparison section for each sweep name found in more than one folder (first folder = before)."""
    by_name: dict[str, list[SweepResults]] = {}
    for sweep in sweeps:
        by_name.setdefault(sweep.name, []).append(sweep)
    lines: list[str] = []
    for same in by_name.values():
        for after in same[1:]:
            lines += comparison_section(same[0], after, link_base) + [""]
    return lines


def write_report(root: Path, output: Optional[Path] = None) -> str:
    """The markdown of every sweep under ``root``; written to ``output`` with its figures beside it."""
    folders = sweep_folders(root)
    link_base = (output.parent if output else Path(root)).resolve()
    sweeps = [SweepResults(folder.resolve()) for folder in folders]
    lines = [f"# Sweep results: {', '.join(sweep_title(sweep) for sweep in sweeps)}", ""]
    for sweep in sweeps:
        lines += sweep_section(sweep, sweep.folder / "figures", link_base) + [""]
    lines += comparisons(sweeps, link_base)
    text = "\n".join(lines)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    return text
