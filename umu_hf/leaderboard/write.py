"""Writing a bench's leaderboard: Markdown, JSON and PNG in one folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from umu_hf.leaderboard.board import Run, build_board
from umu_hf.leaderboard.markdown import to_markdown
from umu_hf.leaderboard.plot import plot
from umu_hf.utils import atomic_write_text, write_json


def write_leaderboard(
    runs: Sequence[Run],
    out_dir: str | Path,
    title: str = "UMU-Bench",
    training: Mapping[str, Any] | None = None,
    sequential: Mapping[str, Any] | None = None,
) -> str:
    """Write ``leaderboard.md``, ``leaderboard.json`` and ``leaderboard.png`` into ``out_dir``; return the
    Markdown. ``training`` (how the models were trained) is stored under ``"training"`` and summarised;
    ``sequential`` (:func:`umu_hf.leaderboard.sequential.sequential_section`) under ``"sequential"``, with its
    tables and ``leaderboard-sequential.png``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    board = build_board(runs, title)
    if sequential:
        board["sequential"] = dict(sequential)
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
    evaluation = (training or {}).get("evaluation")
    if evaluation:
        budgets = ", ".join(f"{task} {n}" for task, n in evaluation["max_new_tokens"].items())
        notes += f"\nEvaluation: replies cut at {budgets} new tokens (not the original protocol's budgets).\n"
    atomic_write_text(out / "leaderboard.md", f"# {title}\n\n" + table + notes)
    write_json(out / "leaderboard.json", board)
    plot(board, out / "leaderboard.png", title)
    if sequential:
        from umu_hf.leaderboard.sequential import PNG
        from umu_hf.leaderboard.sequential import plot as plot_sequential

        plot_sequential(sequential, out / PNG)
    return table
