"""Evaluation questions (items), the output folder (store) and results assembly — no model needed."""

from __future__ import annotations

import json
import math

import pytest

from umu_hf.data.load import load_umu_split
from umu_hf.errors import ResultsConflictError, UmuError
from umu_hf.evaluation import store
from umu_hf.evaluation.items import LOGLIK_TASK, Question, iter_items, task_scorings
from umu_hf.evaluation.plan import plan_evaluation
from umu_hf.evaluation.request import EvalRequest
from umu_hf.evaluation.results import build_results, format_headline, record_sort_key
from umu_hf.evaluation.sharding import Shard


@pytest.fixture(scope="module")
def forget10(synth_dir):
    return load_umu_split(synth_dir, "forget10")


def test_items_pair_modalities_and_use_the_option_text_as_reference(forget10, synth_rows):
    questions = list(iter_items(forget10, "forget"))
    rows = {row["ID"]: row for row in synth_rows}
    n_items = sum(
        len(row[col]["unimodal"]) for row in forget10 for col in ("Classify", "Cloze", "Generation")
    )
    assert len(questions) == 2 * n_items
    for q in questions:
        source = rows[q.profile_id][
            {"classification": "Classify", "cloze": "Cloze", "generation": "Generation"}[q.task]
        ]
        item = source[q.modality][q.index]
        assert (
            q.question == item["question"]
            and q.key == item["key"]
            and q.with_image == (q.modality == "multimodal")
        )
        if q.task == "classification":
            assert q.options == tuple(item["options"][k] for k in "ABCD")
            truth = source["unimodal"][q.index][
                "answer"
            ]  # the unimodal letter is the truth for both modalities
            assert q.reference == item["options"][truth]
        else:
            assert q.reference == item["answer"] and q.options is None
    uni = {(q.task, q.pair_key()) for q in questions if q.modality == "unimodal"}
    multi = {(q.task, q.pair_key()) for q in questions if q.modality == "multimodal"}
    assert uni == multi
    assert len({q.uid() for q in questions}) == len(questions)


def test_limit_keeps_the_first_pairs_of_each_task(forget10):
    questions = list(iter_items(forget10, "forget", limit=3))
    for task in ("classification", "cloze", "generation"):
        chosen = [q for q in questions if q.task == task and q.modality == "unimodal"]
        assert len(chosen) == 3
        assert [q.pair_key() for q in chosen] == [
            q.pair_key()
            for q in list(iter_items(forget10, "forget"))
            if q.task == task and q.modality == "unimodal"
        ][:3]
    with pytest.raises(UmuError, match="unknown evaluation set"):
        list(iter_items(forget10, "nonsense"))


def test_option_matching_is_exact_except_on_the_real_set():
    options = ("Hollin", "Quarnby", "Pellucid", "Fernmouth")
    forget = Question("forget", "classification", "unimodal", 1, 0, "city", "q", "Fernmouth", options, 0)
    real = Question("real", "classification", "unimodal", 1, 0, "city", "q", "Fernmouth", options, 0)
    assert forget.score("Fernmouth ") == {"correct": True}
    assert forget.score("Fernmouth.") == {"correct": False}
    assert real.score("Fernmouth.") == {"correct": True}
    assert forget.score("D", "loglik") == {"correct": False}
    cloze = Question("retain", "cloze", "unimodal", 1, 0, "city", "q", "Fernmouth. A city.", None, 0)
    assert cloze.score("born in fernmouth") == {"correct": True}
    generation = Question(
        "retain", "generation", "unimodal", 1, 0, "city", "q", "She was born in Fernmouth.", None, 0
    )
    assert generation.score("She was born in Fernmouth.") == {
        "score": 1.0,
        "bleu": 1.0,
        "rouge1": 1.0,
        "rouge2": 1.0,
    }
    assert generation.score("no idea") == {"score": 0.0, "bleu": 0.0, "rouge1": 0.0, "rouge2": 0.0}


def _prompt(question: Question) -> str:
    return f"Q: {question.question}"


def test_plan_of_a_half_done_run_lists_exactly_the_missing_questions(forget10, tmp_path):
    questions = {"forget": list(iter_items(forget10, "forget", limit=3))}
    everything = plan_evaluation(questions, _prompt, "generate", tmp_path).jobs
    assert sorted(job.uid for job in everything) == sorted(q.uid() for q in questions["forget"])
    assert {job.scoring for job in everything} == {"generate"}
    done, missing = everything[::2], everything[1::2]
    with store.PredictionWriter(tmp_path / store.PREDICTIONS) as writer:
        writer.write(
            {"id": j.uid, "prompt": _prompt(j.question), "reference": j.question.reference} for j in done
        )
    plan = plan_evaluation(questions, _prompt, "generate", tmp_path)
    assert plan.jobs == missing  # exactly the missing ones, in canonical order
    assert plan.questions == questions and plan.prompts[missing[0].question] == _prompt(missing[0].question)
    assert Shard(rank=1, world=2).take(plan.jobs) == missing[1::2]  # what process 1 of 2 asks
    with pytest.raises(ResultsConflictError, match="another prompt or answer"):
        plan_evaluation(questions, lambda q: "another prompt", "generate", tmp_path)


def test_loglik_is_a_scoring_option_of_the_classification_task(forget10, tmp_path):
    assert task_scorings("classification", "loglik") == ("generate", "loglik")
    assert task_scorings("cloze", "loglik") == task_scorings("classification") == ("generate",)
    questions = {"forget": list(iter_items(forget10, "forget", limit=2))}
    plan = plan_evaluation(questions, _prompt, "loglik", tmp_path)
    loglik = [job for job in plan.jobs if job.scoring == "loglik"]
    generated = [job for job in plan.jobs if job.scoring == "generate"]
    classification = [job.question for job in generated if job.question.task == "classification"]
    assert [job.question for job in loglik] == classification
    assert len(generated) == len(questions["forget"])
    assert {job.record_task for job in loglik} == {LOGLIK_TASK}  # the name its records carry in the files
    assert loglik[0].uid == loglik[0].question.uid("loglik") and "/classification_loglik/" in loglik[0].uid
    cloze = next(q for q in questions["forget"] if q.task == "cloze")
    with pytest.raises(UmuError, match="cannot be scored"):
        cloze.uid("loglik")
    with pytest.raises(UmuError, match="classification-scoring must be one of generate, loglik"):
        EvalRequest("m", "d", 5, tmp_path, classification_scoring="likelihood")
    request = EvalRequest("m", "d", "5", tmp_path, classification_scoring="loglik", sets="real")
    assert (request.forget_ratio, request.sets, request.classification_scoring) == (5, ("real",), "loglik")


def test_truncated_last_line_is_ignored_and_cut_before_appending(tmp_path):
    path = tmp_path / store.PREDICTIONS
    with store.PredictionWriter(path) as writer:
        writer.write([{"id": "a", "x": 1}, {"id": "b", "x": 2}])
    path.write_bytes(path.read_bytes() + b'{"id": "c", "x"')  # a crash in the middle of a write
    assert [r["id"] for r in store.read_records(path)] == ["a", "b"]
    with store.PredictionWriter(path) as writer:
        writer.write([{"id": "d", "x": math.nan}])
    assert [r["id"] for r in store.read_records(path)] == ["a", "b", "d"]
    assert json.loads(path.read_text().splitlines()[-1])["x"] is None  # strict JSON: NaN -> null
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ResultsConflictError, match="line 2"):
        store.read_records(path)


def test_merge_sorts_canonically_and_removes_shards(tmp_path):
    records = [
        {"id": f"{s}/{t}/{m}/{p}/0", "set": s, "task": t, "modality": m, "profile_id": p, "index": 0}
        for s in ("real", "forget")
        for t in ("generation", LOGLIK_TASK, "classification")
        for m in ("multimodal", "unimodal")
        for p in (10, 2)
    ]
    with store.PredictionWriter(store.shard_path(tmp_path, 0)) as writer:
        writer.write(records[::2])
    with store.PredictionWriter(store.shard_path(tmp_path, 1)) as writer:
        writer.write(records[1::2])
    merged = store.merge_predictions(tmp_path, record_sort_key)
    assert len(merged) == len(records) and not list(tmp_path.glob("predictions.rank*"))
    lines = [json.loads(line) for line in (tmp_path / store.PREDICTIONS).read_text().splitlines()]
    assert lines == sorted(records, key=record_sort_key)
    assert lines[0]["id"] == "forget/classification/unimodal/2/0"
    assert [r["task"] for r in lines[:12:4]] == ["classification", LOGLIK_TASK, "generation"]


def test_run_identity_is_checked(tmp_path):
    identity = {"model": "/m", "data": "/d", "forget_ratio": 5, "limit": None, "dtype": "float32"}
    assert store.check_run(tmp_path, identity) is False
    store.write_run(tmp_path, {"identity": identity})
    assert store.check_run(tmp_path, identity) is True
    with pytest.raises(ResultsConflictError, match=r"forget_ratio 5 there, 10 now.*--overwrite"):
        store.check_run(tmp_path, {**identity, "forget_ratio": 10})
    assert (
        store.check_run(tmp_path, {**identity, "dtype": "bfloat16"}, keys=["model", "forget_ratio"]) is True
    )
    (tmp_path / store.RUN).unlink()
    (tmp_path / store.RESULTS).write_text("{}")
    with pytest.raises(ResultsConflictError, match="no run.json"):
        store.check_run(tmp_path, identity)
    store.clear_run(tmp_path)
    assert store.check_run(tmp_path, identity) is False
    (tmp_path / "f").write_text("")
    with pytest.raises(UmuError, match="is a file"):
        store.check_out_dir(tmp_path / "f")


def test_secondary_numbers_come_from_each_records_scores():
    uni = Question("forget", "generation", "unimodal", 7, 0, "k", "q", "Mara works as a pilot.", None, 0)
    multi = Question("forget", "generation", "multimodal", 7, 0, "k", "q", "Mara works as a pilot.", None, 0)
    records = {
        uni.uid(): {"reply": "x", "reference": uni.reference, **uni.score("Mara works as a pilot.")},
        multi.uid(): {"reply": "x", "reference": multi.reference, **multi.score("Mara is a chef.")},
    }
    with pytest.warns(UserWarning, match="no classification/cloze questions"):
        results = build_results({}, {"forget": [uni, multi]}, records)
    secondary = results["sets"]["forget"]["generation"]["secondary"]
    assert secondary["unimodal"] == {"bleu": 100.0, "rouge1": 100.0, "rouge2": 100.0}
    assert secondary["multimodal"]["rouge1"] == pytest.approx(100 * multi.score("Mara is a chef.")["rouge1"])


def test_build_results_pairs_records_and_reports_the_headline():
    questions = []
    records = {}
    truth = {("forget", 0): (True, False), ("forget", 1): (False, False), ("real", 0): (True, True)}
    for (set_name, index), flags in truth.items():
        for task in ("classification", "cloze", "generation"):
            for modality, flag in zip(("unimodal", "multimodal"), flags, strict=True):
                q = Question(set_name, task, modality, 7, index, "k", "q", "r", None, 0)
                questions.append(q)
                value = {"correct": flag}
                if task == "generation":
                    value = {"score": float(flag), "bleu": float(flag) / 2, "rouge1": 1.0, "rouge2": 0.0}
                records[q.uid()] = {"id": q.uid(), **value}
    by_set = {s: [q for q in questions if q.set_name == s] for s in ("forget", "real")}
    results = build_results({"model": "m"}, by_set, records)
    assert results["model"] == "m" and set(results["headline"]) == {"forget", "real"}
    assert results["headline"]["forget"]["cloze"] == {"AccF": 50.0}
    assert results["headline"]["real"]["classification"] == {"AccR": 100.0}
    assert results["headline"]["forget"]["generation"] == {"RLF": 50.0}
    table = results["sets"]["forget"]["classification"]
    assert (table["only_unimodal"], table["both_wrong"], table["n"]) == (50.0, 50.0, 2)
    # the original's secondary generation numbers: per-modality means in percent, beside (not in) the headline
    assert results["sets"]["forget"]["generation"]["secondary"] == {
        "unimodal": {"bleu": 25.0, "rouge1": 100.0, "rouge2": 0.0},
        "multimodal": {"bleu": 0.0, "rouge1": 100.0, "rouge2": 0.0},
    }
    assert "secondary" not in results["headline"]["forget"]["generation"]
    assert "AccF" in format_headline(results) and "RLR" in format_headline(results)
    with pytest.raises(RuntimeError, match="incomplete"):
        build_results({}, by_set, {k: v for k, v in records.items() if "real" not in k or "cloze" not in k})
