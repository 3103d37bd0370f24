"""The leaderboard: one row per model (vanilla and each method), written as Markdown, JSON and a PNG.

Columns follow SPEC 4: on the forget set AccF (classification, cloze) and RLF (generation), lower is better;
on the retain and real sets AccR and RLR, higher is better. Every header carries its direction.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from umu_hf.data.schema import SETS, TASKS
from umu_hf.scoring import LOWER_IS_BETTER, headline_metric

_TASK_LABEL = {"classification": "Cls", "cloze": "Cloze", "generation": "Gen"}


def metric_name(set_name: str, task: str) -> str:
    """The headline metric of a (set, task): AccF/RLF on forget, AccR/RLR on retain and real."""
    return headline_metric(task, set_name)


def direction(set_name: str) -> str:
    """``"↓"`` where the set's headline metrics are lower-is-better (forget), ``"↑"`` elsewhere."""
    return "↓" if headline_metric("classification", set_name) in LOWER_IS_BETTER else "↑"


def columns() -> list[tuple[str, str, str]]:
    """``(set, task, header)`` of every numeric column, e.g. ``("forget", "cloze", "forget Cloze AccF ↓")``."""
    return [
        (s, t, f"{s} {_TASK_LABEL[t]} {metric_name(s, t)} {direction(s)}") for s in SETS for t in TASKS
    ]


def build_rows(results: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows ``{"model": name, header: value, ...}`` from ``{name: results.json dict}`` (insertion order kept)."""
    rows = []
    for name, result in results.items():
        row: dict[str, Any] = {"model": name}
        for s, t, header in columns():
            value = result.get("headline", {}).get(s, {}).get(t, {}).get(metric_name(s, t))
            row[header] = None if value is None else round(float(value), 2)
        rows.append(row)
    return rows


def to_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    headers = ["model"] + [c[2] for c in columns()]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for row in rows:
        cells = [str(row["model"])] + ["–" if row[h] is None else f"{row[h]:.1f}" for h in headers[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def plot(rows: Sequence[Mapping[str, Any]], path: Path, title: str = "UMU-Bench") -> None:
    """Grouped bars: one panel per set, one group per task, one bar per model; directions in the titles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SETS), figsize=(4.2 * len(SETS), 3.8), sharey=True)
    width = 0.8 / max(1, len(rows))
    cmap = plt.get_cmap("tab10")
    for ax, set_name in zip(axes, SETS, strict=True):
        for i, row in enumerate(rows):
            values = []
            for task in TASKS:
                header = next(c[2] for c in columns() if c[0] == set_name and c[1] == task)
                values.append(row[header] if row[header] is not None else 0.0)
            xs = [x + (i - (len(rows) - 1) / 2) * width for x in range(len(TASKS))]
            ax.bar(xs, values, width=width, label=row["model"], color=cmap(i % 10))
        better = "lower is better ↓" if set_name == "forget" else "higher is better ↑"
        ax.set_title(f"{set_name} set — {better}", fontsize=10)
        ax.set_xticks(range(len(TASKS)))
        ax.set_xticklabels([f"{_TASK_LABEL[t]}\n{metric_name(set_name, t)}" for t in TASKS])
        ax.set_ylim(0, 100)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("score (%)")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title="model")
    fig.suptitle(title)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def write_leaderboard(
    results: Mapping[str, Mapping[str, Any]],
    out_dir: str | Path,
    title: str = "UMU-Bench",
    training: Mapping[str, Any] | None = None,
) -> str:
    """Write ``leaderboard.md``, ``leaderboard.json`` and ``leaderboard.png`` into ``out_dir``; return the table.

    ``training``: how the models were trained (protocol, features, hyper-parameters; per model and for the
    bench), stored under ``"training"`` in leaderboard.json and summarised under the Markdown table.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = build_rows(results)
    table = to_markdown(rows)
    notes = ""
    models = (training or {}).get("models", {})
    if models:
        lines = [f"- {name}: protocol {rec.get('protocol', '?')}, lr {rec.get('learning_rate', '?'):g}, "
                 f"{rec.get('num_train_epochs', '?'):g} epochs"
                 + (f", LoRA r {rec['lora']['r']}" if rec.get("lora") else ", all weights")
                 for name, rec in models.items() if rec]
        notes = "\n\nTraining (leaderboard.json `training` has every setting):\n\n" + "\n".join(lines) + "\n"
    _atomic_write(out / "leaderboard.md", (f"# {title}\n\n" + table + notes).encode())
    payload = {"title": title, "columns": [c[2] for c in columns()], "rows": rows, "training": dict(training or {})}
    _atomic_write(out / "leaderboard.json", json.dumps(payload, indent=2, ensure_ascii=False).encode())
    plot(rows, out / "leaderboard.png", title)
    return table
