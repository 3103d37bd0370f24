"""What the lmms-eval tasks written by ``umu-hf export lmms-eval`` call at run time (their ``utils.py`` imports
these), so the questions, the prompts, the reply rule and the scoring are umu-hf's own and cannot drift.

A subtask is one evaluation set × one task, and it asks *both* modalities of every question: AccF/AccR and
RLF/RLR pair the unimodal and the multimodal answer to the same fact, and lmms-eval hands an aggregation function
only the records of its own subtask.

- ``process_docs``: :func:`docs_function` (set, task) turns a split of profiles (one row per person, the Hub
  schema) into one doc per question and modality, in :func:`umu_hf.evaluation.items.iter_items`' order; a
  multimodal doc carries the person's portrait, a unimodal doc none.
- :func:`doc_to_visual`, :func:`doc_to_text`: the portrait (multimodal only) and the original prompt: the whole
  LLaVA-1.5 prompt (:func:`umu_hf.prompts.llava_task_prompt`, character for character) for ``--model umu_hf``,
  the chat-template branch's user-turn text for lmms-eval's own models, whose templates add roles and image.
- :func:`process_results`: the reply (:func:`umu_hf.prompts.extract_reply`) scored by
  :meth:`umu_hf.evaluation.items.Question.score`, as one record per question under every metric of the subtask
  (``correct``, or generation's ``rougeL``, ``bleu``, ``rouge1``, ``rouge2``).
- the aggregations (:data:`AGGREGATIONS`): :mod:`umu_hf.scoring`'s pair metrics of the subtask's records, the
  numbers ``umu-hf eval`` writes under ``sets.<set>.<task>`` in results.json.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from umu_hf.data.schema import MODALITIES, SETS, TASKS
from umu_hf.errors import UmuError
from umu_hf.evaluation.items import Question, iter_items
from umu_hf.prompts import extract_reply, llava_task_prompt, task_instruction

#: the metrics of a subtask, per task: the two pair metrics, then the per-modality scores (results.json's keys)
TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("AccF", "AccR", "unimodal_acc", "multimodal_acc"),
    "cloze": ("AccF", "AccR", "unimodal_acc", "multimodal_acc"),
    "generation": ("RLF", "RLR", "unimodal_rougeL", "multimodal_rougeL"),
}
#: how :func:`doc_to_text` words a prompt: LLaVA-1.5's whole prompt, or the user-turn text of a chat template
PROMPT_STYLES: tuple[str, ...] = ("llava", "chat")


def _question(doc: Mapping[str, Any]) -> Question:
    """The :class:`Question` a doc was made from."""
    options = doc.get("options")
    return Question(
        doc["set"], doc["task"], doc["modality"], int(doc["profile_id"]), int(doc["index"]), doc["key"],
        doc["question"], doc["reference"], tuple(options) if options else None, -1,
    )


def question_docs(split: Any, set_name: str, task: str) -> list[dict[str, Any]]:
    """One doc per question and modality of ``task`` in a split of profiles (a ``datasets.Dataset`` or rows in
    the Hub schema), unimodal before multimodal for each fact; a multimodal doc's ``image`` is its person's
    portrait as stored (``{"bytes", "path"}``, not re-encoded), a unimodal doc's is ``None``."""
    if hasattr(split, "cast_column"):  # a datasets.Dataset: the stored bytes, not decoded images
        from datasets import Image

        split = split.cast_column("image", Image(decode=False))
        images = list(split["image"])
    else:
        images = [row["image"] for row in split]
    docs = []
    for q in iter_items(split, set_name, [task]):
        docs.append({
            "id": q.uid(), "set": q.set_name, "task": q.task, "modality": q.modality,
            "profile_id": q.profile_id, "index": q.index, "key": q.key, "question": q.question,
            "reference": q.reference, "options": list(q.options or ()),
            "image": images[q.row] if q.with_image else None,
        })
    return docs


def docs_function(set_name: str, task: str) -> Callable[[Any], Any]:
    """The ``process_docs`` of the (set, task) subtask: a ``datasets.Dataset`` of profiles in, one of
    :func:`question_docs` out (the portrait as a ``datasets.Image`` column)."""
    if set_name not in SETS or task not in TASKS:
        raise UmuError(f"no UMU-Bench subtask {set_name}/{task}: sets are {SETS}, tasks {TASKS}")

    def process_docs(dataset: Any) -> Any:
        from datasets import Dataset, Features, Image, List, Value

        features = Features({
            "id": Value("string"), "set": Value("string"), "task": Value("string"),
            "modality": Value("string"), "profile_id": Value("int64"), "index": Value("int64"),
            "key": Value("string"), "question": Value("string"), "reference": Value("string"),
            "options": List(Value("string")), "image": Image(),
        })
        return Dataset.from_list(question_docs(dataset, set_name, task), features=features)

    process_docs.__name__ = process_docs.__qualname__ = f"{set_name}_{task}_docs"
    return process_docs


def doc_to_visual(doc: Mapping[str, Any]) -> list:
    """The person's portrait (RGB) for a multimodal doc; nothing for a unimodal one."""
    if doc["modality"] != "multimodal":
        return []
    return [doc["image"].convert("RGB")]


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    """The doc's prompt as the original protocol words it (docs/protocol.md, Evaluation), in one of
    :data:`PROMPT_STYLES`, chosen by the task's ``lmms_eval_specific_kwargs`` (``prompt``; per ``--model``):

    - ``llava`` (no kwargs too): the whole LLaVA-1.5 prompt, ``USER: <image>\\n… ASSISTANT:`` for a multimodal doc
      (:func:`umu_hf.prompts.llava_task_prompt`), for a model that adds no chat template of its own;
    - ``chat``: the user-turn text of the original's chat-template branch (:func:`umu_hf.prompts.task_instruction`;
      no roles, no image token), for a model whose chat template adds the roles and the image.
    """
    style = (lmms_eval_specific_kwargs or {}).get("prompt", "llava")
    options = doc.get("options") or None
    if style == "llava":
        return llava_task_prompt(doc["task"], doc["modality"], doc["question"], options)
    if style == "chat":
        return task_instruction(doc["task"], doc["question"], options)
    raise UmuError(f"lmms_eval_specific_kwargs prompt {style!r}: expected one of {', '.join(PROMPT_STYLES)}")


def doc_to_target(doc: Mapping[str, Any]) -> str:
    """The reference answer: the correct option's text (classification) or the answer (cloze, generation)."""
    return doc["reference"]


def _text(result: Any) -> str:
    """A model's output as text (chat models of lmms-eval return ``GenerationResult`` objects)."""
    return result if isinstance(result, str) else str(getattr(result, "text", result))


def process_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Score the model's output for one doc: the reply is the text before its first ``ASSISTANT:``, stripped;
    the record (the question's identity, the reply, ``correct`` or the generation scores) goes to every metric
    of the subtask, whose aggregation pairs the modalities."""
    question = _question(doc)
    reply = extract_reply(_text(results[0]))
    scores = question.score(reply)
    if "score" in scores:  # generation: named for what it is; lmms-eval reads a "score" as a 0/1 outcome
        scores = {"rougeL": scores.pop("score"), **scores}
    record = {
        "id": doc["id"], "set": question.set_name, "task": question.task, "modality": question.modality,
        "profile_id": question.profile_id, "index": question.index, "reply": reply, **scores,
    }
    return dict.fromkeys(TASK_METRICS[question.task], record)


def pair_metrics(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """:mod:`umu_hf.scoring`'s pair metrics of one subtask's records: each unimodal record with the multimodal
    record of the same (profile, index). A question answered in one modality only is an error: lmms-eval's
    ``--limit`` counts docs, and a question's two modalities are consecutive docs, so only an even limit (2N: the
    first N questions, as ``umu-hf eval --limit N``) keeps them paired."""
    from umu_hf.scoring import binary_pair_metrics, generation_pair_metrics

    by_modality: dict[str, dict[tuple[int, int], Mapping[str, Any]]] = {m: {} for m in MODALITIES}
    for record in records:
        by_modality[record["modality"]][(int(record["profile_id"]), int(record["index"]))] = record
    uni, multi = (by_modality[m] for m in MODALITIES)
    unpaired = sorted(set(uni) ^ set(multi))
    if unpaired:
        profile, index = unpaired[0]
        raise UmuError(
            f"question {index} of profile {profile} was asked in one modality only: AccF/AccR and RLF/RLR pair "
            f"both; run every doc of the subtask or an even --limit (each question's two modalities are "
            f"consecutive docs)"
        )
    tasks = {record["task"] for record in records}
    if len(tasks) != 1:
        raise UmuError(f"records of {sorted(tasks) or 'no'} tasks: a subtask scores one task")
    field = "rougeL" if tasks == {"generation"} else "correct"
    u = [uni[key][field] for key in uni]
    m = [multi[key][field] for key in uni]
    return generation_pair_metrics(u, m) if field == "rougeL" else binary_pair_metrics(u, m)


def _aggregation(metric: str) -> Callable[[Sequence[Mapping[str, Any]]], float]:
    def aggregate(records: Sequence[Mapping[str, Any]]) -> float:
        return float(pair_metrics(records)[metric])

    aggregate.__name__ = aggregate.__qualname__ = f"aggregate_{metric}"
    aggregate.__doc__ = f"The subtask's {metric} (percent) from its per-question records."
    return aggregate


#: one aggregation function per metric name of :data:`TASK_METRICS`
AGGREGATIONS: dict[str, Callable[[Sequence[Mapping[str, Any]]], float]] = {
    metric: _aggregation(metric) for metrics in TASK_METRICS.values() for metric in metrics
}
