"""leaderboard.png: bars with ± sd per set and task, per modality, the privacy panels and the trajectories."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from umu_hf.data.schema import SETS, TASKS
from umu_hf.leaderboard.columns import _TASK_LABEL, direction
from umu_hf.scoring import headline_metric
from umu_hf.utils import atomic_write_bytes


def plot(board: Mapping[str, Any], path: Path, title: str = "UMU-Bench") -> None:
    """One row of panels per kind and forget ratio, three panels a row, each model in its own colour:

    - the headline: one panel per set, grouped bars (mean ± sd) per task, one bar per model;
    - per modality (when the rows have it): one panel per set, a group per task × modality;
    - trajectories (when recorded): forget against retain accuracy over the unlearning steps, one curve per method
      (mean over seeds), for classification with the portrait, in text, and cloze (solid with the portrait,
      dashed in text), forgetting to the right: the ideal path runs along the top;
    - privacy (when the board has privacy columns): MIA AUC, forget quality and PrivLeak per modality;
    - robustness (``bench --robustness``): paraphrase change, portrait-transform change, extraction.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = sorted({row["forget_ratio"] for row in board["rows"]})
    privacy = [c for c in board["columns"] if c.get("set") == "privacy"]
    kinds = ["sets"]
    if any(row.get("per_modality") for row in board["rows"]):
        kinds.append("modality")
    if board.get("trajectory"):
        kinds.append("trajectory")
    if privacy:
        kinds.append("privacy")
    if any(row.get("robustness") for row in board["rows"]):
        kinds.append("robustness")
    panel_rows = [(ratio, kind) for ratio in ratios for kind in kinds]
    fig, axes = plt.subplots(len(panel_rows), len(SETS), figsize=(4.6 * len(SETS), 3.2 * len(panel_rows)),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    for r_i, (ratio, kind) in enumerate(panel_rows):
        rows = [row for row in board["rows"] if row["forget_ratio"] == ratio]
        if kind == "privacy":
            _plot_privacy(axes[r_i], rows, privacy, ratio, cmap)
            continue
        if kind == "robustness":
            _plot_robustness(axes[r_i], rows, ratio, cmap)
            continue
        if kind == "modality":
            _plot_modality(axes[r_i], rows, ratio, cmap)
            continue
        if kind == "trajectory":
            _plot_trajectories(axes[r_i], rows, board["trajectory"].get(str(ratio), {}), ratio, cmap)
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




def _plot_robustness(axes: Sequence[Any], rows: Sequence[Mapping[str, Any]], ratio: int, cmap: Any) -> None:
    """The robustness panels of one ratio (:mod:`umu_hf.leaderboard.robustness`): the paraphrase change per set
    and modality, the portrait transforms' change of forget multimodal accuracy, extraction of the forget answers."""
    from umu_hf.leaderboard.robustness import MODALITY_SHORT, TRANSFORM_NAMES

    panels = [
        ("paraphrase Δ (points)", [(f"paraphrase/{s}_{m}", f"{s}\n{short}") for s in ("forget", "retain")
                                   for m, short in MODALITY_SHORT.items()]),
        ("portrait Δ, forget mm (points)", [(f"image/{t}/forget", t) for t in TRANSFORM_NAMES]),
        ("forget extraction (%)", [(f"extraction/{k}_{m}", f"{label}\n{short}")
                                   for k, label in (("exact_memorization", "EM"), ("extraction_strength", "ES"))
                                   for m, short in MODALITY_SHORT.items()]),
    ]
    rows = [row for row in rows if row.get("robustness")]
    width = 0.8 / max(1, len(rows))
    for ax, (name, columns) in zip(axes, panels, strict=False):
        for i, row in enumerate(rows):
            cells = [row["robustness"].get(key) or {} for key, _ in columns]
            _bars(ax, range(len(columns)), cells, i, len(rows), width, row["model"], cmap(i % 10))
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_title(f"forget {ratio}% — robustness — {name}", fontsize=9)
        ax.set_xticks(range(len(columns)))
        ax.set_xticklabels([label for _, label in columns], fontsize=8)
        ax.grid(axis="y", alpha=0.3)


def _plot_modality(axes: Sequence[Any], rows: Sequence[Mapping[str, Any]], ratio: int, cmap: Any) -> None:
    """Per set, a group per task × modality (the per-modality score, mean ± sd), one bar per model."""
    groups = [(t, m) for t in TASKS for m in ("unimodal", "multimodal")]
    width = 0.8 / max(1, len(rows))
    for ax, set_name in zip(axes, SETS, strict=True):
        for i, row in enumerate(rows):
            cells = [(row.get("per_modality") or {}).get(f"{set_name}/{t}/{m}") or {} for t, m in groups]
            _bars(ax, range(len(groups)), cells, i, len(rows), width, row["model"], cmap(i % 10))
        better = "lower is better ↓" if direction(set_name) == "↓" else "higher is better ↑"
        ax.set_title(f"forget {ratio}% — {set_name} set per modality — {better}", fontsize=9)
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([f"{_TASK_LABEL[t]}\n{'text' if m == 'unimodal' else 'image'}" for t, m in groups],
                           fontsize=8)
        ax.set_ylim(0, 105)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("accuracy / ROUGE-L (%)")


def _plot_trajectories(axes: Sequence[Any], rows: Sequence[Mapping[str, Any]], paths: Mapping[str, Any], ratio: int,
                       cmap: Any) -> None:
    """Forget (x) against retain (y) accuracy along each method's unlearning run, mean over seeds."""
    panels = [("classification", ("multimodal",)), ("classification", ("unimodal",)),
              ("cloze", ("multimodal", "unimodal"))]
    for ax, (task, modalities) in zip(axes, panels, strict=True):
        for i, row in enumerate(rows):
            path = paths.get(row["model"])
            if not path:
                continue
            for modality in modalities:
                xs = path["mean"].get(f"forget/{task}/{modality}") or []
                ys = path["mean"].get(f"retain/{task}/{modality}") or []
                ax.plot(xs, ys, color=cmap(i % 10), linestyle="-" if modality == "multimodal" else "--",
                        marker=".", markersize=3, linewidth=1.2)
                if xs:
                    ax.plot(xs[-1:], ys[-1:], color=cmap(i % 10), marker="o", markersize=5)
        shown = " (solid: image, dashed: text)" if len(modalities) > 1 else f" — {modalities[0]}"
        ax.set_title(f"forget {ratio}% — {_TASK_LABEL[task]}{shown}: trajectory", fontsize=9)
        ax.set_xlim(105, -5)
        ax.set_ylim(-5, 105)
        ax.set_xlabel("forget accuracy (%) — forgetting →", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("retain accuracy (%)")


def trajectory_figure(board: Mapping[str, Any]) -> Any:
    """The trajectory panels alone (one row per forget ratio) as a matplotlib figure, for the Space; None when the
    board has no trajectories."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = board.get("trajectory") or {}
    if not paths:
        return None
    ratios = sorted(int(r) for r in paths)
    fig, axes = plt.subplots(len(ratios), 3, figsize=(13.8, 3.6 * len(ratios)), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for r_i, ratio in enumerate(ratios):
        rows = [row for row in board["rows"] if row["forget_ratio"] == ratio]
        _plot_trajectories(axes[r_i], rows, paths[str(ratio)], ratio, cmap)
    first = [r for r in board["rows"] if r["forget_ratio"] == ratios[0]]
    handles = [matplotlib.lines.Line2D([], [], color=cmap(i % 10), label=row["model"])
               for i, row in enumerate(first) if row["model"] in paths[str(ratios[0])]]
    axes[0][-1].legend(handles=handles, loc="lower left", fontsize=8, title="model")
    fig.tight_layout()
    return fig
