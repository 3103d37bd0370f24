"""``umu-hf hub export | push``: a bench model as a Hub model folder whose card lists its results in
``model-index``, and the upload through ``huggingface_hub.HfApi`` (recorded here: nothing leaves the machine)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from huggingface_hub import HfApi, ModelCard

from umu_hf.cli import main
from umu_hf.data.schema import SETS, TASKS
from umu_hf.errors import UmuError
from umu_hf.hub.export import export_model
from umu_hf.hub.push import push_folder
from umu_hf.outputs import MARKER
from umu_hf.scoring import HEADLINE_METRICS

MODALITY_KEYS = {"classification": "acc", "cloze": "acc", "generation": "rougeL"}
NPO_RECORD = {"method": "npo", "protocol": "original", "features": {"label_mode": "full", "eos": False},
              "learning_rate": 0.00062, "num_train_epochs": 1, "alpha": 1.0, "gamma": 0.0, "beta": 0.4, "seed": 0,
              "lora": {"r": 4, "alpha": 32, "dropout": 0.05, "target_modules": ["q_proj", "v_proj"],
                       "init": "gaussian"}}


def expected_metrics(results: dict) -> dict[str, float]:
    """``{model-index type: value}`` read straight from a results.json: every headline metric and every
    per-modality accuracy / ROUGE-L of every set and task."""
    expected = {}
    for s, tasks in results["headline"].items():
        for t, block in tasks.items():
            ((metric, value),) = block.items()
            expected[f"{s}_{t}_{metric}"] = value
            for modality in ("unimodal", "multimodal"):
                key = f"{modality}_{MODALITY_KEYS[t]}"
                expected[f"{s}_{t}_{key}"] = results["sets"][s][t][key]
    return expected


def _results(offset: float) -> dict:
    """A results.json with a distinct number in every place (a metric read from the wrong place shows)."""
    headline: dict = {}
    sets: dict = {}
    for i, s in enumerate(SETS):
        for j, t in enumerate(TASKS):
            base = offset + 10 * i + j
            metric = HEADLINE_METRICS[t][s]
            kind = MODALITY_KEYS[t]
            headline.setdefault(s, {})[t] = {metric: base + 0.125}
            sets.setdefault(s, {})[t] = {metric: base + 0.125, f"unimodal_{kind}": base + 0.25,
                                         f"multimodal_{kind}": base + 0.5, "n": 3}
    return {"umu_hf_version": "0.1.0", "forget_ratio": 5, "settings": {"limit": None}, "headline": headline,
            "sets": sets}


def _model(tiny: Path, folder: Path, record: dict | None) -> None:
    shutil.copytree(tiny, folder, ignore=shutil.ignore_patterns(MARKER, "README.md"))
    if record is not None:
        (folder / "umu_training.json").write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture()
def hand_bench(tmp_path, tiny_model_dir) -> Path:
    """A bench folder written by hand around the tiny LLaVA (no training): tiny → vanilla → npo, npo's second
    seed, results with distinct numbers and a leaderboard row over two seeds; its data named by a Hub id."""
    bench = tmp_path / "bench"
    _model(tiny_model_dir, bench / "models" / "tiny-aaa", None)
    _model(tiny_model_dir, bench / "models" / "vanilla-bbb",
           {"method": "finetune", "protocol": "umu-hf", "model": str(bench / "models" / "tiny-aaa"), "seed": 0,
            "lora": None})
    for folder, seed in (("npo-ccc", 0), ("npo-ddd", 1)):
        _model(tiny_model_dir, bench / "models" / folder / "merged",
               {**NPO_RECORD, "seed": seed, "model": str(bench / "models" / "vanilla-bbb")})
    models = []
    for name, path, method, offset in (("vanilla", "models/vanilla-bbb", None, 0.0),
                                       ("npo", "models/npo-ccc/merged", "npo", 100.0),
                                       ("npo (seed 1)", "models/npo-ddd/merged", "npo", 200.0)):
        results = bench / "evals" / f"{name.split()[0]}-{int(offset)}" / "results.json"
        results.parent.mkdir(parents=True)
        results.write_text(json.dumps(_results(offset)), encoding="utf-8")
        models.append({"name": name, "path": path, "results": str(results.relative_to(bench)), "method": method})
    (bench / "bench.json").write_text(json.dumps({"forget_ratio": 5, "data": "hub:org/umu-bench",
                                                  "models": models}), encoding="utf-8")
    cells = {f"{s}/{t}": {"mean": 42.0 + i, "sd": 1.5, "n": 2} for i, (s, t) in
             enumerate((s, t) for s in SETS for t in TASKS)}
    board = {"rows": [{"model": "npo", "forget_ratio": 5, "cells": cells}], "training": {"seeds": [0, 1]}}
    (bench / "leaderboard.json").write_text(json.dumps(board), encoding="utf-8")
    return bench


def _generates(folder: Path) -> str:
    """Load ``folder`` with the Auto classes (nothing else) and generate a reply to a question with an image."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True)
    processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
    inputs = processor(text=["USER: <image>\nWho is the person in the image?\nASSISTANT:"],
                       images=[Image.new("RGB", (64, 64), "white")], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    return processor.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0]


def _eval_results(folder: Path) -> dict[str, object]:
    return {r.metric_type: r for r in ModelCard.load(folder / "README.md").data.eval_results}


def test_card_lists_every_metric_of_results_json_and_the_folder_loads(hand_bench, tmp_path):
    out = tmp_path / "npo-seed1"
    assert main(["hub", "export", "--bench-dir", str(hand_bench), "--model", "npo (seed 1)", "--out", str(out),
                 "--license", "apache-2.0"]) == 0
    results = json.loads((hand_bench / "evals" / "npo-200" / "results.json").read_text())
    found = _eval_results(out)
    assert {k: r.metric_value for k, r in found.items()} == expected_metrics(results)
    assert len(found) == 27  # 3 sets x 3 tasks: the headline metric and both modalities
    for r in found.values():
        assert (r.task_type, r.dataset_type, r.dataset_config, r.dataset_split) == (
            "visual-question-answering", "org/umu-bench", "forget05", "train")
        assert r.metric_name
    assert found["forget_classification_AccF"].metric_name == "forget Cls AccF ↓"
    assert found["retain_generation_multimodal_rougeL"].metric_name == "retain Gen mm ROUGE-L ↑"
    card = ModelCard.load(out / "README.md")
    assert card.data.datasets == ["org/umu-bench"] and "npo" in card.data.tags
    assert card.data.model_name == "npo-seed1" and card.data.pipeline_tag == "image-text-to-text"
    assert card.data.license == "apache-2.0"
    body = card.text
    assert "- method: npo" in body and "- protocol: original" in body
    assert "embedded tiny LLaVA (`models/tiny-aaa`" in body and "fine-tuned (`models/vanilla-bbb`" in body
    assert "unlearned with `npo` (`models/npo-ddd`, protocol original)" in body
    assert "`beta`: 0.4" in body and "LoRA r 4, alpha 32" in body and "`seed`: 1" in body
    assert "| forget | classification | AccF ↓ | 200.1 | 3 | 42.0 ± 1.5 |" in body  # with the bench's 2 seeds
    assert "Not paper numbers" in body and "One seed" in body and "github.com/QDRhhhh/UMU-bench" in body
    # the files: weights, processor, the record and results as the bench has them; the marker is umu-hf's own
    merged = hand_bench / "models" / "npo-ddd" / "merged"
    assert (out / "model.safetensors").read_bytes() == (merged / "model.safetensors").read_bytes()
    assert json.loads((out / "umu_training.json").read_text())["seed"] == 1
    from umu_hf.hub.export import published

    assert json.loads((out / "results.json").read_text()) == published(results)  # local paths left out
    for name in ("results.json", "umu_training.json"):
        assert str(tmp_path) not in (out / name).read_text() and str(hand_bench) not in (out / name).read_text()
    assert {"config.json", "processor_config.json", "tokenizer.json", "README.md", MARKER} <= {
        p.name for p in out.iterdir()}
    assert not list(out.parent.glob(".npo-seed1.tmp-*"))  # written aside, then renamed
    assert isinstance(_generates(out), str)


def test_dataset_id_names_the_published_dataset_of_local_data(hand_bench, tmp_path):
    manifest = json.loads((hand_bench / "bench.json").read_text())
    (hand_bench / "data" / "synth-1234").mkdir(parents=True)
    (hand_bench / "bench.json").write_text(json.dumps({**manifest, "data": "data/synth-1234"}))
    out = export_model(hand_bench, "vanilla", tmp_path / "a")[0]
    (r, *_) = _eval_results(out).values()
    assert r.dataset_type == "local:synth-1234" and "not on the Hub" in r.dataset_name
    card = ModelCard.load(out / "README.md")
    assert card.data.datasets is None and "umu-hf's synthetic stand-in" in card.text
    assert "the vanilla model (fine-tuned on every profile" in card.text and "- method: none" in card.text
    out = export_model(hand_bench, "vanilla", tmp_path / "b", dataset_id="me/umu-synth")[0]
    assert {r.dataset_type for r in _eval_results(out).values()} == {"me/umu-synth"}
    assert ModelCard.load(out / "README.md").data.datasets == ["me/umu-synth"]
    with pytest.raises(UmuError, match="--dataset-id 'nope': expected"):
        export_model(hand_bench, "vanilla", tmp_path / "c", dataset_id="nope")


def _one_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_bad_names_and_folders_give_one_clear_error(hand_bench, tmp_path, capsys):
    def export(*extra: str, model: str = "npo", bench: Path = hand_bench) -> int:
        return main(["hub", "export", "--bench-dir", str(bench), "--model", model, *extra])

    assert export("--out", str(tmp_path / "x"), model="nope") == 2
    assert "no model named 'nope' in bench.json; known: vanilla, npo, npo (seed 1)" in _one_error(capsys)
    assert export("--out", str(tmp_path / "x"), bench=tmp_path / "missing") == 2
    assert "is not a folder" in _one_error(capsys)
    (tmp_path / "not-a-bench").mkdir()
    assert export("--out", str(tmp_path / "x"), bench=tmp_path / "not-a-bench") == 2
    assert "bench.json not found" in _one_error(capsys)
    assert export("--out", str(hand_bench / "export")) == 2
    assert "lies inside the bench folder" in _one_error(capsys)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert export("--out", str(foreign)) == 2
    assert "already exists; pass --overwrite" in _one_error(capsys)
    assert export("--out", str(foreign), "--overwrite") == 2
    assert "was not written by umu-hf" in _one_error(capsys) and (foreign / "notes.txt").is_file()
    out = tmp_path / "again"  # its own earlier export is replaced with --overwrite
    assert export("--out", str(out)) == 0 and export("--out", str(out), "--overwrite", model="vanilla") == 0
    assert json.loads((out / "umu_training.json").read_text())["method"] == "finetune"
    (hand_bench / "models" / "npo-ccc" / "merged" / "model.safetensors").unlink()
    assert export("--out", str(tmp_path / "y")) == 2
    assert "no safetensors weights" in _one_error(capsys) and not (tmp_path / "y").exists()


@pytest.fixture()
def hub_calls(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Every call the push makes to ``HfApi`` (create_repo, create_branch, upload_folder), answered locally."""
    from huggingface_hub import RepoUrl

    calls: list[tuple[str, tuple, dict]] = []

    def recorder(name: str, answer=None):
        def method(self, *args, **kwargs):
            calls.append((name, args, kwargs))
            return answer
        return method

    monkeypatch.setattr(HfApi, "create_repo", recorder("create_repo", RepoUrl("https://huggingface.co/org/npo")))
    monkeypatch.setattr(HfApi, "create_branch", recorder("create_branch"))
    monkeypatch.setattr(HfApi, "upload_folder", recorder("upload_folder"))
    return calls


def _uploaded(folder: Path, ignore: list[str]) -> set[str]:
    """The files ``upload_folder`` sends from ``folder`` with these ignore patterns (huggingface_hub's filter)."""
    from huggingface_hub.utils import filter_repo_objects

    files = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()]
    return set(filter_repo_objects(files, ignore_patterns=ignore))


def test_push_creates_the_repo_and_uploads_the_folder(hand_bench, tmp_path, hub_calls, capsys):
    out = export_model(hand_bench, "npo", tmp_path / "npo")[0]
    assert main(["hub", "push", str(out), "--repo-id", "org/npo", "--private", "--revision", "v1"]) == 0
    assert "pushed" in capsys.readouterr().out
    (create, create_args, create_kw), (branch, branch_args, branch_kw), (upload, _, upload_kw) = hub_calls
    assert (create, create_args, create_kw) == (
        "create_repo", ("org/npo",), {"repo_type": "model", "private": True, "exist_ok": True})
    assert (branch, branch_args, branch_kw) == ("create_branch", ("org/npo",),
                                                {"branch": "v1", "repo_type": "model", "exist_ok": True})
    assert upload == "upload_folder"
    assert {k: upload_kw[k] for k in ("folder_path", "repo_id", "repo_type", "revision", "path_in_repo")} == {
        "folder_path": str(out), "repo_id": "org/npo", "repo_type": "model", "revision": "v1", "path_in_repo": None}
    sent = _uploaded(out, upload_kw["ignore_patterns"])
    assert {"README.md", "model.safetensors", "config.json", "results.json", "umu_training.json"} <= sent
    assert MARKER not in sent
    hub_calls.clear()  # a bench folder goes to a dataset repo (the Space reads it from there), main branch
    (hand_bench / ".umu-lock").write_text("1")
    assert main(["hub", "push", str(hand_bench), "--repo-id", "org/bench", "--repo-type", "dataset"]) == 0
    assert [c[0] for c in hub_calls] == ["create_repo", "upload_folder"]
    upload_kw = hub_calls[1][2]
    assert upload_kw["repo_type"] == "dataset" and upload_kw["revision"] is None
    sent = _uploaded(hand_bench, upload_kw["ignore_patterns"])
    assert {"bench.json", "leaderboard.json", "models/npo-ccc/merged/model.safetensors"} <= sent
    assert ".umu-lock" not in sent


def test_push_of_a_dataset_folder(synth_dir, hub_calls):
    push_folder(synth_dir, "org/umu-synth", repo_type="dataset")
    assert hub_calls[0][2]["repo_type"] == "dataset" and hub_calls[-1][2]["folder_path"] == str(synth_dir)


def test_push_refuses_what_does_not_belong_with_one_clear_error(hand_bench, synth_dir, tmp_path, hub_calls,
                                                                 capsys):
    def push(folder: Path, *extra: str) -> str:
        assert main(["hub", "push", str(folder), "--repo-id", "org/x", *extra]) == 2
        return _one_error(capsys)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "README.md is missing or has no model-index results" in push(empty)
    (empty / "README.md").write_text("---\nlicense: mit\n---\n# a card without results\n")
    assert "has no model-index results" in push(empty)
    assert "has no model-index results" in push(synth_dir)  # a dataset is not a model
    assert "is not a folder" in push(tmp_path / "missing")
    out = export_model(hand_bench, "npo", tmp_path / "npo")[0]
    assert "neither a dataset folder" in push(out, "--repo-type", "dataset")  # a model is not a dataset
    assert "expected ORG/NAME" in push(out, "--repo-id", "no id")
    assert hub_calls == []  # refused before anything was sent


def test_a_failing_upload_is_one_clear_error(hand_bench, tmp_path, monkeypatch, capsys):
    from huggingface_hub import RepoUrl

    def refuse(self, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(HfApi, "create_repo", lambda self, *a, **k: RepoUrl("https://huggingface.co/org/npo"))
    monkeypatch.setattr(HfApi, "upload_folder", refuse)
    out = export_model(hand_bench, "npo", tmp_path / "npo")[0]
    assert main(["hub", "push", str(out), "--repo-id", "org/npo"]) == 2
    err = _one_error(capsys)
    assert "pushing" in err and "connection refused" in err and "HF_TOKEN" in err


@pytest.fixture(scope="module")
def reduced_bench(reduced_bench_run) -> Path:
    """The folder of conftest's :func:`reduced_bench_run` (``Bench(out, _reduced())``, shared with test_bench.py)."""
    return reduced_bench_run[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vanilla", "npo"])
def test_export_from_a_reduced_bench(reduced_bench, tmp_path, name):
    """The real thing: a bench run's model exported through the CLI; its card has every number of its
    results.json, and the folder loads with the Auto classes and generates."""
    from umu_hf.bench.manifest import read_manifest

    out = tmp_path / name
    assert main(["hub", "export", "--bench-dir", str(reduced_bench), "--model", name, "--out", str(out)]) == 0
    entry = read_manifest(reduced_bench).model(name)
    results = json.loads((reduced_bench / entry.results).read_text())
    found = _eval_results(out)
    assert {k: r.metric_value for k, r in found.items()} == pytest.approx(expected_metrics(results), abs=1e-4)
    assert len(found) == 27 and {r.dataset_type for r in found.values()} == {
        f"local:{Path(read_manifest(reduced_bench).data).name}"}
    text = ModelCard.load(out / "README.md").text
    record = json.loads((out / "umu_training.json").read_text())
    from umu_hf.hub.export import published

    assert record == published(json.loads((reduced_bench / entry.path / "umu_training.json").read_text()))
    assert str(reduced_bench) not in (out / "umu_training.json").read_text()
    assert f"- protocol: {record['protocol']}" in text and "Partial evaluation" in text
    assert ("unlearned with `npo`" in text) == (name == "npo") and "embedded tiny LLaVA" in text
    assert isinstance(_generates(out), str)


def test_a_number_that_could_not_be_computed_is_left_out_of_model_index(hand_bench, tmp_path):
    """A metric results.json holds as null (no questions) is no model-index result and a dash in the table."""
    file = hand_bench / "evals" / "npo-100" / "results.json"
    results = json.loads(file.read_text())
    results["headline"]["real"]["cloze"]["AccR"] = None
    results["sets"]["real"]["cloze"].update(AccR=None, unimodal_acc=None, multimodal_acc=None)
    file.write_text(json.dumps(results))
    out = export_model(hand_bench, "npo", tmp_path / "npo")[0]
    found = _eval_results(out)
    assert len(found) == 24 and not {"real_cloze_AccR", "real_cloze_unimodal_acc"} & set(found)
    text = ModelCard.load(out / "README.md").text
    assert "| real | cloze | AccR ↑ | – | 3 | 49.0 ± 1.5 |" in text and "| real | cloze (acc ↑) | – | – |" in text
