"""The relearning attack across modalities (issue 13) on the embedded tiny LLaVA."""

from __future__ import annotations

import json

import pytest
import torch

from umu_hf.errors import UmuError
from umu_hf.privacy.relearn import RELEARN_TASKS, STREAMS, RelearnSettings, forget_pairs, relearn_model


def test_settings_are_checked():
    with pytest.raises(UmuError):
        RelearnSettings(steps=0)
    with pytest.raises(UmuError):
        RelearnSettings(learning_rate=float("nan"))


@pytest.mark.parametrize("stream", list(STREAMS))
def test_relearning_changes_the_weights_within_its_steps(stream, tiny_model_dir, synth_dir):
    from umu_hf.models.loading import load_model

    before = {k: v.clone() for k, v in load_model(str(tiny_model_dir), "cpu", "float32")[0].state_dict().items()}
    loaded = load_model(str(tiny_model_dir), "cpu", "float32")
    pairs, images = forget_pairs(str(synth_dir), 5, stream)
    assert all(p.with_image == STREAMS[stream][1] for p in pairs)
    model, log = relearn_model(loaded, pairs, images, RelearnSettings(steps=2, device="cpu", batch_size=2))
    assert log["steps"] == 2 and log["pairs"] == len(pairs)
    after = model.state_dict()
    assert set(after) == set(before)  # LoRA merged away: the same architecture as the input
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_cli_relearn_writes_the_report(tiny_model_dir, synth_dir, tmp_path, capsys):
    from umu_hf.cli import main

    out = tmp_path / "relearn"
    rc = main(["relearn", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--forget-ratio", "5",
               "--out", str(out), "--steps", "2", "--batch-size", "2", "--limit", "1", "--device", "cpu"])
    assert rc == 0
    report = json.loads((out / "relearn.json").read_text(encoding="utf-8"))
    assert report["steps"] == 2
    for task in RELEARN_TASKS:
        assert set(report[task]) == {"before", "text_only", "image", "steps"}
        for stage in ("before", *STREAMS):
            row = report[task][stage]
            assert {"unimodal", "multimodal", "AccF"} <= set(row)
            assert all(0 <= row[k] <= 100 for k in ("unimodal", "multimodal", "AccF"))
    assert {s: report["training"][s]["steps"] for s in STREAMS} == {"text_only": 2, "image": 2}
    assert not list(out.glob(".relearn.json*"))  # written atomically: no temporary left
    assert "text_only" in capsys.readouterr().out
