"""Bad input: one clear line naming file, row/ID and field (CLI exit 2, no traceback; library DataError/UmuError)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from umu_hf.cli import main
from umu_hf.data.legacy import convert_legacy
from umu_hf.data.load import load_umu_split
from umu_hf.data.schema import forget_config, retain_config
from umu_hf.errors import DataError, UmuError

PARQUET = "train-00000-of-00001.parquet"


def _edit_rows(file: Path, edit: Callable[[list[dict]], None]) -> None:
    table = pq.read_table(file)
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), file)


def _drop_column(file: Path, column: str) -> None:
    pq.write_table(pq.read_table(file).drop_columns([column]), file)


def _set(index: int, field: str, value) -> Callable[[list[dict]], None]:
    def edit(rows: list[dict]) -> None:
        rows[index][field] = value

    return edit


def _move_row(src: str, dst: str, index: int) -> Callable[[Path], None]:
    """Copy row ``index`` of folder ``src`` into folder ``dst`` (breaking a split invariant)."""

    def breaker(root: Path) -> None:
        row = pq.read_table(root / src / PARQUET).to_pylist()[index]
        _edit_rows(root / dst / PARQUET, lambda rows: rows.append(row))

    return breaker


def _forget_outside_forget10(root: Path) -> None:
    """Move a profile of retain_90 (so not in forget_10) from retain_95 into forget_5."""
    moved = pq.read_table(root / "retain_90" / PARQUET).to_pylist()[0]
    _edit_rows(
        root / "retain_95" / PARQUET,
        lambda rows: rows.remove(next(r for r in rows if r["ID"] == moved["ID"])),
    )
    _edit_rows(root / "forget_5" / PARQUET, lambda rows: rows.append(moved))


def _image_outside(absolute: bool) -> Callable[[Path], None]:
    """A row whose portrait is only a path to a real image file outside the source folder."""

    def breaker(root: Path) -> None:
        from PIL import Image

        secret = root.parent.parent / f"{root.parent.name}-secret.png"
        Image.new("RGB", (4, 4), "red").save(secret)
        path = str(secret) if absolute else f"../../../{secret.name}"
        _edit_rows(root / "real_person" / PARQUET, _set(0, "image", {"bytes": None, "path": path}))

    return breaker


# (what is broken, how, the pieces the one-line message must contain)
CASES = [
    ("missing split folder", lambda root: shutil.rmtree(root / "retain_90"),
     ["retain_90", "split folder missing", "restore it"]),
    ("parquet without a required column", lambda root: _drop_column(root / "forget_10" / PARQUET, "Cloze"),
     [f"forget_10/{PARQUET}", "column Cloze missing", "re-export"]),
    ("unparsable literal", lambda root: _edit_rows(root / "retain_95" / PARQUET, _set(1, "Classify", "{'unimodal': {")),
     [f"retain_95/{PARQUET}", "row 1 (ID ", "field Classify", "cannot parse the Python literal"]),
    ("code instead of a literal is not run",
     lambda root: _edit_rows(root / "retain_95" / PARQUET, _set(0, "MM_QA", "__import__('os').getcwd()")),
     [f"retain_95/{PARQUET}", "row 0 (ID ", "field MM_QA", "cannot parse"]),
    ("image bytes that do not decode",
     lambda root: _edit_rows(root / "real_person" / PARQUET, _set(0, "image", {"bytes": b"not an image", "path": "x.png"})),
     [f"real_person/{PARQUET}", "row 0 (ID 40)", "field image", "do not decode", "re-export the portrait"]),
    ("image path escaping the source folder", _image_outside(False),
     [f"real_person/{PARQUET}", "row 0 (ID 40)", "field image.path", "outside the source folder"]),
    ("absolute image path", _image_outside(True),
     [f"real_person/{PARQUET}", "row 0 (ID 40)", "field image.path", "outside the source folder"]),
    ("classification answer naming no option",
     lambda root: _edit_rows(root / "real_person" / PARQUET,
                             _set(2, "Classify", "{'unimodal': {'k': {'question': 'q', 'options': "
                                  "{'A': 'a', 'B': 'b', 'C': 'c', 'D': 'd'}, 'answer': 'Z'}}, 'muitimodal': {'k': "
                                  "{'question': 'q', 'options': {'A': 'a', 'B': 'b', 'C': 'c', 'D': 'd'}, 'answer': 'Z'}}}")),
     [f"real_person/{PARQUET}", "row 2 (ID 42)", "field Classify.unimodal['k'].answer", "neither a letter"]),
    ("forget and retain overlap", _move_row("forget_5", "retain_95", 0), ["is in both forget_5/ and retain_95/"]),
    ("a profile both real and fictitious", _move_row("real_person", "forget_10", 0),
     ["ID 40 is in both real_person/ and forget_10/"]),
    ("a profile in neither forget nor retain",
     lambda root: _edit_rows(root / "retain_95" / PARQUET, lambda rows: rows.pop(0)),
     ["is in neither forget_5/ nor retain_95/"]),
    ("forget sets not nested", lambda root: _forget_outside_forget10(root), ["but not in forget_10/", "nested"]),
    ("full holds an unknown profile",
     lambda root: _edit_rows(root / "full" / PARQUET, lambda rows: rows.append({**rows[0], "ID": 999})),
     ["ID 999 is in full/ but in no split folder"]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "breaker", "needles"), CASES, ids=[c[0] for c in CASES])
def test_broken_legacy_input_gives_one_clear_line(tmp_path, legacy_dir, capsys, case, breaker, needles):
    src = Path(shutil.copytree(legacy_dir, tmp_path / "legacy"))
    breaker(src)
    out = tmp_path / "out"

    assert main(["data", "convert", str(src), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("umu-hf data: error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in captured.err and not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["legacy"]  # no temporary folder left

    with pytest.raises(DataError) as error:
        convert_legacy(src, out)
    assert all(needle in str(error.value) for needle in needles)
    with pytest.raises(DataError):
        load_umu_split(src, "forget05", cache_dir=tmp_path / "cache")


def test_missing_legacy_folder(tmp_path, capsys):
    assert main(["data", "convert", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "nowhere: no such folder" in lines[0]


@pytest.mark.parametrize("config", ["forget20", "retain80", "forget7"])
def test_unknown_forget_ratio(synth_dir, capsys, config):
    assert main(["data", "info", str(synth_dir), "--config", config]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "unknown forget ratio" in lines[0] and "5, 10 and 15" in lines[0]
    with pytest.raises(UmuError, match="unknown forget ratio"):
        load_umu_split(synth_dir, config)


@pytest.mark.parametrize("ratio", [0, 7, 20, "ten", None])
def test_unknown_forget_ratio_in_config_helpers(ratio):
    with pytest.raises(UmuError, match="unknown forget ratio"):
        forget_config(ratio)
    with pytest.raises(UmuError, match="unknown forget ratio"):
        retain_config(ratio)


def test_known_ratios_map_to_configs():
    assert [forget_config(r) for r in (5, "10", "15%")] == ["forget05", "forget10", "forget15"]
    assert [retain_config(r) for r in (5, 10, 15)] == ["retain95", "retain90", "retain85"]


def test_hub_parquet_without_a_required_column(tmp_path, synth_dir, capsys):
    """`datasets` would fill the missing column with nulls; the loader names the file and column instead."""
    folder = Path(shutil.copytree(synth_dir, tmp_path / "hub"))
    shard = folder / "data" / "forget05-00000-of-00001.parquet"
    _drop_column(shard, "Cloze")
    assert main(["data", "info", str(folder), "--config", "forget05"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"{shard}: column Cloze missing" in lines[0]
    with pytest.raises(DataError, match="column Cloze missing"):
        load_umu_split(folder, "forget10")
    assert load_umu_split(folder, "retain95").num_rows == 38  # configs without that shard still load
