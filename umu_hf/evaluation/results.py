"""Predictions -> ``results.json``: the headline table, per-set metrics and the 2x2 tables (docs/protocol.md, Metrics).

The metric math is :mod:`umu_hf.scoring`'s; here the per-question outcomes stored in the prediction records
(``correct`` for classification and cloze, ``score`` = ROUGE-L F1 for generation) are paired — unimodal and
multimodal question of the same profile and index — and handed to it. Generation also gets a ``secondary`` block:
the per-modality means (percent) of the records' ``bleu``, ``rouge1`` and ``rouge2`` (the original's secondary
numbers; never in the headline).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from umu_hf.data.schema import MODALITIES, SETS, TASKS
from umu_hf.evaluation.items import RECORD_TASKS, Question, task_scorings


def record_sort_key(record: Mapping[str, Any]) -> tuple:
    """Canonical order of prediction records: set, task, modality, profile, index (unknown names last)."""

    def rank(value: Any, order: Sequence[str]) -> int:
        return order.index(value) if value in order else len(order)

    return (
        rank(record.get("set"), SETS),
        rank(record.get("task"), RECORD_TASKS),
        rank(record.get("modality"), MODALITIES),
        int(record.get("profile_id", -1)),
        int(record.get("index", -1)),
        record["id"],
    )


def _pairs(questions: Sequence[Question], task: str) -> list[tuple[Question, Question]]:
    by_modality: dict[str, dict[tuple[int, int], Question]] = {m: {} for m in MODALITIES}
    for question in questions:
        if question.task == task:
            by_modality[question.modality][question.pair_key()] = question
    uni, multi = by_modality["unimodal"], by_modality["multimodal"]
    return [(uni[key], multi[key]) for key in uni if key in multi]


def task_metrics(
    questions: Sequence[Question],
    records: Mapping[str, Mapping[str, Any]],
    task: str,
    scoring: str = "generate",
) -> dict[str, Any]:
    """The :mod:`umu_hf.scoring` pair metrics of one task of one set from its prediction records, scored by
    ``scoring`` (``"loglik"``: the classification questions' option log-likelihood records)."""
    from umu_hf.scoring import (
        SECONDARY_BLOCK,
        binary_pair_metrics,
        generation_pair_metrics,
        generation_secondary,
    )

    pairs = _pairs(questions, task)
    field = "score" if task == "generation" else "correct"
    try:
        uni = [records[u.uid(scoring)][field] for u, _ in pairs]
        multi = [records[m.uid(scoring)][field] for _, m in pairs]
    except KeyError as exc:
        raise RuntimeError(f"no finished prediction for {exc.args[0]}; the run is incomplete") from None
    if task == "generation":
        metrics = generation_pair_metrics(uni, multi)
        metrics[SECONDARY_BLOCK] = generation_secondary(
            [records[u.uid(scoring)] for u, _ in pairs],
            [records[m.uid(scoring)] for _, m in pairs],
        )
        return metrics
    return binary_pair_metrics(uni, multi)


def build_results(
    header: Mapping[str, Any],
    questions: Mapping[str, Sequence[Question]],
    records: Mapping[str, Mapping[str, Any]],
    classification_scoring: str = "generate",
) -> dict[str, Any]:
    """The ``results.json`` dict: ``header`` (version, model, data, ratio, settings), then ``headline``
    (``{set: {task: {AccF|AccR|RLF|RLR: value}}}``), ``sets`` (the full metric dicts; generation's with its
    ``secondary`` block: ``{unimodal|multimodal: {bleu, rouge1, rouge2}}`` in percent) and one block per extra
    scoring of the run: with ``classification_scoring="loglik"``, ``loglik`` (``{set: {"classification":
    metrics}}`` under option log-likelihood scoring)."""
    from umu_hf.scoring import headline_metric

    results: dict[str, Any] = dict(header)
    headline: dict[str, Any] = {}
    sets: dict[str, Any] = {}
    extra = {  # the scorings beside generation (the headline's), by task
        task: task_scorings(task, classification_scoring)[1:] for task in TASKS
    }
    blocks: dict[str, dict[str, Any]] = {scoring: {} for scorings in extra.values() for scoring in scorings}
    for set_name in (s for s in SETS if s in questions):
        sets[set_name] = {task: task_metrics(questions[set_name], records, task) for task in TASKS}
        headline[set_name] = {}
        for task in TASKS:
            metric = headline_metric(task, set_name)
            headline[set_name][task] = {metric: sets[set_name][task][metric]}
            for scoring in extra[task]:
                block = blocks[scoring].setdefault(set_name, {})
                block[task] = task_metrics(questions[set_name], records, task, scoring)
    results["headline"] = headline
    results["sets"] = sets
    results.update(blocks)
    return results


def format_headline(results: Mapping[str, Any]) -> str:
    """The headline table of a results dict as aligned text (one row per set, one column per task)."""
    rows = [["set", *TASKS]]
    for set_name, tasks in results.get("headline", {}).items():
        cells = [set_name]
        for task in TASKS:
            ((metric, value),) = tasks[task].items()
            cells.append(f"{metric} {value:6.2f}" if isinstance(value, (int, float)) else f"{metric}    n/a")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def headline_terms(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], dict[tuple[int, int], float]]:
    """``{(set, task): {(profile_id, index): term}}`` from prediction records: each question pair's term of the
    headline metric (percent; the mean over pairs is the metric). Only the benchmark's own task records count
    (not ``classification_loglik``); a pair missing one modality is left out, as in the metrics."""
    from umu_hf.scoring import headline_contributions

    sides: dict[tuple[str, str], dict[str, dict[tuple[int, int], Any]]] = {}
    for record in records:
        task = record.get("task")
        if task not in TASKS:
            continue
        field = "score" if task == "generation" else "correct"
        side = sides.setdefault((record["set"], task), {m: {} for m in MODALITIES})
        side[record["modality"]][(int(record["profile_id"]), int(record["index"]))] = record[field]
    terms = {}
    for (set_name, task), side in sides.items():
        keys = sorted(k for k in side["unimodal"] if k in side["multimodal"])
        values = headline_contributions(
            task, set_name, [side["unimodal"][k] for k in keys], [side["multimodal"][k] for k in keys]
        )
        terms[(set_name, task)] = dict(zip(keys, values.tolist(), strict=True))
    return terms


def modality_terms(
    records: Iterable[Mapping[str, Any]],
) -> dict[tuple[str, str, str], dict[tuple[int, int], float]]:
    """``{(set, task, modality): {(profile_id, index): value}}``: each question's per-modality score in percent
    (100 × correct for classification and cloze, 100 × ROUGE-L F1 for generation), for the pairs answered in both
    modalities — the means are results.json's ``unimodal_acc``/``multimodal_acc`` and ``*_rougeL``."""
    sides: dict[tuple[str, str], dict[str, dict[tuple[int, int], float]]] = {}
    for record in records:
        task = record.get("task")
        if task not in TASKS:
            continue
        value = record["score"] if task == "generation" else float(bool(record["correct"]))
        side = sides.setdefault((record["set"], task), {m: {} for m in MODALITIES})
        side[record["modality"]][(int(record["profile_id"]), int(record["index"]))] = 100.0 * float(value)
    terms = {}
    for (set_name, task), side in sides.items():
        keys = sorted(k for k in side["unimodal"] if k in side["multimodal"])
        for modality in MODALITIES:
            terms[(set_name, task, modality)] = {k: side[modality][k] for k in keys}
    return terms


def people_terms(
    terms: Mapping[tuple[str, ...], Mapping[tuple[int, int], float]],
    set_name: str,
    groups: Mapping[str, Iterable[int]],
) -> dict[tuple[str, ...], dict[tuple[int, int], float]]:
    """One set's per-question terms (:func:`modality_terms`' or :func:`headline_terms`' keys, the set first) split
    into groups of people, each group a set of its own: ``{(group, task[, modality]): {(profile_id, index): value}}``
    — e.g. the forget set of one evaluation at forget15 as the people of each deletion request of a sequence. A
    question about a person of no group is left out."""
    owner = {int(pid): group for group, people in groups.items() for pid in people}
    out: dict[tuple[str, ...], dict[tuple[int, int], float]] = {}
    for key, values in terms.items():
        if key[0] != set_name:
            continue
        for group in groups:
            out[(group, *key[1:])] = {q: v for q, v in values.items() if owner.get(q[0]) == group}
    return out
