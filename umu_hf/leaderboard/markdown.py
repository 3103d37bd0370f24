"""leaderboard.md: the headline table, the per-modality, selectivity and matched-forgetting tables, and the
"which gaps are real" lines."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from umu_hf.leaderboard.columns import PRIVACY_NOTE, REFERENCE_ROWS


def cell_text(cell: Mapping[str, Any], fmt: str = ".1f") -> str:
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
    misalignment tables (:mod:`umu_hf.leaderboard.modality`) and the "which gaps are real" lines."""
    import umu_hf.leaderboard.modality as modality
    import umu_hf.leaderboard.robustness as robustness
    import umu_hf.leaderboard.sequential as sequential
    import umu_hf.leaderboard.trajectory as trajectory

    specs = board["columns"]
    headers = ["forget %", "model"] + [c["header"] for c in specs]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---:", "---"] + ["---:"] * len(specs)) + "|"]
    for row in board["rows"]:
        name = str(row["model"]) + (f" (failed: seed {', '.join(row['failed'])})" if row.get("failed") else "")
        cells = [str(row["forget_ratio"]), name] + [
            cell_text(row["cells"].get(c["key"]) or {}, c.get("format", ".1f")) for c in specs
        ]
        lines.append("| " + " | ".join(cells) + " |")
    seeds = sorted({n for row in board["rows"] for c in row["cells"].values() for n in (c.get("seeds") or [])})
    lines += ["", f"Mean ± sd over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}); `*` differs from vanilla "
              f"beyond its uncertainty ({board['significance']})."]
    if any(c.get("set") == "privacy" for c in specs):
        lines += ["", PRIVACY_NOTE]
    lines += modality.markdown(board, cell_text)
    lines += trajectory.markdown(board)
    lines += robustness.markdown(board, cell_text)
    lines += sequential.markdown(board.get("sequential"))
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


