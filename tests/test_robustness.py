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


def test_variant_scores_from_replies_alone():
    """Each variant against the plain replies of its modality; one error per bad argument, naming it."""
    from umu_hf.errors import UmuError
    from umu_hf.robustness.compare import variant_scores
    from umu_hf.scoring import EmptyInputWarning

    rows = dict(predictions=["Lyon", "no idea", "nurse", "Lyon", "a teacher"],
                references=["Lyon.", "Teacher", "Nurse", "Lyon.", "Teacher"],
                modalities=["unimodal", "unimodal", "multimodal", "unimodal", "unimodal"],
                variants=["plain", "plain", "plain", "paraphrase_1", "paraphrase_1"])
    assert variant_scores("cloze", **rows) == {
        "plain": {"unimodal": {"score": 50.0, "n": 2}, "multimodal": {"score": 100.0, "n": 1}},
        "paraphrase_1": {"unimodal": {"score": 100.0, "plain": 50.0, "n": 2, "change": 50.0}},
    }
    with pytest.warns(EmptyInputWarning):
        assert variant_scores("generation", [], [], [], []) == {}
    for bad, message in [
        ({"variants": "plain"}, r"^variants must be a list with one entry per reply .*got str$"),
        ({"modalities": ["unimodal"] * 4}, r"^modalities has 4 entries but predictions has 5"),
        ({"modalities": None}, r"^modalities is missing"),
        ({"references": ["Lyon."] * 4}, r"^references has 4 entries but predictions has 5"),
        ({"predictions": ["Lyon", 3, "", "", ""]}, r"^predictions\[1\] must be a string"),
        ({"variants": ["plain", "plain", "plain", "plain", 7]}, r"^variants\[4\] must be the variant .*got 7$"),
    ]:
        with pytest.raises(UmuError, match=message):
            variant_scores("cloze", **{**rows, **bad})
    with pytest.raises(UmuError, match="options is required for classification"):
        variant_scores("classification", **rows)


def test_evaluate_module_gives_the_blocks_numbers_on_the_blocks_replies(tiny_model_dir, synth_dir, tmp_path,
                                                                         monkeypatch):
    """umu_bench's robustness configs, given the replies the robustness block got, return the block's numbers:
    ``image`` per transform, ``quantization`` per bit width and ``paraphrase``, per set, task and modality.

    The replies are captured as the block asks (``Asker.ask``, after scoring). The untrained tiny model answers
    garbage (accuracy 0 everywhere), so before the block scores them about half of its replies are replaced by the
    question's answer, chosen by a hash of the prompt, the portrait's pixels and whether the weights are the
    quantized copy: transforms, rewordings and quantization then move the numbers. The "8-bit copy" is a plain copy
    of the model (its replies differ through that hash; torchao is not needed), 4 bits unavailable."""
    import copy
    import zlib

    from helpers import run_metric_driver

    from umu_hf.data.schema import MODALITIES
    from umu_hf.evaluation.execute import Asker
    from umu_hf.evaluation.items import iter_items
    from umu_hf.evaluation.request import EvalRequest
    from umu_hf.models.loading import load_model
    from umu_hf.robustness import quantize
    from umu_hf.robustness.block import IMAGE_SETS, IMAGE_TASKS, PARAPHRASE_TASKS, RobustnessBlock
    from umu_hf.robustness.compare import PLAIN

    request = EvalRequest(str(tiny_model_dir), str(synth_dir), 10, tmp_path / "out", limit=3,
                          max_new_tokens={"generation": 8})
    block = RobustnessBlock(request)
    block.prepare(tmp_path, {})
    model, processor, adapter = load_model(str(tiny_model_dir), "cpu", "float32")

    answers = {}  # the answer of every prompt the block can ask: any wording, either modality
    for set_name, split in block._splits.items():
        for q in iter_items(split, set_name, PARAPHRASE_TASKS, request.limit):
            for text in (q.question, *q.paraphrases):
                answers[adapter.prompt(q.task, text, q.with_image, q.options)] = q.reference
    generate = adapter.generate

    def sometimes_right(asked: object, prompts: list, images: list | None, max_new_tokens: int) -> list[str]:
        replies = generate(asked, prompts, images, max_new_tokens)
        tag = b"" if asked is model else b"quantized"
        return [answers[text] if zlib.crc32(text.encode() + (images[i].tobytes() if images else b"") + tag) % 2
                else reply for i, (text, reply) in enumerate(zip(prompts, replies, strict=True))]

    def stand_in(asked: object, bits: int) -> object:
        if bits == 4:
            raise quantize.QuantizationUnavailable("no 4-bit copy in this test")
        return copy.deepcopy(asked)

    # label each reply with the part of the block that asked it and the variant it was asked under
    state: dict = {"part": None}
    transforms = {id(transform): name for name, transform in TRANSFORMS.items()}

    def within(part: str, method):
        def wrapped(self, *args):
            state["part"] = part
            try:
                return method(self, *args)
            finally:
                state["part"] = None
        return wrapped

    scores, ask, captured = RobustnessBlock._scores, Asker.ask, []

    def labelled(self, asked, adapter_, batch_size, set_name, questions, transform=None):
        if state["part"] == "paraphrase":
            reworded = any(q.question in q.paraphrases for q in questions)
            state["label"] = ("paraphrase", "paraphrase" if reworded else PLAIN)
        else:
            variant = "int8" if state["part"] == "quantization" else transforms.get(id(transform), PLAIN)
            state["label"] = ("accuracy", variant)
        return scores(self, asked, adapter_, batch_size, set_name, questions, transform)

    def recording(self, batch, prompts, portraits):
        records = ask(self, batch, prompts, portraits)
        captured.extend((*state["label"], record) for record in records)
        return records

    monkeypatch.setattr(adapter, "generate", sometimes_right)
    monkeypatch.setattr(quantize, "quantized_copy", stand_in)
    monkeypatch.setattr(RobustnessBlock, "_paraphrase", within("paraphrase", RobustnessBlock._paraphrase))
    monkeypatch.setattr(RobustnessBlock, "_quantization", within("quantization", RobustnessBlock._quantization))
    monkeypatch.setattr(RobustnessBlock, "_scores", labelled)
    monkeypatch.setattr(Asker, "ask", recording)
    measured = block.measure(model, processor, adapter, 8)

    # the same replies, one row each, to the module: one call per part, set and task
    groups: dict = {}
    for part, variant, record in captured:
        group = groups.setdefault(f"{part}/{record['set']}/{record['task']}",
                                  {"config": f"robustness_{record['task']}", "rows": {}})
        rows = group["rows"]
        for name, value in (("predictions", record["reply"]), ("references", record["reference"]),
                            ("modalities", record["modality"]), ("variants", variant)):
            rows.setdefault(name, []).append(value)
        if "options" in record:
            rows.setdefault("options", []).append(record["options"])
    assert len(groups) == len(IMAGE_SETS) * (len(IMAGE_TASKS) + len(PARAPHRASE_TASKS))
    (tmp_path / "rows.json").write_text(json.dumps(groups))
    run_metric_driver(tmp_path / "driver", "robustness", str(tmp_path / "rows.json"), str(tmp_path / "module.json"))
    module = json.loads((tmp_path / "module.json").read_text())

    changes = {"image": [], "quantization": [], "paraphrase": []}
    for set_name in IMAGE_SETS:
        for task in IMAGE_TASKS:
            got = module[f"accuracy/{set_name}/{task}"]
            plain = measured["image"]["none"][set_name][task]
            assert (plain["multimodal_acc"], plain["n"]) == (got[PLAIN]["multimodal"]["score"],
                                                             got[PLAIN]["multimodal"]["n"])
            for name in TRANSFORMS:
                cell = measured["image"][name][set_name][task]
                assert (cell["multimodal_acc"], cell["n"], cell["change"]) == tuple(
                    got[name]["multimodal"][key] for key in ("score", "n", "change")), (set_name, task, name)
                changes["image"].append(cell["change"])
            quantized = measured["quantization"]["int8"][set_name][task]
            for modality in MODALITIES:
                assert (quantized[f"{modality}_acc"], quantized["n"], quantized["recovery"][modality]) == tuple(
                    got["int8"][modality][key] for key in ("score", "n", "change")), (set_name, task, modality)
                changes["quantization"].append(quantized["recovery"][modality])
            assert "int4" not in got and "unavailable" in measured["quantization"]["int4"]
        for task in PARAPHRASE_TASKS:
            got = module[f"paraphrase/{set_name}/{task}"]
            for modality in MODALITIES:
                assert measured["paraphrase"][set_name][task][modality] == got["paraphrase"][modality]
                changes["paraphrase"].append(got["paraphrase"][modality]["change"])
    # the comparison means something: every part has replies that the variant moved
    assert all(any(change != 0 for change in values) for values in changes.values()), changes
