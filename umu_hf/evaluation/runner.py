"""The benchmark run: every set (forget, retain, real) x task x modality, greedy decoding, scored by
:mod:`umu_hf.scoring`, written to ``OUT/predictions.jsonl`` and ``OUT/results.json``.

Fast because the model is loaded once, each portrait is decoded once per set, and questions are asked in
batches (left padding, sorted by prompt length so little padding is wasted; greedy decoding, so a batched
reply is the reply the question gets alone). Resumable because each batch is appended and flushed as it
finishes and a rerun asks only the missing questions. See :mod:`umu_hf.evaluation.sharding` for several
processes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from umu_hf.data.schema import SETS, TASKS, check_forget_ratio, set_config
from umu_hf.errors import ResultsConflictError, UmuError
from umu_hf.evaluation import store
from umu_hf.evaluation.items import LOGLIK_TASK, OPTION_MATCHING, RECORD_TASKS, Question, iter_items
from umu_hf.evaluation.results import build_results, record_sort_key
from umu_hf.evaluation.sharding import Shard, current_shard
from umu_hf.lock import holding_folder_lock

CLASSIFICATION_SCORINGS: tuple[str, ...] = ("generate", "loglik")
#: ``batch_size="auto"``: questions per ``generate`` call for a model of fewer than ``AUTO_SMALL_PARAMETERS``
#: parameters (the embedded tiny LLaVA: its time goes to the per-call overhead of ``generate``, and 64 prompts
#: need little memory) ...
AUTO_BATCH_SMALL = 64
AUTO_SMALL_PARAMETERS = 100_000_000
#: ... and for anything larger (the original default: sensible for a 7B model on one GPU)
AUTO_BATCH_DEFAULT = 8
Job = tuple[str, Question]  # (record task name, question)


def _check_positive(value: Any, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UmuError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_batch_size(batch_size: Any) -> int | str:
    """``"auto"`` or a positive integer."""
    if batch_size == "auto":
        return batch_size
    return _check_positive(batch_size, "batch_size (a positive integer or 'auto')")


def resolve_batch_size(batch_size: int | str, model: Any) -> int:
    """The questions per ``generate`` call: ``batch_size`` itself, or for ``"auto"``
    :data:`AUTO_BATCH_SMALL` for a model of fewer than :data:`AUTO_SMALL_PARAMETERS` parameters, else
    :data:`AUTO_BATCH_DEFAULT`. Batching never changes a reply (greedy decoding, left padding)."""
    if _check_batch_size(batch_size) != "auto":
        return int(batch_size)
    parameters = sum(p.numel() for p in model.parameters())
    return AUTO_BATCH_SMALL if parameters < AUTO_SMALL_PARAMETERS else AUTO_BATCH_DEFAULT


def _check_args(
    sets: Sequence[str], scoring: str, dtype: str, max_new_tokens: Mapping[str, int] | None
) -> dict:
    from umu_hf.prompts import MAX_NEW_TOKENS
    from umu_hf.utils import check_dtype

    unknown = [s for s in sets if s not in SETS]
    if unknown or not sets:
        raise UmuError(f"unknown evaluation set(s) {unknown or '(none)'}; choose from {', '.join(SETS)}")
    if scoring not in CLASSIFICATION_SCORINGS:
        raise UmuError(
            f"--classification-scoring must be one of {', '.join(CLASSIFICATION_SCORINGS)}, got {scoring!r}"
        )
    check_dtype(dtype)
    budgets = dict(MAX_NEW_TOKENS)
    for task, tokens in (max_new_tokens or {}).items():
        if task not in TASKS:
            raise UmuError(f"max_new_tokens: unknown task {task!r}; tasks are {', '.join(TASKS)}")
        budgets[task] = _check_positive(tokens, f"max_new_tokens[{task}]")
    return budgets


def _source_id(source: str) -> str:
    """A local path as its absolute form (so ``./m`` and ``/abs/m`` are one model); a Hub id as given."""
    path = Path(str(source)).expanduser()
    return str(path.resolve()) if path.exists() else str(source)


class _Portraits:
    """The portraits of one split, each decoded (to RGB) the first time a question needs it."""

    def __init__(self, split: Any) -> None:
        self._column = split.select_columns(["image"])
        self._cache: dict[int, Any] = {}

    def get(self, row: int) -> Any:
        if row not in self._cache:
            self._cache[row] = self._column[row]["image"].convert("RGB")
        return self._cache[row]


def _jobs(questions: Mapping[str, Sequence[Question]], scoring: str) -> list[Job]:
    """Every (record task, question) of the run in canonical order (set, task, modality, profile, index)."""
    jobs: list[Job] = []
    for set_name in (s for s in SETS if s in questions):
        for task in TASKS:
            record_tasks = [task, LOGLIK_TASK] if task == "classification" and scoring == "loglik" else [task]
            for record_task in record_tasks:
                chosen = [q for q in questions[set_name] if q.task == task]
                chosen.sort(key=lambda q: (q.modality != "unimodal", q.profile_id, q.index))
                jobs.extend((record_task, q) for q in chosen)
    return jobs


def _pending(
    jobs: list[Job], prompts: Mapping[Question, str], done: Mapping[str, dict], out: Path
) -> list[Job]:
    """The jobs without a finished prediction; a finished one made for another prompt or answer is refused."""
    pending = []
    for record_task, question in jobs:
        record = done.get(question.uid(record_task))
        if record is None:
            pending.append((record_task, question))
        elif record.get("prompt") != prompts[question] or record.get("reference") != question.reference:
            raise ResultsConflictError(
                f"{out}: the finished prediction {question.uid(record_task)} was made for another prompt or "
                "answer (the dataset or the model's prompt template changed); use another --out or "
                "--overwrite"
            )
    return pending


def _record(record_task: str, question: Question, prompt: str, reply: str, **extra: Any) -> dict[str, Any]:
    record = {
        "id": question.uid(record_task),
        "set": question.set_name,
        "task": record_task,
        "modality": question.modality,
        "profile_id": question.profile_id,
        "index": question.index,
        "key": question.key,
        "question": question.question,
        "prompt": prompt,
        "reply": reply,
        "reference": question.reference,
    }
    if question.options is not None:
        record["options"] = list(question.options)
    record.update(extra)
    record.update(question.score(reply, record_task))
    return record


def _batches(
    jobs: list[Job], prompts: Mapping[Question, str], tokenizer: Any, batch_size: int
) -> list[list[Job]]:
    """Batches of one modality each, longest prompts first (ties keep the canonical order)."""
    if not jobs:
        return []
    lengths = [
        len(ids) for ids in tokenizer([prompts[q] for _, q in jobs], add_special_tokens=False)["input_ids"]
    ]
    batches = []
    for modality in ("unimodal", "multimodal"):
        order = sorted(
            (i for i, (_, q) in enumerate(jobs) if q.modality == modality), key=lambda i: -lengths[i]
        )
        group = [jobs[i] for i in order]
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    return batches


def _ask(
    model: Any,
    adapter: Any,
    batch: list[Job],
    prompts: Mapping[Question, str],
    portraits: _Portraits,
    budgets: Mapping[str, int],
) -> list[dict[str, Any]]:
    """Run one batch (generation, or option log-likelihoods) and return its prediction records."""
    from umu_hf.evaluation.loglik import choose, option_logliks

    record_task = batch[0][0]
    questions = [q for _, q in batch]
    images = [portraits.get(q.row) for q in questions] if questions[0].with_image else None
    if record_task == LOGLIK_TASK:
        scores = option_logliks(model, adapter, questions, images)
        return [
            _record(record_task, q, prompts[q], choose(s, q.options), option_logliks=s)
            for q, s in zip(questions, scores, strict=True)
        ]
    task = questions[0].task
    replies = adapter.generate(model, [prompts[q] for q in questions], images, budgets[task])
    return [_record(record_task, q, prompts[q], r) for q, r in zip(questions, replies, strict=True)]


def _run_jobs(
    jobs: list[Job],
    model: Any,
    adapter: Any,
    splits: Mapping[str, Any],
    prompts: Mapping[Question, str],
    writer: store.PredictionWriter,
    budgets: Mapping[str, int],
    batch_size: int,
    show: bool,
    on_batch: Callable[[int], None] | None,
) -> None:
    from tqdm.auto import tqdm

    n_batches = 0
    for set_name in (s for s in SETS if s in splits):
        portraits = _Portraits(splits[set_name])  # one set's portraits at a time, each decoded once
        for record_task in RECORD_TASKS:
            group = [j for j in jobs if j[1].set_name == set_name and j[0] == record_task]
            if not group:
                continue
            with tqdm(total=len(group), desc=f"{set_name}/{record_task}", unit="q", disable=not show) as bar:
                for batch in _batches(group, prompts, adapter.tokenizer, batch_size):
                    writer.write(_ask(model, adapter, batch, prompts, portraits, budgets))
                    bar.update(len(batch))
                    n_batches += 1
                    if on_batch is not None:
                        on_batch(n_batches)


@holding_folder_lock("umu-hf eval", "out_dir", shard=lambda arguments: current_shard(arguments["device"]))
def evaluate_model(
    model: str,
    data: str,
    forget_ratio: int,
    out_dir: str | os.PathLike,
    batch_size: int | str = "auto",
    limit: int | None = None,
    device: str = "auto",
    dtype: str = "auto",
    classification_scoring: str = "generate",
    sets: Sequence[str] = SETS,
    overwrite: bool = False,
    loaded: tuple[Any, Any, Any] | None = None,
    *,
    max_new_tokens: Mapping[str, int] | None = None,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on UMU-Bench (``data``, ``forget_ratio``) into ``out_dir``; return the results dict.

    ``model``/``data``: a local folder or a Hub id. ``limit``: only the first ``limit`` question pairs of each
    set and task. ``classification_scoring="loglik"`` adds option log-likelihood scoring of the classification
    questions (``results["loglik"]``; the headline stays the SPEC protocol). ``loaded``: an already loaded
    ``(model, processor, adapter)`` (then ``device``/``dtype`` are not used; ``model`` still names it).
    ``max_new_tokens``: per-task overrides of the SPEC budgets (recorded; they change the numbers).
    ``batch_size``: questions per ``generate`` call, or ``"auto"`` (:func:`resolve_batch_size`: 64 for models
    under 100M parameters, else 8); it never changes a reply. ``on_batch(n)``: called after the n-th batch is
    written (progress reporting). A rerun into the same ``out_dir`` resumes; one with other settings is refused
    unless ``overwrite``. While it runs, ``out_dir`` is locked (:mod:`umu_hf.lock`): a second run into it is
    refused, "in use by PID …".
    """
    from umu_hf import __version__
    from umu_hf.data.load import load_umu_split

    ratio = check_forget_ratio(forget_ratio)
    sets = tuple(dict.fromkeys([sets] if isinstance(sets, str) else sets))
    budgets = _check_args(sets, classification_scoring, dtype, max_new_tokens)
    _check_batch_size(batch_size)
    _check_positive(limit, "limit", allow_none=True)
    out = store.check_out_dir(Path(out_dir))

    splits = {s: load_umu_split(data, set_config(s, ratio), as_dataset=False) for s in sets}
    questions = {s: list(iter_items(splits[s], s, limit=limit)) for s in sets}
    identity: dict[str, Any] = {
        "model": _source_id(model),
        "data": _source_id(data),
        "forget_ratio": ratio,
        "limit": limit,
        "classification_scoring": classification_scoring,
        "max_new_tokens": budgets,
        "dtype": None,
    }
    before_loading = [key for key in identity if key != "dtype"]
    if not overwrite:
        store.check_run(out, identity, before_loading)

    shard: Shard = current_shard(device)
    if loaded is None:
        from umu_hf.models.loading import load_model

        on_device = str(shard.device) if shard.distributed and device in ("auto", "cuda") else device
        loaded = load_model(model, on_device, dtype)
    lm, _processor, adapter = loaded
    requested_batch_size, batch_size = batch_size, resolve_batch_size(batch_size, lm)
    identity["dtype"] = str(lm.dtype).removeprefix("torch.")
    exists = False if overwrite else store.check_run(out, identity)
    header = {
        "umu_hf_version": __version__,
        "model": str(model),
        "data": str(data),
        "forget_ratio": ratio,
        "settings": {
            "batch_size": batch_size,
            "batch_size_auto": requested_batch_size == "auto",
            "limit": limit,
            "dtype": identity["dtype"],
            "device": str(lm.device),
            "max_new_tokens": budgets,
            "classification_scoring": classification_scoring,
            "option_matching": {s: OPTION_MATCHING[s] for s in sets},
            "sets": list(sets),
            "model_family": adapter.family,
            "processes": shard.world,
        },
    }
    if shard.is_main:
        if overwrite:
            store.clear_run(out)
        if not exists:
            store.write_run(
                out,
                {"umu_hf_version": __version__, "identity": identity, "model": str(model), "data": str(data)},
            )
    shard.barrier()

    jobs = _jobs(questions, classification_scoring)
    prompts = {
        q: adapter.prompt(q.task, q.question, q.with_image, q.options)
        for qs in questions.values()
        for q in qs
    }
    pending = _pending(jobs, prompts, store.load_records(out), out)
    shard.barrier()  # everyone has read the finished predictions before anyone appends
    mine = shard.take(pending)
    path = store.shard_path(out, shard.rank) if shard.distributed else out / store.PREDICTIONS
    was_training = getattr(lm, "training", False)
    lm.eval()
    try:
        with store.PredictionWriter(path) as writer:
            _run_jobs(
                mine,
                lm,
                adapter,
                splits,
                prompts,
                writer,
                budgets,
                batch_size,
                progress and shard.is_main,
                on_batch,
            )
    finally:
        lm.train(was_training)

    shard.barrier()
    if shard.is_main:
        records = store.merge_predictions(out, record_sort_key)
        results = build_results(header, questions, records, loglik=classification_scoring == "loglik")
        store.write_json(out / store.RESULTS, results)
    shard.barrier()
    if not shard.is_main:
        results = json.loads((out / store.RESULTS).read_text(encoding="utf-8"))
    return results
