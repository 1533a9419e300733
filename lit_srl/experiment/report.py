"""``RESULTS.md``: the experiment's table (mean ± std over seeds, Δ against the baseline, components)."""

from __future__ import annotations

import datetime
import math
from typing import Optional

from lit_srl.experiment.objectives import DISPLAY
from lit_srl.experiment.records import machine


TASK_COLUMNS = {"STSBenchmark": "STS-B", "SICKRelatedness": "SICK-R"}


def _cell(values: list[Optional[float]], scale: float = 1.0, digits: int = 2) -> str:
    values = [v * scale for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _signed(cell: str) -> str:
    """``"0.95"`` → ``"+0.95"``: a change against the baseline reads as one."""
    return cell if cell.startswith(("-", "–")) else "+" + cell


def format_report(command: str, config: dict, seeds: list[int], baseline: Optional[dict], records: dict, failures: dict,
                  figure: Optional[str] = None, settings: Optional[dict] = None) -> str:
    """RESULTS.md: the header, one row per objective (mean ± std over seeds), the figure's link if any.

    ``settings``: the per-objective overrides (:func:`load_settings`) that applied to these runs.
    """
    tasks = config["tasks"]
    scored = (f"the weights with the best STS-B dev Spearman (checked every {config['val_every']} steps)"
              if config.get("val_every") else "the final weights")
    overrides = [
        f"{DISPLAY.get(name, name)}: " + ", ".join(f"{key.replace('_', ' ')} {value:g}" for key, value in values.items())
        for name, values in (settings or {}).items() if name in records and values
    ]
    heads = [TASK_COLUMNS.get(t, t) for t in tasks] + ["avg"]
    lines = [
        f"# Objectives at equal budget: {config['backbone']}, {config['budget']} steps",
        "",
        f"- command: `{command}`",
        f"- backbone {config['backbone']} (pooler {config['pooler']}), budget {config['budget']} optimizer steps, "
        f"batch {config['batch_size']}, lr {config['lr']:g}, max length {config['max_length']}, "
        f"corpus {', '.join(config['train_files'])}, precision {config['precision']}"
        + (", embedding layer frozen" if config.get("freeze_embeddings") else ""),
        *([f"- per-objective settings (they replace the line above): {'; '.join(overrides)}"] if overrides else []),
        f"- seeds: {', '.join(map(str, seeds))}; scores: Spearman ×100 of {scored} on the test splits "
        "(STS12–16 'all'), mean ± std over seeds; Δavg: avg minus the untrained backbone's avg; GD, w_hardest (weight share of the hardest negative) and R: "
        f"means of GradientComponentMonitor's grad/* over the run (every {min(config['log_every'], config['budget'])} steps; "
        "– where the loss has no such component)",
        f"- machine: {machine()}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
    ]
    if config["backbone"] == "minilm":
        lines.append(
            "- all-MiniLM-L6-v2 is already a sentence-tuned model: these runs are *continued training* of it, not the "
            "paper's setting (BERT-base trained from its MLM weights); compare each row with the baseline row"
        )
    base_avg = baseline["scores"].get("avg") if baseline is not None else None
    lines += ["", "| objective | " + " | ".join(heads) + " | Δavg | GD | w_hardest | R | runs |",
              "|---|" + "---:|" * (len(heads) + 5)]
    if baseline is not None:
        cells = [_cell([baseline["scores"].get(t)], 100) for t in [*tasks, "avg"]]
        lines.append("| untrained backbone | " + " | ".join(cells) + " | – | – | – | – | – |")
    for objective, runs in records.items():
        if not runs:
            continue
        cells = [_cell([r["scores"].get(t) for r in runs], 100) for t in [*tasks, "avg"]]
        gains = [r["scores"]["avg"] - base_avg for r in runs if base_avg is not None and r["scores"].get("avg") is not None]
        cells.append(_signed(_cell(gains, 100)))
        comps = [_cell([r["monitor"].get(k) for r in runs], 1, 3) for k in ("gd_mean", "w_hardest", "ratio_mean")]
        lines.append(f"| {DISPLAY.get(objective, objective)} | " + " | ".join(cells + comps) + f" | {len(runs)} |")
    if figure is not None:
        lines += ["", f"![change of the STS scores against the untrained backbone, per objective]({figure})"]
    if failures:
        lines += ["", "Failed runs (rerun the command to retry them):", ""]
        lines += [f"- {objective} seed {seed}: {message}" for (objective, seed), message in failures.items()]
    return "\n".join(lines) + "\n"
