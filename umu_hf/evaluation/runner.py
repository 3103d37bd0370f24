"""The benchmark run: every set (forget, retain, real) x task x modality, greedy decoding, scored by
:mod:`umu_hf.scoring`, written to ``OUT/predictions.jsonl`` and ``OUT/results.json``.

A run is an :class:`EvalRequest` (what to evaluate, how, into which folder) handed to :func:`evaluate_model`,
which makes the folder this run's, plans (:func:`plan_evaluation`: every :class:`Job` of the run minus the
finished ones), executes this process's share of the plan (:func:`execute`) and builds the results.

Fast because the model is loaded once, each portrait is decoded once per set, and questions are asked in
batches (left padding, sorted by prompt length so little padding is wasted; greedy decoding, so a batched
reply is the reply the question gets alone). Resumable because each batch is appended and flushed as it
finishes and a rerun asks only the missing questions. See :mod:`umu_hf.evaluation.sharding` for several
processes.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.data.decode import Portraits
from umu_hf.data.schema import SETS, TASKS, check_forget_ratio, set_config
from umu_hf.errors import ResultsConflictError, UmuError
from umu_hf.evaluation import store
from umu_hf.evaluation.batching import check_batch_size, check_positive, resolve_batch_size
from umu_hf.evaluation.items import OPTION_MATCHING, RECORD_TASKS, Question, iter_items, task_scorings
from umu_hf.evaluation.results import build_results, record_sort_key
from umu_hf.evaluation.sharding import Shard, current_shard
from umu_hf.identity import source_id
from umu_hf.lock import folder_lock

if TYPE_CHECKING:
    from umu_hf.privacy.mia import Layout

def _budgets(overrides: Mapping[str, int] | None) -> dict[str, int]:
    """Every task's ``max_new_tokens``: docs/protocol.md's, with ``overrides`` checked and applied."""
    from umu_hf.prompts import MAX_NEW_TOKENS

    budgets = dict(MAX_NEW_TOKENS)
    for task, tokens in (overrides or {}).items():
        if task not in TASKS:
            raise UmuError(f"max_new_tokens: unknown task {task!r}; tasks are {', '.join(TASKS)}")
        budgets[task] = check_positive(tokens, f"max_new_tokens[{task}]")
    return budgets


@dataclass(frozen=True)
class EvalRequest:
    """One evaluation: ``model`` (a local folder or a Hub id) on UMU-Bench ``data`` (likewise) at
    ``forget_ratio`` into ``out_dir``. Checked when made (:class:`UmuError` names a bad value) and normalised:
    ``forget_ratio`` an int, ``sets`` a tuple without repeats, ``max_new_tokens`` every task's budget.

    ``batch_size``: questions per ``generate`` call, or ``"auto"``
    (:func:`umu_hf.evaluation.batching.resolve_batch_size`); it never changes a reply. ``limit``: only the
    first ``limit`` question pairs of each set and task.
    ``device``/``dtype``: where and how the model is loaded. ``classification_scoring``: ``"loglik"`` also
    scores the classification questions by option log-likelihood (``results["loglik"]``; the headline stays
    the original protocol). ``overwrite``: discard another run's results in ``out_dir`` instead of refusing.
    ``max_new_tokens``: per-task overrides of the original budgets (recorded; they change the numbers).
    ``privacy``: also run the membership-inference attacks of :mod:`umu_hf.privacy.mia` (forget set against the
    dataset's ``holdout`` config) and write their AUCs under ``privacy`` in the results, or
    ``{"unavailable": why}`` when the dataset has no holdout. It asks no question, so it is not part of the run's
    identity: a finished run can be rerun with it. ``retain_model``: a retain model (vanilla fine-tuned without
    the forget people) to compare against: forget quality and PrivLeak join the ``privacy`` block
    (:mod:`umu_hf.privacy.reference`; implies ``privacy``). ``retain_reference``: that model's own privacy block
    when already measured (the bench measures it once for every method). ``unimodal_layout``: how the fine-tuning
    that made the forget set members asked ``UM_QA`` (``"with-portrait"`` or ``"text-only"``,
    :data:`umu_hf.privacy.mia.UNIMODAL_LAYOUTS`); None: read from the model's training records
    (:func:`umu_hf.privacy.mia.training_layout`; text only without one). Recorded as ``layout`` in the block.
    """

    model: str
    data: str
    forget_ratio: int | str
    out_dir: str | os.PathLike
    _: KW_ONLY
    batch_size: int | str = "auto"
    limit: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    classification_scoring: str = "generate"
    sets: Sequence[str] = SETS
    overwrite: bool = False
    max_new_tokens: Mapping[str, int] | None = None
    privacy: bool = False
    retain_model: str | None = None
    retain_reference: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    unimodal_layout: str | None = None

    def __post_init__(self) -> None:
        from umu_hf.utils import check_dtype

        ratio = check_forget_ratio(self.forget_ratio)
        sets = tuple(dict.fromkeys([self.sets] if isinstance(self.sets, str) else self.sets))
        unknown = [s for s in sets if s not in SETS]
        if unknown or not sets:
            raise UmuError(f"unknown evaluation set(s) {unknown or '(none)'}; choose from {', '.join(SETS)}")
        task_scorings("classification", self.classification_scoring)  # raises on an unknown scoring
        check_dtype(self.dtype)
        budgets = _budgets(self.max_new_tokens)
        check_batch_size(self.batch_size)
        check_positive(self.limit, "limit", allow_none=True)
        for name, value in (("forget_ratio", ratio), ("sets", sets), ("max_new_tokens", budgets)):
            object.__setattr__(self, name, value)
        if self.unimodal_layout is not None:
            from umu_hf.privacy.mia import UNIMODAL_LAYOUTS

            if self.unimodal_layout not in UNIMODAL_LAYOUTS:
                raise UmuError(f"unimodal_layout must be one of {', '.join(UNIMODAL_LAYOUTS)} (how fine-tuning "
                               f"asked UM_QA), got {self.unimodal_layout!r}")
        if self.retain_model is not None or self.retain_reference is not None:
            object.__setattr__(self, "privacy", True)  # the comparison is part of the privacy block

    @property
    def budgets(self) -> dict[str, int]:
        """Every task's ``max_new_tokens``."""
        return dict(self.max_new_tokens or {})

    def identity(self) -> dict[str, Any]:
        """The settings that change the numbers (``run.json``; a rerun with others is refused). ``dtype`` is
        None until the model is loaded."""
        return {
            "model": source_id(self.model),
            "data": source_id(self.data),
            "forget_ratio": self.forget_ratio,
            "limit": self.limit,
            "classification_scoring": self.classification_scoring,
            "max_new_tokens": self.budgets,
            "dtype": None,
        }


# -- the plan ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One prediction to make: ``question`` answered by a generated reply (``scoring="generate"``) or, for a
    classification question, by the option of highest log-likelihood (``"loglik"``)."""

    question: Question
    scoring: str = "generate"

    @property
    def record_task(self) -> str:
        """The ``task`` its prediction record carries."""
        return self.question.record_task(self.scoring)

    @property
    def uid(self) -> str:
        """The ``id`` of its prediction record."""
        return self.question.uid(self.scoring)


@dataclass(frozen=True)
class EvalPlan:
    """What a run asks: its questions by set (what the results pair up), each question's prompt, and the jobs
    without a finished prediction in canonical order (set, task, scoring, modality, profile, index)."""

    questions: Mapping[str, Sequence[Question]]
    prompts: Mapping[Question, str]
    jobs: list[Job]


def _all_jobs(questions: Mapping[str, Sequence[Question]], classification_scoring: str) -> Iterator[Job]:
    """Every job of a run in canonical order (set, task, scoring, modality, profile, index)."""
    for set_name in (s for s in SETS if s in questions):
        for task in TASKS:
            chosen = [q for q in questions[set_name] if q.task == task]
            chosen.sort(key=lambda q: (q.modality != "unimodal", q.profile_id, q.index))
            for scoring in task_scorings(task, classification_scoring):
                yield from (Job(q, scoring) for q in chosen)


def plan_evaluation(
    questions: Mapping[str, Sequence[Question]],
    prompt: Callable[[Question], str],
    classification_scoring: str,
    out: Path,
) -> EvalPlan:
    """The plan of a run over ``questions`` (by set), each asked as ``prompt(question)``: every job of the run
    minus those with a finished prediction in ``out`` (resume). A finished prediction made for another prompt
    or answer is refused (:class:`ResultsConflictError`)."""
    prompts = {q: prompt(q) for qs in questions.values() for q in qs}
    done = store.load_records(out)
    pending = []
    for job in _all_jobs(questions, classification_scoring):
        record = done.get(job.uid)
        if record is None:
            pending.append(job)
        elif (
            record.get("prompt") != prompts[job.question] or record.get("reference") != job.question.reference
        ):
            raise ResultsConflictError(
                f"{out}: the finished prediction {job.uid} was made for another prompt or answer (the "
                "dataset or the model's prompt template changed); use another --out or --overwrite"
            )
    return EvalPlan(questions, prompts, pending)


# -- execution -----------------------------------------------------------------------------------------------


def _record(job: Job, prompt: str, reply: str, **extra: Any) -> dict[str, Any]:
    question = job.question
    record = {
        "id": job.uid,
        "set": question.set_name,
        "task": job.record_task,
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
    record.update(question.score(reply, job.scoring))
    return record


@dataclass(frozen=True)
class Asker:
    """What asking needs: the model, its adapter, each task's ``max_new_tokens``, the questions per batch."""

    model: Any
    adapter: Any
    budgets: Mapping[str, int]
    batch_size: int

    def batches(self, jobs: Sequence[Job], prompts: Mapping[Question, str]) -> list[list[Job]]:
        """Batches of one modality each, longest prompts first (ties keep the canonical order)."""
        if not jobs:
            return []
        texts = [prompts[job.question] for job in jobs]
        lengths = [len(ids) for ids in self.adapter.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        batches = []
        for modality in ("unimodal", "multimodal"):
            order = sorted(
                (i for i, job in enumerate(jobs) if job.question.modality == modality),
                key=lambda i: -lengths[i],
            )
            group = [jobs[i] for i in order]
            batches.extend(group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size))
        return batches

    def ask(self, batch: Sequence[Job], prompts: Mapping[Question, str], portraits: Portraits) -> list[dict]:
        """Run one batch (jobs of one set, task, scoring and modality) and return its prediction records."""
        questions = [job.question for job in batch]
        images = [portraits(q.row) for q in questions] if questions[0].with_image else None
        if batch[0].scoring == "loglik":
            from umu_hf.evaluation.loglik import choose, option_logliks

            scores = option_logliks(self.model, self.adapter, questions, images)
            return [
                _record(job, prompts[job.question], choose(s, job.question.options or ()), option_logliks=s)
                for job, s in zip(batch, scores, strict=True)
            ]
        texts = [prompts[q] for q in questions]
        replies = self.adapter.generate(self.model, texts, images, self.budgets[questions[0].task])
        return [_record(job, prompts[job.question], r) for job, r in zip(batch, replies, strict=True)]


def execute(
    jobs: Sequence[Job],
    plan: EvalPlan,
    splits: Mapping[str, Any],
    asker: Asker,
    path: Path,
    *,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Ask ``jobs`` (of ``plan``; portraits from ``splits``) set by set and record task by record task, in
    batches, appending each batch's records to ``path`` as it finishes; the model is in eval mode meanwhile.
    ``on_batch(n)``: called after the n-th batch is written."""
    from tqdm.auto import tqdm

    was_training = getattr(asker.model, "training", False)
    asker.model.eval()
    n_batches = 0
    try:
        with store.PredictionWriter(path) as writer:
            for name, group, portraits in _groups(jobs, splits):
                with tqdm(total=len(group), desc=name, unit="q", disable=not progress) as bar:
                    for batch in asker.batches(group, plan.prompts):
                        writer.write(asker.ask(batch, plan.prompts, portraits))
                        bar.update(len(batch))
                        n_batches += 1
                        if on_batch is not None:
                            on_batch(n_batches)
    finally:
        asker.model.train(was_training)


def _groups(jobs: Sequence[Job], splits: Mapping[str, Any]) -> Iterator[tuple[str, list[Job], Portraits]]:
    """``("set/record task", jobs, the set's portraits)`` by set, then record task (one set's portraits at a
    time, each decoded once)."""
    for set_name in (s for s in SETS if s in splits):
        portraits = Portraits(splits[set_name])
        for record_task in RECORD_TASKS:
            group = [j for j in jobs if j.question.set_name == set_name and j.record_task == record_task]
            if group:
                yield f"{set_name}/{record_task}", group, portraits


# -- the run -------------------------------------------------------------------------------------------------


def _header(request: EvalRequest, dtype: str, model: Any, adapter: Any, batch_size: int, world: int) -> dict:
    """``results.json``'s first keys: version, model, data, ratio and the settings the run used."""
    from umu_hf import __version__

    return {
        "umu_hf_version": __version__,
        "model": str(request.model),
        "data": str(request.data),
        "forget_ratio": request.forget_ratio,
        "settings": {
            "batch_size": batch_size,
            "batch_size_auto": request.batch_size == "auto",
            "limit": request.limit,
            "dtype": dtype,
            "device": str(model.device),
            "max_new_tokens": request.budgets,
            "classification_scoring": request.classification_scoring,
            "option_matching": {s: OPTION_MATCHING[s] for s in request.sets},
            "sets": list(request.sets),
            "model_family": adapter.family,
            "processes": world,
        },
    }


def _claim(out: Path, request: EvalRequest, identity: Mapping[str, Any], shard: Shard) -> None:
    """Make ``out`` this run's: another run's results are refused (or cleared with ``overwrite``), and
    ``run.json`` records the identity; every process waits for rank 0."""
    from umu_hf import __version__

    exists = False if request.overwrite else store.check_run(out, identity)
    if shard.is_main:
        if request.overwrite:
            store.clear_run(out)
        if not exists:
            run = {
                "umu_hf_version": __version__,
                "identity": identity,
                "model": str(request.model),
                "data": str(request.data),
            }
            store.write_run(out, run)
    shard.barrier()


def _finish(
    out: Path,
    header: Mapping[str, Any],
    plan: EvalPlan,
    scoring: str,
    shard: Shard,
    privacy: Callable[[], dict[str, Any]] | None = None,
) -> dict:
    """Rank 0 merges the predictions and writes ``results.json`` (with the ``privacy`` block ``privacy()``
    when given); every process returns the results."""
    shard.barrier()
    if shard.is_main:
        records = store.merge_predictions(out, record_sort_key)
        results = build_results(header, plan.questions, records, scoring)
        if privacy is not None:
            results["privacy"] = privacy()
        store.write_json(out / store.RESULTS, results)
    shard.barrier()
    if not shard.is_main:
        results = json.loads((out / store.RESULTS).read_text(encoding="utf-8"))
    return results


def evaluate_model(
    request: EvalRequest,
    *,
    loaded: tuple[Any, Any, Any] | None = None,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate ``request.model`` as ``request`` says; return the results dict (also in ``results.json``).

    ``loaded``: the model already loaded, ``(model, processor, adapter)`` (then ``request.device``/``dtype``
    are not used; ``request.model`` still names it). ``on_batch(n)``: called after the n-th batch is written
    (progress reporting). A rerun into the same ``out_dir`` resumes; one with other settings is refused unless
    ``request.overwrite``. While it runs, ``out_dir`` is locked (:mod:`umu_hf.lock`): a second run into it is
    refused, "in use by PID …".
    """
    with folder_lock(Path(request.out_dir).expanduser(), "umu-hf eval", current_shard(request.device)):
        return _evaluate(request, loaded, progress, on_batch)


def _evaluate(
    request: EvalRequest,
    loaded: tuple[Any, Any, Any] | None,
    progress: bool,
    on_batch: Callable[[int], None] | None,
) -> dict[str, Any]:
    from umu_hf.data.load import load_umu_split

    out = store.check_out_dir(Path(request.out_dir))
    splits = {
        s: load_umu_split(request.data, set_config(s, request.forget_ratio), as_dataset=False)
        for s in request.sets
    }
    questions = {s: list(iter_items(splits[s], s, limit=request.limit)) for s in request.sets}
    privacy_data = _privacy_splits(request, splits) if request.privacy else None
    identity = request.identity()
    if not request.overwrite:
        store.check_run(out, identity, [key for key in identity if key != "dtype"])
    shard = current_shard(request.device)
    layout = None
    if privacy_data is not None:
        from umu_hf.privacy.mia import training_layout

        layout = training_layout(request.model, request.unimodal_layout)
    reference = request.retain_reference
    if reference is None and request.retain_model and not isinstance(privacy_data, str | None) and shard.is_main:
        from umu_hf.privacy.reference import retain_reference

        reference = retain_reference(
            request.retain_model, *privacy_data, out,
            {"retain_model": source_id(request.retain_model), "data": identity["data"],
             "forget_ratio": request.forget_ratio, "limit": request.limit, "dtype": request.dtype},
            limit=request.limit, batch_size=request.batch_size, device=request.device, dtype=request.dtype,
            layout=layout,
        )
    if loaded is None:
        from umu_hf.models.loading import load_model

        device = request.device
        on_device = str(shard.device) if shard.distributed and device in ("auto", "cuda") else device
        loaded = load_model(request.model, on_device, request.dtype)
    model, _processor, adapter = loaded
    identity["dtype"] = str(model.dtype).removeprefix("torch.")
    batch_size = resolve_batch_size(request.batch_size, model)
    header = _header(request, identity["dtype"], model, adapter, batch_size, shard.world)
    _claim(out, request, identity, shard)

    plan = plan_evaluation(
        questions,
        lambda q: adapter.prompt(q.task, q.question, q.with_image, q.options),
        request.classification_scoring,
        out,
    )
    shard.barrier()  # everyone has read the finished predictions before anyone appends
    path = store.shard_path(out, shard.rank) if shard.distributed else out / store.PREDICTIONS
    asker = Asker(model, adapter, request.budgets, batch_size)
    execute(
        shard.take(plan.jobs),
        plan,
        splits,
        asker,
        path,
        progress=progress and shard.is_main,
        on_batch=on_batch,
    )
    privacy = None
    if privacy_data is not None:
        privacy = functools.partial(_privacy_block, request, privacy_data, model, adapter, batch_size, reference,
                                    layout)
    return _finish(out, header, plan, request.classification_scoring, shard, privacy)


def _privacy_splits(request: EvalRequest, splits: Mapping[str, Any]) -> tuple[Any, Any] | str:
    """(forget split, holdout split) for the membership-inference attacks, or one line saying why there are
    none (the dataset has no ``holdout`` config)."""
    from umu_hf.data.load import MissingConfigError, load_umu_split

    try:
        holdout = load_umu_split(request.data, "holdout", as_dataset=False)
    except MissingConfigError as exc:
        return " ".join(str(exc).split())
    forget = splits.get("forget")
    if forget is None:
        forget = load_umu_split(request.data, set_config("forget", request.forget_ratio), as_dataset=False)
    return forget, holdout


def _privacy_block(
    request: EvalRequest,
    data: tuple[Any, Any] | str,
    model: Any,
    adapter: Any,
    batch_size: int,
    reference: Mapping[str, Any] | None = None,
    layout: Layout | None = None,
) -> dict[str, Any]:
    """``results["privacy"]``: the attacks' AUCs (pairs laid out as ``layout`` says) and forget truth ratios per
    modality, compared with the retain model's when there is one (``reference``), or ``{"unavailable": why}``."""
    if isinstance(data, str):
        return {"unavailable": data}
    from umu_hf.privacy.reference import compare_with_retain, measure

    forget, holdout = data
    block = measure(model, adapter, forget, holdout, batch_size=batch_size, limit=request.limit, layout=layout)
    if reference is None:
        return block
    retain = source_id(request.retain_model) if request.retain_model else None
    return compare_with_retain(block, reference, retain)
