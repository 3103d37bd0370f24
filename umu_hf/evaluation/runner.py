"""The benchmark run: every set (forget, retain, real) x task x modality, greedy decoding, scored by
:mod:`umu_hf.scoring`, written to ``OUT/predictions.jsonl`` and ``OUT/results.json``.

A run is an :class:`EvalRequest` (what to evaluate, how, into which folder) handed to :func:`evaluate_model`,
which makes the folder this run's, plans (:func:`plan_evaluation`: every :class:`Job` of the run minus the
finished ones), executes this process's share of the plan (:func:`execute`) and builds the results.

The request is :mod:`.request`'s, the plan :mod:`.plan`'s and the asking :mod:`.execute`'s; this module runs them
and writes the results. Fast because the model is loaded once, each portrait is decoded once per set, and
questions are asked in batches (left padding, sorted by prompt length so little padding is wasted; greedy
decoding, so a batched reply is the reply the question gets alone). Resumable because each batch is appended and
flushed as it finishes and a rerun asks only the missing questions. See :mod:`umu_hf.evaluation.sharding` for several
processes.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.data.schema import set_config
from umu_hf.evaluation import store
from umu_hf.evaluation.batching import resolve_batch_size
from umu_hf.evaluation.execute import Asker, execute
from umu_hf.evaluation.items import OPTION_MATCHING, iter_items
from umu_hf.evaluation.plan import EvalPlan, plan_evaluation
from umu_hf.evaluation.request import EvalRequest
from umu_hf.evaluation.results import build_results, record_sort_key
from umu_hf.evaluation.sharding import Shard, current_shard
from umu_hf.identity import source_id
from umu_hf.lock import folder_lock

if TYPE_CHECKING:
    from umu_hf.privacy.mia import Layout


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
