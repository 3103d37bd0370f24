"""The accuracy probe and the trajectories it records during unlearning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from umu_hf.data.load import load_umu_split
from umu_hf.errors import UmuError
from umu_hf.evaluation.probe import AccuracyProbe, probe_keys
from umu_hf.models.loading import load_model
from umu_hf.trainers.trajectory import TRAJECTORY_FILE, parse_eval_every


def _splits(synth_dir: Path) -> dict:
    return {"forget": load_umu_split(synth_dir, "forget10", as_dataset=False),
            "retain": load_umu_split(synth_dir, "retain90", as_dataset=False)}


def test_probe_with_the_evaluations_budgets_is_the_evaluation(tiny_model_dir, synth_dir, tmp_path):
    from umu_hf.evaluation.runner import EvalRequest, evaluate_model
    from umu_hf.prompts import MAX_NEW_TOKENS

    # the first person of each set: the evaluation's first 6 question pairs per task, the probe's first profile.
    # The probe asks no generation question: the evaluation's generation budget (200 tokens, the longest) is
    # cut; classification and cloze keep the original budgets, which the probe is given.
    results = evaluate_model(EvalRequest(str(tiny_model_dir), str(synth_dir), 10, tmp_path / "eval", device="cpu",
                                         sets=("forget", "retain"), limit=6, max_new_tokens={"generation": 4}))
    model, _, adapter = load_model(str(tiny_model_dir), "cpu")
    probe = AccuracyProbe(adapter, _splits(synth_dir), people=1, batch_size=5, max_new_tokens=MAX_NEW_TOKENS)
    values = probe(model)
    assert list(values) == probe_keys()
    for key, value in values.items():
        set_name, task, modality = key.split("/")
        assert value == pytest.approx(results["sets"][set_name][task][f"{modality}_acc"]), key
    assert not model.training


def test_probe_leaves_a_training_model_training(tiny_model_dir, synth_dir):
    model, _, adapter = load_model(str(tiny_model_dir), "cpu")
    probe = AccuracyProbe(adapter, _splits(synth_dir), people=1)
    model.train()
    probe(model)
    assert model.training
    assert set(probe.counts.values()) == {6}  # one person's six questions per set, task and modality


def test_eval_every_is_checked():
    assert parse_eval_every("3") == 3 and parse_eval_every("Epoch") == "epoch" and parse_eval_every("") is None
    for bad in ("-1", "often", "0.5"):
        with pytest.raises(UmuError, match="--eval_every"):
            parse_eval_every(bad)


def test_unlearning_records_its_trajectory(tiny_model_dir, small_synth_dir, tmp_path):
    """A point at step 0, every ``eval_every`` steps and at the last step. (Each point asks every classification
    and cloze question of the forget and retain sets: the small dataset keeps the four of them short.)"""
    from umu_hf.trainers.jobs import unlearn
    from umu_hf.trainers.lora import LoraArguments
    from umu_hf.trainers.methods.gd import GDConfig

    out = tmp_path / "gd"
    config = GDConfig(output_dir=str(out), max_steps=5, per_device_train_batch_size=2, learning_rate=1e-2,
                      use_cpu=True, save_strategy="no", disable_tqdm=True, eval_every="2")
    unlearn("gd", str(tiny_model_dir), small_synth_dir, 5, config, LoraArguments(lora_r=4).settings())
    saved = json.loads((out / TRAJECTORY_FILE).read_text())
    assert [p["step"] for p in saved["points"]] == [0, 2, 4, 5]
    assert all(list(p["values"]) == probe_keys() for p in saved["points"])
    assert saved["every"] == 2 and "greedy" in saved["scoring"]
