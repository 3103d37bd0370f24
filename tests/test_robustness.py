"""umu-hf eval --robustness: portrait transforms and extraction, measured on the evaluated model."""

from __future__ import annotations

import importlib.util
import json

import pytest
from PIL import Image

from umu_hf.robustness.extraction import exact_memorization, extraction_strength
from umu_hf.robustness.transforms import TRANSFORMS


def test_transforms_are_deterministic_same_size_and_change_the_portrait():
    import numpy as np

    rng = np.random.default_rng(0)
    portrait = Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8), "RGB")
    for name, transform in TRANSFORMS.items():
        once, twice = transform(portrait), transform(portrait)
        assert once.size == portrait.size and once.mode == "RGB", name
        assert once.tobytes() == twice.tobytes(), name  # no randomness
        assert once.tobytes() != portrait.tobytes(), name
    assert TRANSFORMS["flip"](TRANSFORMS["flip"](portrait)).tobytes() == portrait.tobytes()


@pytest.mark.parametrize(("hits", "em", "es"), [
    ([True] * 5, 1.0, 1.0),
    ([False, False, True, True, True], 0.6, 0.6),
    ([True, False, True, True], 0.75, 0.5),
    ([True, True, True, False], 0.75, 0.25),  # open-unlearning's loop stops at k = L - 1: ES = 1 / L, not 0
    ([False], 0.0, 1.0),
])
def test_exact_memorization_and_extraction_strength_follow_open_unlearning(hits, em, es):
    assert exact_memorization(hits) == pytest.approx(em)
    assert extraction_strength(hits) == pytest.approx(es)


def test_quantized_copy_leaves_the_model_alone_and_says_when_4_bits_cannot_run(tiny_model_dir):
    pytest.importorskip("torchao", reason="the robustness extra (torchao); CI installs it and runs this file again")
    import torch

    from umu_hf.models.loading import load_model
    from umu_hf.robustness.quantize import QuantizationUnavailable, quantized_copy

    model, _processor, _adapter = load_model(str(tiny_model_dir), "cpu", "float32")
    before = {name: p.clone() for name, p in model.named_parameters()}
    quantized = quantized_copy(model, 8)
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())  # the model is untouched
    linear = [m for m in quantized.modules() if isinstance(m, torch.nn.Linear)]
    assert linear and {type(m.weight).__name__ for m in linear} == {"Int8Tensor"}  # torchao's int8 weights
    with pytest.raises(QuantizationUnavailable, match="no int4 weight-only kernel for the CPU"):
        quantized_copy(model, 4)


@pytest.mark.slow
def test_eval_robustness_block(tiny_model_dir, synth_dir, tmp_path, capsys):
    """The untransformed cell asks what the evaluation asked (same multimodal accuracy); every transform is
    measured on the same questions with its change; extraction's hits are the argmax of a teacher-forced pass."""
    import torch

    from umu_hf.cli import main
    from umu_hf.data.collate import IGNORE_INDEX, UMUCollator
    from umu_hf.data.load import load_umu_split
    from umu_hf.models.loading import load_model
    from umu_hf.privacy.mia import split_pairs

    out = tmp_path / "eval"
    code = main(["eval", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--forget-ratio", "10",
                 "--out", str(out), "--limit", "2", "--device", "cpu", "--robustness", "--no-progress"])
    assert code == 0
    assert "robustness (multimodal accuracy" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    block = results["robustness"]
    assert set(block["image"]) == {"none", *TRANSFORMS}
    for set_name in ("forget", "retain"):
        for task in ("classification", "cloze"):
            plain = block["image"]["none"][set_name][task]
            assert plain["multimodal_acc"] == pytest.approx(results["sets"][set_name][task]["multimodal_acc"])
            for name in TRANSFORMS:
                cell = block["image"][name][set_name][task]
                assert cell["n"] == plain["n"] > 0
                assert cell["change"] == pytest.approx(cell["multimodal_acc"] - plain["multimodal_acc"])
    # paraphrases: the dataset's wording is the evaluation's numbers; two paraphrases per question
    for set_name in ("forget", "retain"):
        for task in ("classification", "cloze", "generation"):
            for modality in ("unimodal", "multimodal"):
                cell = block["paraphrase"][set_name][task][modality]
                key = f"{modality}_rougeL" if task == "generation" else f"{modality}_acc"
                assert cell["plain"] == pytest.approx(results["sets"][set_name][task][key])
                assert cell["n"] == 2 * results["sets"][set_name][task]["n"]
                assert cell["change"] == pytest.approx(cell["score"] - cell["plain"])

    # extraction: recompute the unimodal forget answers' exact memorization from one forward pass
    model, _processor, adapter = load_model(str(tiny_model_dir), "cpu", "float32")
    pairs, images = split_pairs(load_umu_split(str(synth_dir), "forget10", as_dataset=False), "forget", 2)
    batch = UMUCollator(adapter, images, {}, label_mode="answer", refusals=[], eos=False).encode(
        pairs["unimodal"], [p.answer for p in pairs["unimodal"]])
    labels = batch.pop("labels")
    with torch.inference_mode():
        predicted = model(**batch).logits[:, :-1].argmax(-1)
    targets = labels[:, 1:]
    scored = targets != IGNORE_INDEX
    em = [float((predicted[i][scored[i]] == targets[i][scored[i]]).float().mean()) for i in range(len(targets))]
    cell = block["extraction"]["unimodal"]
    assert cell["n"] == len(pairs["unimodal"])
    assert cell["exact_memorization"] == pytest.approx(100 * sum(em) / len(em))
    assert 0 <= cell["extraction_strength"] <= 100

    # quantization: with the robustness extra an 8-bit copy answered, without it the part says why
    quantization = block["quantization"]
    if importlib.util.find_spec("torchao") is None:  # the part says why instead of giving numbers
        assert all("torchao is not installed" in quantization[w]["unavailable"] for w in ("int8", "int4"))
        return
    assert "no int4 weight-only kernel for the CPU" in quantization["int4"]["unavailable"]
    for set_name in ("forget", "retain"):
        for task in ("classification", "cloze"):
            cell = quantization["int8"][set_name][task]
            for modality in ("unimodal", "multimodal"):
                plain = results["sets"][set_name][task][f"{modality}_acc"]
                assert cell["recovery"][modality] == pytest.approx(cell[f"{modality}_acc"] - plain)


def test_terminal_report_reads_every_part():
    from umu_hf.robustness.block import format_robustness

    cell = {"multimodal_acc": 50.0, "n": 4, "change": None}
    image = {name: {s: {"classification": dict(cell), "cloze": dict(cell)} for s in ("forget", "retain")}
             for name in ("none", "blur")}
    quantized = {"unimodal_acc": 75.0, "multimodal_acc": 75.0, "n": 4,
                 "recovery": {"unimodal": 0.0, "multimodal": 25.0}}
    block = {
        "paraphrase": {"forget": {"cloze": {"unimodal": {"score": 40.0, "change": -10.0},
                                            "multimodal": {"score": None, "change": None}}}},
        "image": image,
        "extraction": {"unimodal": {"exact_memorization": 90.0, "extraction_strength": 80.0},
                       "multimodal": {"exact_memorization": None, "extraction_strength": None}},
        "quantization": {"library": "torchao", "int8": {s: {"classification": quantized, "cloze": quantized}
                                                        for s in ("forget", "retain")},
                         "int4": {"unavailable": "no kernel"}},
    }
    text = format_robustness(block)
    assert "blur" in text and "classification 50.0 / 50.0" in text
    assert "exact memorization 90.0, extraction strength 80.0" in text and "exact memorization –" in text
    assert "int8: forget multimodal recovery classification 25.0, cloze 25.0" in text
    assert "int4: unavailable (no kernel)" in text
    assert "cloze 40.0 (-10.0) / – (–)" in text


def _block(change: float, em: float, recovery: float) -> dict:
    cells = {s: {t: {"multimodal_acc": 50.0, "n": 4, "change": change} for t in ("classification", "cloze")}
             for s in ("forget", "retain")}
    quant = {s: {t: {"recovery": {"unimodal": recovery, "multimodal": 2 * recovery}} for t in ("classification", "cloze")}
             for s in ("forget", "retain")}
    return {"image": {name: cells for name in ("none", *TRANSFORMS)},
            "extraction": {"unimodal": {"exact_memorization": em, "extraction_strength": em / 2},
                           "multimodal": {"exact_memorization": em, "extraction_strength": em / 2}},
            "quantization": {"int8": quant, "int4": {"unavailable": "no kernel"}}}


def test_leaderboard_robustness_cells_and_table():
    from umu_hf.leaderboard.markdown import cell_text
    from umu_hf.leaderboard.robustness import markdown, robustness_cells, run_values

    values = run_values(_block(change=10.0, em=80.0, recovery=5.0))
    assert values["image/blur/forget"] == 10.0 and values["extraction/extraction_strength_multimodal"] == 40.0
    assert values["quantization/int8_multimodal"] == 10.0 and values["quantization/int4_unimodal"] is None
    cells = robustness_cells([_block(10.0, 80.0, 5.0), _block(20.0, 60.0, 15.0)], [0, 1])
    assert cells["image/jpeg/retain"]["mean"] == 15.0 and cells["extraction/exact_memorization_unimodal"]["mean"] == 70.0
    from umu_hf.leaderboard.robustness import robustness_columns

    board = {"rows": [{"model": "ga", "forget_ratio": 15, "robustness": cells}], "robustness_columns": robustness_columns()}
    text = "\n".join(markdown(board, cell_text))
    assert "| 15 | ga | 15.0 ± 7.1 |" in text and "int8 recovery forget mm" in text
    assert "int4" not in text  # a column with no number in any row (4 bits on CPU) is left out
    assert markdown({"rows": [{"model": "ga", "forget_ratio": 15}]}, cell_text) == []


def test_data_without_paraphrases_says_so(tiny_model_dir, legacy_dir, tmp_path):
    """Data in the original release's layout has no paraphrases: the part is "unavailable", never a number."""
    from umu_hf.evaluation.request import EvalRequest
    from umu_hf.models.loading import load_model
    from umu_hf.robustness.block import RobustnessBlock

    block = RobustnessBlock(EvalRequest(str(tiny_model_dir), str(legacy_dir), 5, tmp_path / "out", limit=1))
    block.prepare(tmp_path, {})
    model, _processor, adapter = load_model(str(tiny_model_dir), "cpu", "float32")
    assert "no paraphrased questions" in block._paraphrase(model, adapter, 8)["unavailable"]


def test_synthetic_items_carry_two_paraphrases_with_the_same_answer(synth_rows):
    from umu_hf.data.schema import validate_row

    row = synth_rows[0]
    for column in ("Classify", "Cloze", "Generation"):
        for modality in ("unimodal", "multimodal"):
            for item in row[column][modality]:
                assert len(item["paraphrases"]) == 2 and item["question"] not in item["paraphrases"]
                if column == "Cloze":
                    assert all("___" in text for text in item["paraphrases"])
    subject = "the person in the image"
    assert all(subject in p.lower() for item in row["Classify"]["multimodal"] for p in item["paraphrases"])
    validate_row(row, "row 0")
    bad = {**row, "Cloze": {**row["Cloze"], "unimodal": [{**row["Cloze"]["unimodal"][0], "paraphrases": [""]},
                                                          *row["Cloze"]["unimodal"][1:]]}}
    with pytest.raises(Exception, match="paraphrases"):
        validate_row(bad, "row 0")
