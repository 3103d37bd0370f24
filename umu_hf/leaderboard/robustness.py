"""The leaderboard's robustness table (``umu-hf bench --robustness``): per model, mean ± sd over seeds of what
each evaluation's ``robustness`` block measured (:mod:`umu_hf.robustness.block`).

Columns (leaderboard.json ``robustness_columns``; each row's ``robustness`` holds the cells):

- ``paraphrase/<set>_<modality>`` — the change of the score (points, mean over classification, cloze and
  generation) when questions are asked in the dataset's other wordings;
- ``image/<transform>/<set>`` — the change of multimodal accuracy (points, mean over classification and cloze)
  when the portrait is transformed; on forget, higher = a changed portrait brings forgotten answers back;
- ``extraction/<metric>_<modality>`` — exact memorization / extraction strength of the forget answers (%);
- ``quantization/int<bits>_<modality>`` — forget accuracy recovered by quantized weights (points, mean over
  classification and cloze).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from umu_hf.robustness.block import IMAGE_TASKS, PARAPHRASE_TASKS
from umu_hf.robustness.transforms import TRANSFORMS

TRANSFORM_NAMES = tuple(TRANSFORMS)
MODALITY_SHORT = {"unimodal": "uni", "multimodal": "mm"}


def robustness_columns() -> list[dict[str, str]]:
    """The robustness columns: key, header, direction (on forget, a smaller recovery / memorization is better)."""
    specs = []
    for set_name, direction in (("forget", "lower"), ("retain", "higher")):
        for modality, m in MODALITY_SHORT.items():
            specs.append({"key": f"paraphrase/{set_name}_{modality}", "header": f"paraphrase Δ {set_name} {m}",
                          "direction": direction})
    for name in TRANSFORM_NAMES:
        for set_name, direction in (("forget", "lower"), ("retain", "higher")):
            specs.append({"key": f"image/{name}/{set_name}", "header": f"{name} Δ {set_name} mm",
                          "direction": direction})
    for metric, short in (("exact_memorization", "EM"), ("extraction_strength", "ES")):
        for modality, m in MODALITY_SHORT.items():
            specs.append({"key": f"extraction/{metric}_{modality}", "header": f"{short} forget {m}",
                          "direction": "lower"})
    for bits in (8, 4):
        for modality, m in MODALITY_SHORT.items():
            specs.append({"key": f"quantization/int{bits}_{modality}", "header": f"int{bits} recovery forget {m}",
                          "direction": "lower"})
    return specs


def _mean(values: Sequence[float | None]) -> float | None:
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def run_values(block: Mapping[str, Any] | None) -> dict[str, float | None]:
    """One evaluation's value of every robustness column (None where the block has no number)."""
    values: dict[str, float | None] = {c["key"]: None for c in robustness_columns()}
    if not isinstance(block, Mapping):
        return values
    paraphrase = block.get("paraphrase") or {}
    for set_name in ("forget", "retain"):
        for modality in MODALITY_SHORT:
            values[f"paraphrase/{set_name}_{modality}"] = _mean(
                [((paraphrase.get(set_name) or {}).get(t) or {}).get(modality, {}).get("change")
                 for t in PARAPHRASE_TASKS]) if set_name in paraphrase else None
    image = block.get("image") or {}
    for name in TRANSFORM_NAMES:
        for set_name in ("forget", "retain"):
            cells = (image.get(name) or {}).get(set_name) or {}
            values[f"image/{name}/{set_name}"] = _mean([(cells.get(t) or {}).get("change") for t in IMAGE_TASKS])
    extraction = block.get("extraction") or {}
    for metric in ("exact_memorization", "extraction_strength"):
        for modality in MODALITY_SHORT:
            values[f"extraction/{metric}_{modality}"] = (extraction.get(modality) or {}).get(metric)
    quantization = block.get("quantization") or {}
    for bits in (8, 4):
        forget = (quantization.get(f"int{bits}") or {}).get("forget") or {}
        for modality in MODALITY_SHORT:
            values[f"quantization/int{bits}_{modality}"] = _mean(
                [((forget.get(t) or {}).get("recovery") or {}).get(modality) for t in IMAGE_TASKS])
    return values


def robustness_cells(blocks: Sequence[Mapping[str, Any] | None], seeds: Sequence[int]) -> dict[str, Any]:
    """``{column key: seed summary}`` over one model's seeds."""
    from umu_hf.stats import seed_summary

    per_run = [run_values(block) for block in blocks]
    cells = {}
    for spec in robustness_columns():
        cell = seed_summary([values[spec["key"]] for values in per_run])
        cell["seeds"] = list(seeds)
        cells[spec["key"]] = cell
    return cells


def markdown(board: Mapping[str, Any], cell_text: Callable[..., str]) -> list[str]:
    """The robustness table's lines (none without robustness cells); columns with no number in any row left out
    (4 bits on CPU)."""
    rows = [row for row in board["rows"] if row.get("robustness")]
    if not rows:
        return []
    specs = [c for c in board.get("robustness_columns", [])
             if any((row["robustness"].get(c["key"]) or {}).get("mean") is not None for row in rows)]
    lines = ["", "Robustness (`--robustness`; mean ± sd over seeds): paraphrase Δ = score with the questions reworded "
             "minus as worded (points, mean of the three tasks); transform Δ = multimodal accuracy with the portrait "
             "transformed minus without (points, mean of classification and cloze); EM / ES = exact memorization / "
             "extraction strength of the forget answers (%, open-unlearning's definitions); recovery = forget "
             "accuracy of the quantized copy minus the model's (points). On forget, lower is better everywhere:",
             "", "| forget % | model | " + " | ".join(c["header"] for c in specs) + " |",
             "|---:|---|" + "---:|" * len(specs)]
    for row in rows:
        cells = [cell_text(row["robustness"].get(c["key"]) or {}) for c in specs]
        lines.append(f"| {row['forget_ratio']} | {row['model']} | " + " | ".join(cells) + " |")
    return lines
