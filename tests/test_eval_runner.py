"""The evaluation runner on the untrained tiny LLaVA: batched == one by one, resume == uninterrupted, settings
conflicts, option log-likelihood scoring and the CLI's one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers import assert_same_predictions

from umu_hf.errors import ResultsConflictError, UmuError
from umu_hf.evaluation import store
from umu_hf.evaluation.items import LOGLIK_TASK, iter_items
from umu_hf.evaluation.runner import EvalRequest, evaluate_model

#: short budgets keep the test fast; they are part of the run's identity like the SPEC ones
BUDGETS = {"classification": 4, "cloze": 4, "generation": 8}
LIMIT = 4  # so batches of up to 4 prompts of different lengths are padded
#: questions of one run: 3 sets x 3 tasks x LIMIT pairs x 2 modalities, plus the loglik classification ones
N_GENERATED = 3 * 3 * LIMIT * 2
N_RECORDS = N_GENERATED + 3 * LIMIT * 2


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    from umu_hf.models.loading import load_model

    return load_model(str(tiny_model_dir), "cpu", "float32")


def _run(model_dir: Path, data_dir: Path, out: Path, loaded=None, on_batch=None, extra_blocks=None,
         **kwargs) -> dict:
    kwargs.setdefault("batch_size", 6)
    kwargs.setdefault("classification_scoring", "loglik")
    request = EvalRequest(
        str(model_dir),
        str(data_dir),
        5,
        out,
        limit=LIMIT,
        device="cpu",
        dtype="float32",
        max_new_tokens=BUDGETS,
        **kwargs,
    )
    return evaluate_model(request, loaded=loaded, progress=False, on_batch=on_batch, extra_blocks=extra_blocks)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model_dir, synth_dir, loaded) -> tuple[Path, dict]:
    """An uninterrupted batched run (batch size 6, loglik on)."""
    out = tmp_path_factory.mktemp("eval") / "reference"
    return out, _run(tiny_model_dir, synth_dir, out, loaded)


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / store.PREDICTIONS).read_text().splitlines()]


def _numbers(results: dict) -> dict:
    return {k: results[k] for k in ("headline", "sets", "loglik")}


class _Counter:
    """Counts the questions the adapter is asked to generate for (wraps the real method)."""

    def __init__(self, adapter, monkeypatch):
        self.asked = 0
        original = adapter.generate

        def counting(model, prompts, images, max_new_tokens):
            self.asked += len(prompts)
            return original(model, prompts, images, max_new_tokens)

        monkeypatch.setattr(adapter, "generate", counting)


def test_reference_run_writes_results_and_predictions(reference):
    out, results = reference
    assert json.loads((out / store.RESULTS).read_text()) == results
    assert results["forget_ratio"] == 5 and results["settings"]["batch_size"] == 6
    assert results["settings"]["max_new_tokens"] == BUDGETS and results["settings"]["dtype"] == "float32"
    assert results["settings"]["option_matching"] == {"forget": "exact", "retain": "exact", "real": "closest"}
    for set_name, metric_c, metric_g in (
        ("forget", "AccF", "RLF"),
        ("retain", "AccR", "RLR"),
        ("real", "AccR", "RLR"),
    ):
        assert set(results["headline"][set_name]["cloze"]) == {metric_c}
        assert set(results["headline"][set_name]["generation"]) == {metric_g}
        assert results["sets"][set_name]["classification"]["n"] == LIMIT
        assert {"both_correct", "only_unimodal", "only_multimodal", "both_wrong"} <= set(
            results["sets"][set_name]["cloze"]
        )
        assert results["loglik"][set_name]["classification"]["n"] == LIMIT
    lines = _lines(out)
    assert len(lines) == N_RECORDS == len({r["id"] for r in lines})
    first = lines[0]
    assert first["set"] == "forget" and first["task"] == "classification" and first["modality"] == "unimodal"
    assert first["prompt"].startswith("USER:\nIn which") and first["prompt"].endswith("\nASSISTANT:")
    assert first["reference"] in first["options"] and isinstance(first["correct"], bool)
    loglik = [r for r in lines if r["task"] == LOGLIK_TASK]
    assert loglik and all(r["reply"] in r["options"] and len(r["option_logliks"]) == 4 for r in loglik)
    generation = [r for r in lines if r["task"] == "generation"]
    assert generation and all(
        0.0 <= r[key] <= 1.0 for r in generation for key in ("score", "bleu", "rouge1", "rouge2")
    )
    for set_name, metrics in results["sets"].items():  # secondary numbers: per-modality means of the records
        for modality, means in metrics["generation"]["secondary"].items():
            chosen = [r for r in generation if r["set"] == set_name and r["modality"] == modality]
            assert means == pytest.approx({k: 100 * sum(r[k] for r in chosen) / len(chosen) for k in means})
    assert not list(out.glob("predictions.rank*"))


def test_batched_predictions_equal_one_by_one(reference, tiny_model_dir, synth_dir, loaded, tmp_path):
    out, results = reference
    single = _run(tiny_model_dir, synth_dir, tmp_path / "bs1", loaded, batch_size=1)
    assert_same_predictions(_lines(tmp_path / "bs1"), _lines(out))
    assert _numbers(single) == _numbers(results)


def test_resume_after_a_crash_equals_an_uninterrupted_run(
    reference, tiny_model_dir, synth_dir, loaded, tmp_path, monkeypatch
):
    ref_out, ref_results = reference
    out = tmp_path / "resumed"

    def crash_after_three(n_batches: int) -> None:
        if n_batches == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tiny_model_dir, synth_dir, out, loaded, on_batch=crash_after_three)
    assert not (out / store.RESULTS).exists()
    path = out / store.PREDICTIONS
    path.write_bytes(path.read_bytes()[:-25])  # the last record was cut short in the middle of a write
    finished = store.read_records(path)
    assert 0 < len(finished) < N_RECORDS
    finished_generated = sum(1 for r in finished if r["task"] != LOGLIK_TASK)

    counter = _Counter(loaded[2], monkeypatch)
    resumed = _run(tiny_model_dir, synth_dir, out, loaded)
    assert counter.asked == N_GENERATED - finished_generated  # finished questions are never asked again
    assert resumed == ref_results
    assert (out / store.RESULTS).read_text() == (ref_out / store.RESULTS).read_text()
    assert_same_predictions(_lines(out), _lines(ref_out))


def test_rerun_asks_nothing_and_other_settings_are_refused(
    reference, tiny_model_dir, synth_dir, loaded, tmp_path, monkeypatch
):
    ref_out, ref_results = reference
    out = tmp_path / "copy"
    shutil.copytree(ref_out, out)
    counter = _Counter(loaded[2], monkeypatch)
    assert _run(tiny_model_dir, synth_dir, out, loaded) == ref_results
    assert counter.asked == 0
    with pytest.raises(ResultsConflictError, match=rf"limit {LIMIT} there, 1 now.*--overwrite"):
        evaluate_model(
            EvalRequest(
                str(tiny_model_dir),
                str(synth_dir),
                5,
                out,
                limit=1,
                device="cpu",
                max_new_tokens=BUDGETS,
                classification_scoring="loglik",
            ),
            loaded=loaded,
            progress=False,
        )
    with pytest.raises(ResultsConflictError, match="classification_scoring"):
        _run(tiny_model_dir, synth_dir, out, loaded, classification_scoring="generate")
    assert (out / store.RESULTS).read_text() == (ref_out / store.RESULTS).read_text()  # untouched
    other = _run(
        tiny_model_dir,
        synth_dir,
        out,
        loaded,
        classification_scoring="generate",
        sets=["real"],
        overwrite=True,
    )
    assert set(other["headline"]) == {"real"} and "loglik" not in other
    assert other["headline"]["real"] == ref_results["headline"]["real"]
    assert {r["set"] for r in _lines(out)} == {"real"}


class _SetRows:
    """An extra block: the rows of each set the run asked and what it was measured with, and the order of its
    calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.rows: dict[str, int] = {}

    def prepare(self, out: Path, splits: dict) -> None:
        self.calls.append("prepare")
        self.rows = {name: split.num_rows for name, split in splits.items()}

    def measure(self, model, processor, adapter, batch_size: int) -> dict:
        self.calls.append("measure")
        return {"rows": self.rows, "batch_size": batch_size, "family": adapter.family, "training": model.training}


def test_extra_blocks_are_measured_on_the_runs_model_and_written_with_the_rest(
    reference, tiny_model_dir, synth_dir, loaded, tmp_path, monkeypatch
):
    ref_out, ref_results = reference
    out = tmp_path / "copy"
    shutil.copytree(ref_out, out)
    counter = _Counter(loaded[2], monkeypatch)
    block = _SetRows()
    results = _run(tiny_model_dir, synth_dir, out, loaded, extra_blocks={"rows": block})
    assert counter.asked == 0  # a block is not part of the run's identity: the finished run resumes
    assert block.calls == ["prepare", "measure"]
    assert list(results)[-1] == "rows"
    assert results.pop("rows") == {"rows": {"forget": 2, "retain": 38, "real": 8}, "batch_size": 6,
                                   "family": loaded[2].family, "training": False}  # fmt: skip
    assert results == ref_results
    assert json.loads((out / store.RESULTS).read_text())["rows"]["batch_size"] == 6
    with pytest.raises(UmuError, match="extra_blocks: 'headline' is a key of results.json's own"):
        _run(tiny_model_dir, synth_dir, out, loaded, extra_blocks={"headline": _SetRows()})
    assert "rows" in json.loads((out / store.RESULTS).read_text())  # refused before anything was written


def test_changed_prompt_of_a_finished_prediction_is_refused(
    reference, tiny_model_dir, synth_dir, loaded, tmp_path
):
    out = tmp_path / "edited"
    shutil.copytree(reference[0], out)
    lines = (out / store.PREDICTIONS).read_text().splitlines()
    record = json.loads(lines[0])
    record["prompt"] = record["prompt"].replace("USER:", "User:")
    (out / store.PREDICTIONS).write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    with pytest.raises(ResultsConflictError, match="another prompt or answer"):
        _run(tiny_model_dir, synth_dir, out, loaded)


def test_option_logliks_are_batch_independent_and_length_normalised(loaded, synth_dir):
    from umu_hf.data.load import load_umu_split
    from umu_hf.evaluation.loglik import option_logliks

    model, _, adapter = loaded
    split = load_umu_split(synth_dir, "forget05")
    questions = list(iter_items(split, "forget", tasks=("classification",), limit=3))
    for modality in ("unimodal", "multimodal"):
        chosen = [q for q in questions if q.modality == modality]
        images = [split[q.row]["image"] for q in chosen] if modality == "multimodal" else None
        batched = option_logliks(model, adapter, chosen, images)
        for i, q in enumerate(chosen):
            alone = option_logliks(model, adapter, [q], None if images is None else [images[i]])[0]
            assert alone == pytest.approx(batched[i], abs=1e-4)
        # by hand, for the first question's options: mean log-probability of the option's own tokens after the
        # prompt (the end-of-turn </s> that the tiny LLaVA's training text may end with is not scored)
        q = chosen[0]
        image = None if images is None else images[:1]
        for option, score in zip(q.options, batched[0], strict=True):
            prompt_text = adapter.prompt("classification", q.question, q.with_image, q.options)
            n = adapter.encode([prompt_text], image)["input_ids"].shape[1]
            full = adapter.encode([f"{prompt_text} {option}"], image)
            with torch.inference_mode():
                logits = model(**full).logits[0].float()
            ids = full["input_ids"][0]
            logprobs = logits[n - 1 : -1].log_softmax(-1).gather(-1, ids[n:].unsqueeze(-1))
            assert score == pytest.approx(float(logprobs.mean()), abs=1e-4)
            example = adapter.task_example("classification", q.question, option, q.with_image, q.options)
            assert example == (prompt_text, f"{prompt_text} {option}")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--forget-ratio", "7"], "unknown forget ratio '7'"),
        (["--model", "{tmp}/missing"], "does not exist"),
        (["--model", "{tmp}/text-only"], "not a vision-language model"),
        (["--data", "{tmp}/no-real"], "cannot load config real"),
        (["--out", "{reference}"], "holds results of another run (forget_ratio 5 there, 10 now)"),
        (
            ["--out", "{reference}", "--forget-ratio", "5", "--model", "{tmp}/other"],
            "holds results of another run (model",
        ),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    args, message, reference, tiny_model_dir, synth_dir, tmp_path, capsys
):
    from umu_hf.cli import main

    if "text-only" in " ".join(args):
        from transformers import LlamaConfig, LlamaForCausalLM

        LlamaForCausalLM(
            LlamaConfig(
                vocab_size=16, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=1
            )
        ).save_pretrained(tmp_path / "text-only")
    if "no-real" in " ".join(args):
        data = tmp_path / "no-real"
        shutil.copytree(synth_dir, data)
        card = (data / "README.md").read_text()
        real = "- config_name: real\n  data_files:\n  - split: train\n    path:\n    - data/real-*.parquet\n"
        assert real in card
        (data / "README.md").write_text(card.replace(real, ""))
    values = {
        "--model": str(tiny_model_dir),
        "--data": str(synth_dir),
        "--forget-ratio": "10",
        "--out": str(tmp_path / "out"),
    }
    for flag, value in zip(args[::2], args[1::2], strict=True):
        values[flag] = value.format(tmp=tmp_path, reference=reference[0])
    argv = [
        "eval",
        *[x for kv in values.items() for x in kv],
        "--device",
        "cpu",
        "--limit",
        "1",
        "--no-progress",
    ]
    capsys.readouterr()  # drop what building the inputs printed
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("umu-hf eval: error:") and message in err and "\n" not in err, err
    assert "Traceback" not in err
