"""``--overwrite`` deletes only folders umu-hf wrote, and never an input (``data convert``, ``data synth``,
``model tiny``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from umu_hf.cli import main
from umu_hf.errors import UmuError
from umu_hf.outputs import MARKER, check_out_apart, check_replaceable


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture()
def legacy_copy(legacy_dir, tmp_path) -> Path:
    """A private copy of the published-layout fixture, without the umu-hf marker (as downloaded)."""
    src = tmp_path / "UMU"
    shutil.copytree(legacy_dir, src)
    (src / MARKER).unlink(missing_ok=True)
    return src


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_convert_refuses_out_overlapping_the_source(where, legacy_copy, tmp_path, capsys):
    before = _files(legacy_copy)
    out = {"same": legacy_copy, "inside": legacy_copy / "hub", "around": tmp_path}[where]
    rc = main(["data", "convert", str(legacy_copy), "--out", str(out), "--overwrite"])
    assert rc == 2
    relation = {"same": "is", "inside": "lies inside", "around": "contains"}[where]
    assert f"{relation} the source folder" in _one_line_error(capsys)
    assert _files(legacy_copy) == before  # the source is untouched


def test_overwrite_deletes_only_umu_hf_folders(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    args = ["--fictitious", "4", "--real", "1", "--image-size", "16"]
    rc = main(["data", "synth", "--out", str(foreign), "--overwrite", *args])
    assert rc == 2
    assert "not written by umu-hf" in _one_line_error(capsys)
    assert (foreign / "thesis.tex").read_text() == "years of work"

    out = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(out), *args]) == 0
    assert (out / MARKER).is_file()
    (out / "stale.txt").write_text("left by the earlier run")
    assert main(["data", "synth", "--out", str(out), "--overwrite", *args]) == 0  # umu-hf's own: replaced
    assert (out / MARKER).is_file() and not (out / "stale.txt").exists()


def test_convert_replaces_its_own_output(legacy_copy, tmp_path):
    out = tmp_path / "hub"
    assert main(["data", "convert", str(legacy_copy), "--out", str(out)]) == 0
    (out / "stale.txt").write_text("left by the earlier run")
    assert main(["data", "convert", str(legacy_copy), "--out", str(out), "--overwrite"]) == 0
    assert (out / MARKER).is_file() and not (out / "stale.txt").exists()


def test_model_tiny_refuses_its_data_folder_and_foreign_folders(synth_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    before = _files(data)
    rc = main(["model", "tiny", "--data", str(data), "--out", str(data), "--overwrite"])
    assert rc == 2 and "is the dataset" in _one_line_error(capsys)
    rc = main(["model", "tiny", "--data", str(data), "--out", str(data / "model"), "--overwrite"])
    assert rc == 2 and "lies inside the dataset" in _one_line_error(capsys)
    assert _files(data) == before
    foreign = tmp_path / "weights"
    foreign.mkdir()
    (foreign / "model.safetensors").write_bytes(b"precious")
    rc = main(["model", "tiny", "--data", str(data), "--out", str(foreign), "--overwrite"])
    assert rc == 2 and "not written by umu-hf" in _one_line_error(capsys)
    assert (foreign / "model.safetensors").read_bytes() == b"precious"


def test_tiny_model_folder_carries_the_marker(tiny_model_dir):
    assert (tiny_model_dir / MARKER).is_file()


def test_helpers(tmp_path):
    check_out_apart(tmp_path / "a", [("model", "org/hub-id"), ("data", None), ("dataset", tmp_path / "b")])
    (tmp_path / "b").mkdir()
    with pytest.raises(UmuError, match="contains the dataset"):
        check_out_apart(tmp_path, [("dataset", tmp_path / "b")])
    check_replaceable(tmp_path / "missing", overwrite=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UmuError, match="already exists"):
        check_replaceable(tmp_path / "empty", overwrite=False)
    check_replaceable(tmp_path / "empty", overwrite=True)  # nothing to lose
    (tmp_path / "file").write_text("x")
    with pytest.raises(UmuError, match="not a folder"):
        check_replaceable(tmp_path / "file", overwrite=True)
