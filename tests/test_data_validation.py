"""Data loaded from a Hub-layout folder is validated on load: bad rows stop with one line naming the config, the
row, its ID and the field — never a traceback mid-run, never a silently dropped question."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from umu_hf.cli import main as cli_main
from umu_hf.data.load import load_umu_split
from umu_hf.errors import DataError, UmuError

SHARD = "data/retain85-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    from umu_hf.data.synth import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("valid") / "d", 6, 1, 0)


def _corrupt(folder: Path, edit: Callable[[list[dict]], None]) -> None:
    file = folder / SHARD
    table = pq.read_table(file)
    rows = table.to_pylist()
    edit(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), file)


def _drop_multimodal_item(rows):
    rows[0]["Cloze"]["multimodal"].pop()


def _null_answer(rows):
    rows[1]["Generation"]["unimodal"][0]["answer"] = None


def _bad_image(rows):
    rows[0]["image"] = {"bytes": b"not an image at all", "path": "x.png"}


def _duplicate_id(rows):
    rows[1]["ID"] = rows[0]["ID"]


def _bad_letter(rows):
    rows[0]["Classify"]["unimodal"][0]["answer"] = "Q"


CASES = [
    ("modality lengths differ", _drop_multimodal_item, ["row 0", "field Cloze", "unimodal items but"]),
    ("a null answer", _null_answer, ["row 1", "field Generation.unimodal[0].answer", "not a string"]),
    ("corrupt image bytes", _bad_image, ["row 0", "field image", "do not decode"]),
    ("duplicate IDs", _duplicate_id, ["row 1", "field ID", "must be unique"]),
    ("an answer letter naming no option", _bad_letter, ["row 0", "Classify.unimodal[0].answer", "letters"]),
]


@pytest.mark.parametrize(("case", "edit", "needles"), CASES, ids=[c[0] for c in CASES])
def test_bad_rows_stop_on_load_in_one_line(case, edit, needles, small_data, tmp_path, capsys):
    folder = Path(shutil.copytree(small_data, tmp_path / "d"))
    _corrupt(folder, edit)
    with pytest.raises(DataError) as error:
        load_umu_split(folder, "retain85")
    message = str(error.value)
    assert "\n" not in message and "config retain85" in message and "(ID " in message
    for needle in needles:
        assert needle in message, message
    with pytest.raises(DataError):
        load_umu_split(folder, "full", as_dataset=False)  # the runner's path too
    assert cli_main(["eval", "--model", str(tmp_path / "no-model"), "--data", str(folder), "--forget-ratio", "15",
                     "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_clean_data_loads(small_data):
    assert len(load_umu_split(small_data, "full")) == 7


# random corruptions of one row: each must end in one UmuError line (never a traceback, never a silent load)
_PATHS = [
    ("Cloze", "unimodal", "answer"), ("Cloze", "multimodal", "question"), ("Generation", "multimodal", "answer"),
    ("Classify", "unimodal", "answer"), ("Classify", "multimodal", "key"),
]


@st.composite
def corruptions(draw):
    row = draw(st.integers(0, 3))
    kind = draw(st.sampled_from(["null-field", "drop-item", "truncate-image", "wrong-id", "empty-pairs"]))
    path = draw(st.sampled_from(_PATHS))
    cut = draw(st.integers(0, 40))
    return row, kind, path, cut


def _apply(rows, row, kind, path, cut):
    r = rows[row % len(rows)]
    column, modality, field = path
    if kind == "null-field":
        r[column][modality][0][field] = None
    elif kind == "drop-item":
        r[column][modality].pop()
    elif kind == "truncate-image":
        r["image"] = {"bytes": r["image"]["bytes"][:cut], "path": r["image"]["path"]}
    elif kind == "wrong-id":
        rows[(row + 1) % len(rows)]["ID"] = r["ID"]
    elif kind == "empty-pairs":
        r["Generation"]["multimodal"] = []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corruptions())
def test_random_corruptions_always_give_one_clear_error(small_data, tmp_path_factory, case):
    folder = Path(shutil.copytree(small_data, tmp_path_factory.mktemp("h") / "d"))
    _corrupt(folder, lambda rows: _apply(rows, *case))
    with pytest.raises(UmuError) as error:
        load_umu_split(folder, "full", as_dataset=False)
    assert "\n" not in str(error.value) and "config full" in str(error.value)
