"""The leaderboard: one row per (forget ratio, model), each cell the mean ± sd over seeds with its uncertainty,
written as Markdown, JSON and a PNG with error bars.

Columns follow docs/protocol.md ("Metrics"): on the forget set AccF (classification, cloze) and RLF
(generation), lower is better; on the retain and real sets AccR and RLR, higher is better. Every header carries
its direction. A cell (``leaderboard.json``) holds the mean and sample sd over seeds, the per-seed values, the
number of seeds and questions, a 95 % interval of the mean over seeds *and* people (a t interval with two-way
cluster-robust variance, :mod:`umu_hf.stats`), and — for a method — the paired comparison with vanilla. Pairwise comparisons of the
methods are stored per column. In Markdown, ``*`` marks a cell that differs from vanilla beyond its uncertainty;
"Which gaps are real" lists, per column, the methods from better to worse with ``>`` where the gap to the next is
significant and ``≈`` where it is not. A value that cannot be computed is ``null`` in JSON and "–" in the table.

A bench run with ``--privacy`` adds the privacy columns (:data:`PRIVACY_COLUMNS`, per modality): the
membership-inference AUC of the forget set against the holdout (→ 0.5), forget quality against the retain model
(↑) and PrivLeak (→ 0) (:mod:`umu_hf.privacy.reference`). Each is one number per seed, so its cell has the mean ±
sd and a t interval over seeds only, and no significance mark.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umu_hf.data.schema import SETS, TASKS
from umu_hf.scoring import LOWER_IS_BETTER, headline_metric
from umu_hf.utils import atomic_write_bytes, atomic_write_text, write_json

_TASK_LABEL = {"classification": "Cls", "cloze": "Cloze", "generation": "Gen"}
BASELINE = "vanilla"
PRIVACY_NOTE = (
    "Privacy (min_k = Min-K% attack at k = 0.4, MUSE's, per modality): MIA AUC of the forget set against "
    "never-trained holdout profiles (0.5 = not recognised); FQ = forget quality, the KS-test p-value between the "
    "model's and the retain model's forget truth ratios (1 = indistinguishable from a model that never saw the "
    "forget people); "
    "PrivLeak = MUSE's, in % (its AUC scores members low, 1 − ours: (AUC_retain − AUC) / "
    "(1 − AUC_retain)): 0 = no leak, < 0 under-unlearned (still recognised; about −100 = memorised), > 0 "
    "over-unlearned. "
    "retain_model = vanilla's fine-tuning without the forget people, the reference (its FQ and PrivLeak are "
    "blank). Privacy cells: mean ± sd over seeds, no significance marks (one number per seed)."
)
SIGNIFICANCE_NOTE = (
    "paired t interval with two-way cluster-robust variance over seeds and people (questions about one person "
    "are one cluster; df = min(seeds, people) − 1): a gap is significant when the 95 % interval of the mean "
    "difference excludes 0; with one seed there are no marks (not enough seeds)"
)


#: the model trained without the forget people (``bench --privacy``): the reference of forget quality and PrivLeak
RETAIN_MODEL = "retain_model"
#: rows that are references, not unlearning methods (left out of the method-vs-method comparisons)
REFERENCE_ROWS = (BASELINE, RETAIN_MODEL)
_MOD_LABEL = {"unimodal": "uni", "multimodal": "mm"}


@dataclass(frozen=True)
class PrivacyColumn:
    """One privacy column: its key (``privacy/<name>_<modality>``), header, where the value sits in a results.json
    ``privacy`` block, the better direction (``higher`` / ``closer to 0.5`` / ``closer to 0``) and its format."""

    name: str
    modality: str
    label: str
    arrow: str
    better: str
    fmt: str

    @property
    def key(self) -> str:
        return f"privacy/{self.name}_{self.modality}"

    @property
    def header(self) -> str:
        return f"{self.label} {_MOD_LABEL[self.modality]} {self.arrow}"

    def value(self, block: Mapping[str, Any]) -> float | None:
        """This column's number in a ``privacy`` block, or None (no block, unavailable, no retain model)."""
        from umu_hf.privacy.reference import HEADLINE_ATTACK

        if self.name == "mia_auc":
            value = block.get("mia", {}).get(HEADLINE_ATTACK, {}).get(self.modality)
        elif self.name == "forget_quality":
            value = block.get("forget_quality", {}).get(self.modality, {}).get("forget_quality")
        else:
            value = block.get("privleak", {}).get(HEADLINE_ATTACK, {}).get(self.modality)
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


PRIVACY_COLUMNS: tuple[PrivacyColumn, ...] = tuple(
    PrivacyColumn(name, modality, label, arrow, better, fmt)
    for name, label, arrow, better, fmt in (
        ("mia_auc", "MIA AUC", "→0.5", "closer to 0.5", ".2f"),
        ("forget_quality", "FQ", "↑", "higher", ".2g"),
        ("privleak", "PrivLeak %", "→0", "closer to 0", ".1f"),
    )
    for modality in ("unimodal", "multimodal")
)


def direction(set_name: str) -> str:
    """``"↓"`` where the set's headline metrics are lower-is-better (forget), ``"↑"`` elsewhere."""
    return "↓" if headline_metric("classification", set_name) in LOWER_IS_BETTER else "↑"


def columns() -> list[tuple[str, str, str]]:
    """``(set, task, header)`` of every numeric column, e.g. ``("forget", "cloze", "forget Cloze AccF ↓")``."""
    return [
        (s, t, f"{s} {_TASK_LABEL[t]} {headline_metric(t, s)} {direction(s)}") for s in SETS for t in TASKS
    ]


def column_specs(privacy: bool = False) -> list[dict[str, str]]:
    """leaderboard.json's description of each column: key, header, set, task, metric and direction (and, with
    ``privacy``, the privacy columns: key, header, metric, modality, direction, format)."""
    from umu_hf.privacy.reference import HEADLINE_ATTACK

    specs = [
        {"key": f"{s}/{t}", "header": h, "set": s, "task": t, "metric": headline_metric(t, s),
         "direction": "lower" if direction(s) == "↓" else "higher"}
        for s, t, h in columns()
    ]
    if privacy:
        specs += [
            {"key": c.key, "header": c.header, "set": "privacy", "metric": c.name, "modality": c.modality,
             "direction": c.better, "format": c.fmt, "attack": HEADLINE_ATTACK if c.name != "forget_quality" else None}
            for c in PRIVACY_COLUMNS
        ]
    return specs


@dataclass
class Run:
    """One evaluated model on one seed at one forget ratio: its results.json and per-question headline terms
    (``{(set, task): {(profile_id, index): term}}``, :func:`umu_hf.evaluation.results.headline_terms`)."""

    model: str
    forget_ratio: int
    seed: int
    results: Mapping[str, Any]
    terms: Mapping[tuple[str, str], Mapping[tuple[int, int], float]] = field(default_factory=dict)
    #: per-question per-modality scores, ``{(set, task, modality): {(profile_id, index): value}}``
    #: (:func:`umu_hf.evaluation.results.modality_terms`)
    modality: Mapping[tuple[str, str, str], Mapping[tuple[int, int], float]] = field(default_factory=dict)
    #: the unlearning run's probed trajectory (``umu_trajectory.json``), when it was recorded
    trajectory: Mapping[str, Any] | None = None
    #: why this run has no results (e.g. the method diverged); its cells are then null
    failed: str | None = None

    def privacy(self, column: PrivacyColumn) -> float | None:
        """This run's value of a privacy column (None without a ``privacy`` block)."""
        block = self.results.get("privacy")
        return column.value(block) if isinstance(block, Mapping) else None

    def value(self, set_name: str, task: str) -> float | None:
        cell = self.results.get("headline", {}).get(set_name, {}).get(task, {})
        value = cell.get(headline_metric(task, set_name))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)


def _matrix(runs: Sequence[Run], set_name: str, task: str) -> tuple[Any, list[int]] | None:
    """The seeds × questions array of headline terms (questions every seed answered) and the person (profile ID)
    each question is about, or None."""
    from umu_hf.selectivity import terms_matrix

    return terms_matrix([r.terms.get((set_name, task)) for r in runs])


def _comparison(a: Sequence[Run], b: Sequence[Run], set_name: str, task: str) -> dict[str, Any] | None:
    """Paired comparison a − b over the seeds both have (same seed = same vanilla), clustered by seed and person."""
    from umu_hf.selectivity import verdict
    from umu_hf.stats import compare

    seeds = sorted({r.seed for r in a} & {r.seed for r in b})
    by_a, by_b = {r.seed: r for r in a}, {r.seed: r for r in b}
    ma = _matrix([by_a[s] for s in seeds], set_name, task)
    mb = _matrix([by_b[s] for s in seeds], set_name, task)
    if ma is None or mb is None or ma[0].shape != mb[0].shape or ma[1] != mb[1]:
        return None
    return verdict(compare(ma[0], mb[0], ma[1]), seeds)


def build_board(runs: Sequence[Run], title: str = "UMU-Bench", baseline: str = BASELINE) -> dict[str, Any]:
    """The leaderboard.json payload from every run of a bench."""
    from umu_hf import selectivity, trajectory_summary
    from umu_hf.stats import mean_ci, seed_summary

    groups: dict[tuple[int, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.forget_ratio, run.model), []).append(run)
    rows, comparisons = [], {}
    trajectories: dict[str, dict[str, Any]] = {}
    privacy = any(isinstance(r.results.get("privacy"), Mapping) for r in runs)
    for (ratio, model), group in groups.items():
        group = sorted(group, key=lambda r: r.seed)
        cells = {}
        for s, t, _ in columns():
            cell = seed_summary([r.value(s, t) for r in group])
            matrix = _matrix(group, s, t)
            cell["seeds"] = [r.seed for r in group]
            cell["n_questions"] = int(matrix[0].shape[1]) if matrix is not None else None
            ci = mean_ci(*matrix) if matrix is not None else None
            cell["ci"] = [_finite(v) for v in ci] if ci else None
            base = groups.get((ratio, baseline))
            cell["vs_vanilla"] = _comparison(group, base, s, t) if base and model != baseline else None
            cell["mean"], cell["sd"] = _finite(cell["mean"]), _finite(cell["sd"])
            cells[f"{s}/{t}"] = cell
        if privacy:
            for column in PRIVACY_COLUMNS:
                cells[column.key] = _privacy_cell([r.privacy(column) for r in group], [r.seed for r in group])
        failed = {str(r.seed): r.failed for r in group if r.failed}
        row: dict[str, Any] = {"model": model, "forget_ratio": ratio, "cells": cells}
        if any(r.modality for r in group):
            base = groups.get((ratio, baseline)) if model != baseline else None
            row.update(per_modality=selectivity.modality_cells(group, base),
                       selectivity=selectivity.selectivity(group), misalignment=selectivity.misalignment(group))
        if any(r.trajectory for r in group):
            paths = {r.seed: r.trajectory for r in group}
            row["matched_forgetting"] = trajectory_summary.matched_forgetting(paths)
            trajectories.setdefault(str(ratio), {})[model] = trajectory_summary.mean_trajectory(paths)
        rows.append({**row, **({"failed": failed} if failed else {})})
    for ratio in sorted({r for r, _ in groups}):
        methods = [m for (r, m) in groups if r == ratio and m not in (baseline, RETAIN_MODEL)]
        per_column = {}
        for s, t, _ in columns():
            pairs = []
            for i, a in enumerate(methods):
                for b in methods[i + 1 :]:
                    result = _comparison(groups[(ratio, a)], groups[(ratio, b)], s, t)
                    if result is not None:
                        pairs.append({"a": a, "b": b, **result})
            per_column[f"{s}/{t}"] = pairs
        per_column.update(selectivity.method_comparisons({m: groups[(ratio, m)] for m in methods}))
        comparisons[str(ratio)] = per_column
    return {
        "title": title,
        "columns": column_specs(privacy),
        "modality_columns": selectivity.modality_columns(),
        "rows": rows,
        "comparisons": comparisons,
        "significance": SIGNIFICANCE_NOTE,
        **({"trajectory": trajectories} if trajectories else {}),
    }


def _privacy_cell(values: Sequence[float | None], seeds: Sequence[int]) -> dict[str, Any]:
    """A privacy cell: mean ± sd over seeds, and (several seeds) a t interval over seeds only."""
    from umu_hf.stats import seed_interval, seed_summary

    cell = seed_summary(values)
    ci = seed_interval(values) if cell["mean"] is not None else None
    cell["ci"] = [_significant(v) for v in ci] if ci else None
    cell.update(seeds=list(seeds), n_questions=None, vs_vanilla=None, mean=_significant(cell["mean"]),
                sd=_significant(cell["sd"]))
    return cell


def _significant(value: float | None) -> float | None:
    """Four significant digits (a forget-quality p-value of 3e-9 stays 3e-9, not 0), None if not finite.

    >>> _significant(3.14159e-9), _significant(80.04567), _significant(float("nan"))
    (3.142e-09, 80.05, None)
    """
    return None if value is None or not math.isfinite(value) else float(f"{value:.4g}")


def _cell_text(cell: Mapping[str, Any], fmt: str = ".1f") -> str:
    if cell.get("mean") is None:
        return "–"
    text = f"{cell['mean']:{fmt}}"
    if cell.get("n", 1) > 1 and cell.get("sd") is not None:
        text += f" ± {cell['sd']:{fmt}}"
    if (cell.get("vs_vanilla") or {}).get("significant"):
        text += "*"
    return text


def to_markdown(board: Mapping[str, Any]) -> str:
    """The table (``forget %``, model, one column per headline metric), the per-modality, selectivity and
    misalignment tables (:mod:`umu_hf.selectivity`) and the "which gaps are real" lines."""
    from umu_hf import selectivity, trajectory_summary

    specs = board["columns"]
    headers = ["forget %", "model"] + [c["header"] for c in specs]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---:", "---"] + ["---:"] * len(specs)) + "|"]
    for row in board["rows"]:
        name = str(row["model"]) + (f" (failed: seed {', '.join(row['failed'])})" if row.get("failed") else "")
        cells = [str(row["forget_ratio"]), name] + [
            _cell_text(row["cells"].get(c["key"]) or {}, c.get("format", ".1f")) for c in specs
        ]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({n for row in board["rows"] for c in row["cells"].values() for n in (c.get("seeds") or [])})
    lines += ["", f"Mean ± sd over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); `*` differs from vanilla "
              f"beyond its uncertainty ({board['significance']})."]
    if any(c.get("set") == "privacy" for c in specs):
        lines += ["", PRIVACY_NOTE]
    lines += selectivity.markdown(board, _cell_text)
    lines += trajectory_summary.markdown(board)
    gaps = _gap_lines(board)
    if gaps:
        lines += ["", "Which gaps between methods are real (methods from better to worse on each metric; `>` "
                  "significantly better than the next, `≈` not distinguishable):", ""] + gaps
    return "\n".join(lines) + "\n"


def _gap_lines(board: Mapping[str, Any]) -> list[str]:
    lines = []
    specs = [c for c in board["columns"] if c.get("set") != "privacy"] + list(board.get("modality_columns", []))
    for ratio, per_column in board.get("comparisons", {}).items():
        for spec in specs:
            pairs = per_column.get(spec["key"], [])
            if not pairs:
                continue
            where = "per_modality" if "modality" in spec else "cells"
            means = {row["model"]: ((row.get(where) or {}).get(spec["key"]) or {}).get("mean")
                     for row in board["rows"]
                     if str(row["forget_ratio"]) == ratio and row["model"] not in REFERENCE_ROWS}
            ordered = sorted((m for m in means if means[m] is not None), key=lambda m: means[m],
                             reverse=spec["direction"] == "higher")
            sig = {frozenset((p["a"], p["b"])): p["significant"] for p in pairs}
            chain = ordered[0] if ordered else ""
            for prev, cur in zip(ordered, ordered[1:], strict=False):
                chain += f" {'>' if sig.get(frozenset((prev, cur))) else '≈'} {cur}"
            lines.append(f"- forget {ratio}%, {spec['header']}: {chain}")
    return lines


def plot(board: Mapping[str, Any], path: Path, title: str = "UMU-Bench") -> None:
    """Grouped bars with ± sd error bars: one panel per (ratio, set), one group per task, one bar per model; with
    privacy columns, one more row per ratio: MIA AUC, forget quality and PrivLeak, one group per modality."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = sorted({row["forget_ratio"] for row in board["rows"]})
    privacy = [c for c in board["columns"] if c.get("set") == "privacy"]
    panel_rows = [(ratio, kind) for ratio in ratios for kind in (("sets", "privacy") if privacy else ("sets",))]
    fig, axes = plt.subplots(len(panel_rows), len(SETS), figsize=(4.2 * len(SETS), 3.6 * len(panel_rows)),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    for r_i, (ratio, kind) in enumerate(panel_rows):
        rows = [row for row in board["rows"] if row["forget_ratio"] == ratio]
        if kind == "privacy":
            _plot_privacy(axes[r_i], rows, privacy, ratio, cmap)
            continue
        width = 0.8 / max(1, len(rows))
        for ax, set_name in zip(axes[r_i], SETS, strict=True):
            for i, row in enumerate(rows):
                cells = [row["cells"][f"{set_name}/{t}"] for t in TASKS]
                _bars(ax, range(len(TASKS)), cells, i, len(rows), width, row["model"], cmap(i % 10))
            better = "lower is better ↓" if direction(set_name) == "↓" else "higher is better ↑"
            ax.set_title(f"forget {ratio}% — {set_name} set — {better}", fontsize=9)
            ax.set_xticks(range(len(TASKS)))
            ax.set_xticklabels([f"{_TASK_LABEL[t]}\n{headline_metric(t, set_name)}" for t in TASKS])
            ax.set_ylim(0, 105)
            ax.grid(axis="y", alpha=0.3)
        axes[r_i][0].set_ylabel("score (%), mean ± sd")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="model")
    fig.suptitle(title)
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, image.getvalue())


def _bars(ax: Any, xs: Any, cells: Sequence[Mapping[str, Any]], i: int, n: int, width: float, label: str,
          color: Any) -> None:
    """Model ``i`` of ``n``: one bar per group at ``xs`` (mean, ± sd error bar; a missing value draws nothing)."""
    values = [c["mean"] if c.get("mean") is not None else math.nan for c in cells]
    errors = [c["sd"] if c.get("sd") is not None else 0.0 for c in cells]
    shifted = [x + (i - (n - 1) / 2) * width for x in xs]
    ax.bar(shifted, values, width=width, yerr=errors, capsize=2, label=label, color=color)


def _plot_privacy(axes: Sequence[Any], rows: Sequence[Mapping[str, Any]], specs: Sequence[Mapping[str, Any]],
                  ratio: int, cmap: Any) -> None:
    """The privacy panels of one ratio: each metric's bars per modality, with the ideal value as a dashed line."""
    ideal = {"mia_auc": 0.5, "forget_quality": 1.0, "privleak": 0.0}
    names = list(dict.fromkeys(c["metric"] for c in specs))
    width = 0.8 / max(1, len(rows))
    for ax, metric in zip(axes, names, strict=False):
        chosen = [c for c in specs if c["metric"] == metric]
        for i, row in enumerate(rows):
            cells = [row["cells"].get(c["key"]) or {} for c in chosen]
            _bars(ax, range(len(chosen)), cells, i, len(rows), width, row["model"], cmap(i % 10))
        ax.axhline(ideal[metric], color="black", linestyle="--", linewidth=0.8)
        header = chosen[0]["header"].rsplit(" ", 2)[0]
        ax.set_title(f"forget {ratio}% — {header} — best {chosen[0]['direction']}", fontsize=9)
        ax.set_xticks(range(len(chosen)))
        ax.set_xticklabels([c["modality"] for c in chosen])
        if metric == "forget_quality":
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)


def write_leaderboard(
    runs: Sequence[Run],
    out_dir: str | Path,
    title: str = "UMU-Bench",
    training: Mapping[str, Any] | None = None,
) -> str:
    """Write ``leaderboard.md``, ``leaderboard.json`` and ``leaderboard.png`` into ``out_dir``; return the
    Markdown. ``training`` (how the models were trained) is stored under ``"training"`` and summarised."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    board = build_board(runs, title)
    board["training"] = dict(training or {})
    table = to_markdown(board)
    notes = ""
    models = (training or {}).get("models", {})
    if models:
        lines = [f"- {name}: protocol {rec.get('protocol', '?')}, "
                 f"label_mode {rec.get('features', {}).get('label_mode', '?')}, lr {rec.get('learning_rate', 0):g}, "
                 f"{rec.get('num_train_epochs', 0):g} epochs"
                 + (f", LoRA r {rec['lora']['r']}" if rec.get("lora") else ", all weights")
                 for name, rec in models.items() if rec]
        notes = "\nTraining (leaderboard.json `training` has every setting):\n\n" + "\n".join(lines) + "\n"
    atomic_write_text(out / "leaderboard.md", f"# {title}\n\n" + table + notes)
    write_json(out / "leaderboard.json", board)
    plot(board, out / "leaderboard.png", title)
    return table
