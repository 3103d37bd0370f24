"""The pyarrow fast path of ``load_umu_split``: the same rows, features and images as ``datasets.load_dataset``,
the general loader for anything else, and no ``datasets`` import on the evaluation path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from umu_hf.data import table
from umu_hf.data.hub import write_hub_dataset
from umu_hf.data.load import _load_with_datasets, load_umu_split
from umu_hf.data.schema import CONFIG_NAMES

ROOT = Path(__file__).resolve().parents[1]


def _same_rows(reference, split) -> None:
    """Every row of a ``datasets.Dataset`` equals the other split's, images pixel for pixel."""
    assert split.num_rows == len(split) == reference.num_rows
    assert split.column_names == reference.column_names
    for index, (expected, row) in enumerate(zip(reference, split, strict=True)):
        for name, value in expected.items():
            if name == "image":
                assert row["image"].mode == value.mode and row["image"].size == value.size
                assert np.array_equal(np.asarray(row["image"]), np.asarray(value))
            else:
                assert row[name] == value, (index, name)
    assert split["ID"] == reference["ID"]


@pytest.fixture(scope="module")
def sharded_dir(tmp_path_factory, synth_rows) -> Path:
    """Parts split over several shards, so configs read many files in order."""
    forget = {5: [0], 10: [0, 1], 15: [0, 1, 2]}
    out = tmp_path_factory.mktemp("sharded") / "hub"
    return write_hub_dataset(synth_rows[:12] + synth_rows[-2:], out, forget, max_shard_bytes=15_000)


@pytest.mark.parametrize("config", CONFIG_NAMES)
def test_fast_path_equals_load_dataset(synth_dir, sharded_dir, config):
    assert len(list((sharded_dir / "data").glob("retain85-*.parquet"))) > 1
    for folder in (synth_dir, sharded_dir):
        assert table.read_config_table(folder, config) is not None  # the fast path is taken
        reference = _load_with_datasets(folder, config)
        dataset = load_umu_split(folder, config)
        assert dataset.features == reference.features and dataset.split == reference.split
        assert dataset.data.table.equals(reference.data.table)
        _same_rows(reference, dataset)
        light = load_umu_split(folder, config, as_dataset=False)
        assert isinstance(light, table.ArrowSplit)
        _same_rows(reference, light)
        assert light[-1]["ID"] == reference[-1]["ID"]
        assert list(light.select_columns(["ID", "Cloze"])) == list(reference.select_columns(["ID", "Cloze"]))


def test_a_card_the_fast_path_does_not_know_goes_to_datasets(synth_dir, tmp_path):
    folder = Path(shutil.copytree(synth_dir, tmp_path / "hub"))
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8")
    # the same files, named by one pattern string instead of a list: datasets reads it, the fast path passes
    card.write_text(text.replace("    path:\n    - data/real-*.parquet", "    path: data/real-*.parquet"))
    assert table.card_data_files(folder, "real") == sorted((folder / "data").glob("real-*.parquet"))
    # data_files as one string (the train split by default): datasets reads it, the fast path leaves it to datasets
    card.write_text(text.replace("  data_files:\n  - split: train\n    path:\n    - data/real-*.parquet", "  data_files: data/real-*.parquet"))
    assert table.read_config_table(folder, "real") is None
    reference = _load_with_datasets(synth_dir, "real")
    _same_rows(reference, load_umu_split(folder, "real"))
    _same_rows(reference, load_umu_split(folder, "real", as_dataset=False))


def test_arrow_split_access(synth_dir):
    split = load_umu_split(synth_dir, "forget05", as_dataset=False)
    assert split.select_columns("ID").column_names == ["ID"]
    with pytest.raises(ValueError, match="not in the dataset"):
        split.select_columns(["nope"])
    with pytest.raises(IndexError):
        split[split.num_rows]
    assert split[0]["image"].size == split["image"][0].size
    assert "num_rows=2" in repr(split)
    assert split.to_dataset()["ID"] == split["ID"]


def _imports_after(code: str) -> set[str]:
    """Top-level modules imported by running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    return set(done.stdout.split())


def test_cli_and_evaluation_data_import_nothing_heavy(synth_dir):
    heavy = {"torch", "transformers", "datasets", "pandas", "evaluate", "gradio", "matplotlib", "nltk"}
    assert not _imports_after("from umu_hf.cli import build_parser; build_parser()") & heavy
    loaded = _imports_after(
        "from umu_hf.evaluation.runner import evaluate_model\n"
        "from umu_hf.evaluation.items import iter_items\n"
        "from umu_hf.data.load import load_umu_split\n"
        f"s = load_umu_split({str(synth_dir)!r}, 'forget05', as_dataset=False)\n"
        "q = list(iter_items(s, 'forget')); s[q[0].row]['image'].convert('RGB')"
    )
    assert not loaded & heavy
