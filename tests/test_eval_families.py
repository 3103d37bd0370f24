"""Chat-template model families through the runner: a tiny random Gemma 3 and Qwen2-VL, saved to a folder and
evaluated by path exactly like a Hub checkpoint; batched predictions equal one-by-one ones.

The tiny builders are the model layer tests' (``tests/helpers.py``). Without torchvision, Qwen2-VL's processor
cannot be saved and reloaded through ``AutoProcessor`` (its video processor needs torchvision), so there the
in-memory model and processor are handed to the runner (``loaded=``) instead of a folder.
"""

from __future__ import annotations

import json

import pytest
from helpers import HAS_TORCHVISION, assert_same_predictions, tiny_gemma3, tiny_qwen2_vl

from umu_hf.evaluation import store
from umu_hf.evaluation.items import LOGLIK_TASK
from umu_hf.evaluation.runner import EvalRequest, evaluate_model
from umu_hf.prompts import task_instruction

pytestmark = pytest.mark.slow  # model families: builds and evaluates a random Gemma 3 and Qwen2-VL
BUDGETS = {"classification": 4, "cloze": 4, "generation": 6}


def _build(family: str):
    return {"gemma3": tiny_gemma3, "qwen2_vl": tiny_qwen2_vl}[family]()


def _predictions(out) -> list[dict]:
    return [json.loads(line) for line in (out / store.PREDICTIONS).read_text().splitlines()]


@pytest.mark.parametrize("family", ["gemma3", "qwen2_vl"])
def test_chat_family_evaluates_through_the_runner(family, synth_dir, tmp_path):
    from umu_hf.models.adapters import get_adapter

    model, processor = _build(family)
    model_dir = tmp_path / family
    loaded = None
    if family == "qwen2_vl" and not HAS_TORCHVISION:
        loaded = (model, processor, get_adapter(processor, model.config))
    else:
        model.save_pretrained(model_dir)
        processor.save_pretrained(model_dir)
    runs = {}
    for batch_size in (5, 1):
        out = tmp_path / f"out-bs{batch_size}"
        request = EvalRequest(
            str(model_dir),
            str(synth_dir),
            15,
            out,
            batch_size=batch_size,
            limit=2,
            device="cpu",
            classification_scoring="loglik",
            max_new_tokens=BUDGETS,
        )
        runs[batch_size] = evaluate_model(request, progress=False, loaded=loaded)
    batched, single = runs[5], runs[1]
    assert batched["settings"]["model_family"] == "chat" and batched["model"] == str(model_dir)
    assert {k: batched[k] for k in ("headline", "sets", "loglik")} == {
        k: single[k] for k in ("headline", "sets", "loglik")
    }
    rows_b, rows_1 = _predictions(tmp_path / "out-bs5"), _predictions(tmp_path / "out-bs1")
    assert len(rows_b) == 3 * (3 + 1) * 2 * 2
    assert_same_predictions(rows_b, rows_1)
    first = rows_b[0]  # the SPEC instruction as the user turn of the model's own chat template, verbatim
    text = task_instruction("classification", first["question"], first["options"])
    user = {"role": "user", "content": [{"type": "text", "text": text}]}
    assert first["prompt"] == processor.apply_chat_template(
        [user], add_generation_prompt=True, tokenize=False
    )
    assert any(r["task"] == LOGLIK_TASK and r["modality"] == "multimodal" for r in rows_b)
