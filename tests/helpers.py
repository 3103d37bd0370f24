"""Small pieces several test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from umu_hf.data.legacy import LEGACY_MULTIMODAL, LITERAL_COLUMNS, SPLIT_FOLDERS
from umu_hf.data.schema import FORGET_RATIOS, TASK_COLUMNS


class BlowUpAtStep(TrainerCallback):
    """Simulates an exploding step: from optimiser step ``step`` on, the learning rate is infinite, so the
    weights become non-finite."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        if state.global_step + 1 >= self.step:
            for group in optimizer.param_groups:
                group["lr"] = float("inf")


def _legacy_record(row: Mapping[str, Any], answer_style: str, with_biography: bool) -> dict:
    """One schema row as a published-layout record (Python-literal strings, ``muitimodal``)."""
    from umu_hf.data.hub import image_value

    def qa(pairs: list[dict]) -> str:
        return repr(
            {
                "question": {i: p["question"] for i, p in enumerate(pairs)},
                "answer": {i: p["answer"] for i, p in enumerate(pairs)},
            }
        )

    def answer(item: dict, index: int) -> str:
        letter = item["answer"]
        style = answer_style if answer_style != "mixed" else ("letter" if (row["ID"] + index) % 2 else "text")
        return letter if style == "letter" else f"{letter}. {item['options'][letter]}"

    image = image_value(row["image"])
    record = {
        "ID": row["ID"],
        "image": {"bytes": image["bytes"], "path": image["path"] or f"{row['ID']}.png"},
        "MM_QA": qa(row["MM_QA"]),
        "UM_QA": qa(row["UM_QA"]),
    }
    for task, column in TASK_COLUMNS.items():
        parts = {}
        for modality, legacy_name in (("unimodal", "unimodal"), ("multimodal", LEGACY_MULTIMODAL)):
            items = {}
            for index, item in enumerate(row[column][modality]):
                entry = {"question": item["question"]}
                if task == "classification":
                    entry.update(options=dict(item["options"]), answer=answer(item, index))
                else:
                    entry["answer"] = item["answer"]
                items[item["key"]] = entry
            parts[legacy_name] = items
        record[column] = repr(parts)
    if with_biography:
        record["Biography"] = row["biography"]
    return record


def write_legacy_layout(
    rows: Sequence[dict],
    forget_ids: Mapping[Any, Sequence[int]],
    out_dir: str | Path,
    *,
    answer_style: str = "text",
    with_full: bool = False,
    with_biography: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write schema rows in the published layout (SPEC 2.1), atomically; return ``out_dir``.

    ``answer_style``: classification answers as ``"B. text"`` (``"text"``), ``"B"`` (``"letter"``) or
    alternating (``"mixed"``). ``with_full`` adds ``full/`` with every row; ``with_biography`` the
    ``Biography`` column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from umu_hf.data.hub import atomic_folder, check_split_invariants

    if answer_style not in ("text", "letter", "mixed"):
        raise ValueError(f"answer_style must be 'text', 'letter' or 'mixed', not {answer_style!r}")
    by_id = {row["ID"]: row for row in rows}
    fictitious = sorted(i for i, row in by_id.items() if row["source"] == "fictitious")
    forget = check_split_invariants(fictitious, forget_ids)
    members: dict[str, list[int]] = {
        "real_person": sorted(i for i, r in by_id.items() if r["source"] == "real")
    }
    for ratio in FORGET_RATIOS:
        members[f"forget_{ratio}"] = forget[ratio]
        members[f"retain_{100 - ratio}"] = sorted(set(fictitious) - set(forget[ratio]))
    if with_full:
        members["full"] = sorted(by_id)
    fields = [
        ("ID", pa.int64()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        *((column, pa.string()) for column in LITERAL_COLUMNS),
    ]
    if with_biography:
        fields.append(("Biography", pa.string()))
    schema = pa.schema(fields)
    records = {i: _legacy_record(row, answer_style, with_biography) for i, row in by_id.items()}
    with atomic_folder(out_dir, overwrite) as tmp:
        for folder in [*SPLIT_FOLDERS, *(["full"] if with_full else [])]:
            (tmp / folder).mkdir()
            table = pa.Table.from_pylist([records[i] for i in members[folder]], schema=schema)
            pq.write_table(table, tmp / folder / "train-00000-of-00001.parquet")
    return Path(out_dir)
