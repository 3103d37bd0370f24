"""The published (legacy) layout: conversion round trip with its quirks, cached loading, `data convert`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from helpers import write_legacy_layout

from umu_hf.cli import main
from umu_hf.data.hub import image_value
from umu_hf.data.legacy import (
    convert_legacy,
    convert_row,
    parse_answer_letter,
    read_legacy,
)
from umu_hf.data.load import load_umu_split
from umu_hf.data.synth import assign_forget_ids
from umu_hf.errors import DataError
from umu_hf.outputs import MARKER


def _stored_rows(folder: Path, config: str = "full") -> list[dict]:
    split = load_umu_split(folder, config).cast_column("image", datasets.Image(decode=False))
    return sorted(split, key=lambda row: row["ID"])


def _unparaphrased(tasks: dict) -> dict:
    """A task column as the original release's layout carries it: no paraphrases (converted: null)."""
    return {m: [{**item, "paraphrases": None} for item in items] for m, items in tasks.items()}


def _comparable(row: dict) -> dict:
    """A synthetic row as it comes back from the original release's layout: the same but for paraphrases."""
    tasks = {column: _unparaphrased(row[column]) for column in ("Classify", "Cloze", "Generation")}
    return {**row, **tasks, "image": image_value(row["image"])["bytes"]}


def test_legacy_fixture_has_the_published_quirks(legacy_dir):
    folders = sorted(p.name for p in legacy_dir.iterdir() if p.name != MARKER)  # MARKER: umu-hf wrote it
    assert folders == sorted(["forget_5", "forget_10", "forget_15", "retain_95", "retain_90", "retain_85",
                              "real_person", "full"])  # fmt: skip
    table = pq.read_table(legacy_dir / "forget_5" / "train-00000-of-00001.parquet")
    assert table.schema.field("image").type.names == ["bytes", "path"]
    cells = [ast.literal_eval(cell) for cell in table.column("Classify").to_pylist()]  # python literals
    assert all(set(cell) == {"unimodal", "muitimodal"} for cell in cells)
    answers = [item["answer"] for cell in cells for item in cell["unimodal"].values()]
    assert any(re.fullmatch(r"[A-D]", a) for a in answers) and any(
        re.match(r"[A-D]\. \w", a) for a in answers
    )
    assert "Biography" in table.schema.names


def test_convert_round_trip(tmp_path, legacy_dir, synth_rows, capsys):
    out = tmp_path / "converted"
    assert main(["data", "convert", str(legacy_dir), "--out", str(out)]) == 0
    assert "full 48" in capsys.readouterr().out
    stored = [{**row, "image": row["image"]["bytes"]} for row in _stored_rows(out)]
    assert stored == [_comparable(row) for row in synth_rows]
    assert [r["ID"] for r in _stored_rows(out, "forget05")] == assign_forget_ids(list(range(40)), 0)[5]


def test_quirks_no_biography_letter_answers_and_cloze_without_period(tmp_path, synth_rows):
    rows = []
    for row in synth_rows:
        cloze = {m: [{**item, "answer": item["answer"].rstrip(".")} if row["ID"] % 2 else item
                     for item in row["Cloze"][m]] for m in ("unimodal", "multimodal")}  # fmt: skip
        rows.append({**row, "Cloze": cloze})
    forget = assign_forget_ids(list(range(40)), 0)
    src = write_legacy_layout(rows, forget, tmp_path / "legacy", answer_style="letter", with_biography=False)
    assert "Biography" not in pq.read_schema(src / "real_person" / "train-00000-of-00001.parquet").names
    out = convert_legacy(src, tmp_path / "hub")
    stored = _stored_rows(out)
    assert all(row["biography"] == "" for row in stored)
    assert stored[1]["Cloze"]["unimodal"][0]["answer"] == rows[1]["Cloze"]["unimodal"][0]["answer"]
    assert not stored[1]["Cloze"]["unimodal"][0]["answer"].endswith(".")
    assert stored[2]["Cloze"]["unimodal"][0]["answer"].endswith(".")
    assert [r["Classify"] for r in stored] == [_unparaphrased(r["Classify"]) for r in rows]


def test_hand_written_published_record(tmp_path, synth_rows):
    """A record written the way the published files are: int keys, `muitimodal`, mixed answer forms."""
    options = "{'A': 'pilot', 'B': 'chef', 'C': 'nurse', 'D': 'tailor'}"
    record = {
        "ID": 7,
        "image": {"bytes": image_value(synth_rows[0]["image"])["bytes"], "path": "7.png"},
        "MM_QA": "{'question': {0: 'Who is this?', 1: \"What is this person's job?\"}, "
        "'answer': {0: 'This is Ann Vell.', 1: 'Ann Vell is a chef.'}}",
        "UM_QA": "{'question': {0: 'What is Ann Vell\\'s job?'}, 'answer': {0: 'Ann Vell is a chef.'}}",
        "Classify": f"{{'unimodal': {{1: {{'question': 'Job of Ann Vell?', 'options': {options}, 'answer': 'B. chef'}}, "
        f"2: {{'question': 'Job again?', 'options': {options}, 'answer': 'C'}}}}, "
        f"'muitimodal': {{2: {{'question': 'Job of the person?', 'options': {options}, 'answer': 'A'}}, "
        f"1: {{'question': 'Job of the person in the image?', 'options': {options}, 'answer': 'A. pilot'}}}}}}",
        "Cloze": "{'unimodal': {1: {'question': 'Ann Vell works as a ___.', 'answer': 'chef.'}}, "
        "'muitimodal': {1: {'question': 'The person works as a ___.', 'answer': 'chef'}}}",
        "Generation": "{'unimodal': {1: {'question': 'What does Ann Vell do?', 'answer': 'Ann Vell is a chef.'}}, "
        "'muitimodal': {1: {'question': 'What does the person do?', 'answer': 'Ann Vell is a chef.'}}}",
    }
    row = convert_row(record, "fictitious", "test record", tmp_path)
    assert row["biography"] == "" and row["image"]["path"] == "7.png"
    assert row["MM_QA"][1] == {"question": "What is this person's job?", "answer": "Ann Vell is a chef."}
    uni, multi = row["Classify"]["unimodal"], row["Classify"]["multimodal"]
    assert [i["key"] for i in uni] == [i["key"] for i in multi] == ["1", "2"]  # paired by key
    assert [i["answer"] for i in uni] == [i["answer"] for i in multi] == ["B", "C"]  # unimodal letter wins
    assert multi[0]["question"] == "Job of the person in the image?"
    assert row["Cloze"]["multimodal"][0]["answer"] == "chef"


@pytest.mark.parametrize(
    ("answer", "letter"),
    [
        ("B. chef", "B"),
        ("B", "B"),
        (" C ", "C"),
        ("(D)", "D"),
        ("A) pilot", "A"),
        ("nurse", "C"),
        ("Tailor", "D"),
    ],
)
def test_answer_letter_forms(answer, letter):
    options = {"A": "pilot", "B": "chef", "C": "nurse", "D": "tailor"}
    assert parse_answer_letter(answer, options, "here", "Classify") == letter


def test_answer_that_names_no_option_is_an_error():
    with pytest.raises(DataError, match="here, field Classify: answer 'E. baker' is neither"):
        parse_answer_letter(
            "E. baker", {"A": "pilot", "B": "chef", "C": "nurse", "D": "tailor"}, "here", "Classify"
        )


def test_load_converts_legacy_once_and_caches(legacy_dir, umu_cache):
    first = load_umu_split(legacy_dir, "forget15")
    assert first.num_rows == 6
    converted = list((umu_cache / "converted").iterdir())
    assert len(converted) == 1
    stamp = (converted[0] / "README.md").stat().st_mtime_ns
    assert load_umu_split(legacy_dir, "real").num_rows == 8
    assert list((umu_cache / "converted").iterdir()) == converted
    assert (converted[0] / "README.md").stat().st_mtime_ns == stamp


def test_read_legacy_returns_rows_and_forget_sets(legacy_dir):
    rows, forget = read_legacy(legacy_dir)
    assert [row["ID"] for row in rows] == list(range(48))
    assert forget == assign_forget_ids(list(range(40)), 0)
