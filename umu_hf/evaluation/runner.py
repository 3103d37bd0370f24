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

Code above the evaluation adds its own numbers of the same model to ``results.json`` through an
:class:`ExtraBlock` (the privacy block: :func:`umu_hf.privacy.block.evaluate_with_privacy`), measured with the
model the run loaded, so the model is loaded once.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from umu_hf.data.schema import set_config
from umu_hf.errors import UmuError
from umu_hf.evaluation import store
from umu_hf.evaluation.batching import resolve_batch_size
from umu_hf.evaluation.execute import Asker, execute
from umu_hf.evaluation.items import OPTION_MATCHING, iter_items
from umu_hf.evaluation.plan import EvalPlan, plan_evaluation
from umu_hf.evaluation.request import EvalRequest
from umu_hf.evaluation.results import build_results, record_sort_key
from umu_hf.evaluation.sharding import Shard, current_shard
from umu_hf.lock import folder_lock


class ExtraBlock(Protocol):
    """A block of ``results.json`` beyond the benchmark's numbers, measured on the evaluated model by code above
    the evaluation (:func:`evaluate_model`'s ``extra_blocks``). It asks no question, so it is not part of the
    run's identity: a finished run can be rerun with it, and the rerun asks nothing again."""

    def prepare(self, out: Path, splits: Mapping[str, Any]) -> None:
        """On the main process, once ``out`` is known to be this run's folder and before the evaluated model is
        loaded (so another model measured here is never in memory beside it); ``splits``: ``{set: split}`` of
        the sets the run asks."""

    def measure(self, model: Any, processor: Any, adapter: Any, batch_size: int) -> dict[str, Any]:
        """The block, on the main process once every question is answered, with the evaluation's model and
        batch size."""


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
    extras: Mapping[str, Callable[[], dict[str, Any]]],
) -> dict:
    """Rank 0 merges the predictions and writes ``results.json``, with each extra block ``extras[key]()`` under
    its key after the benchmark's numbers; every process returns the results."""
    shard.barrier()
    if shard.is_main:
        records = store.merge_predictions(out, record_sort_key)
        results = build_results(header, plan.questions, records, scoring)
        results.update((key, block()) for key, block in extras.items())
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
    extra_blocks: Mapping[str, ExtraBlock] | None = None,
) -> dict[str, Any]:
    """Evaluate ``request.model`` as ``request`` says; return the results dict (also in ``results.json``).

    ``loaded``: the model already loaded, ``(model, processor, adapter)`` (then ``request.device``/``dtype``
    are not used; ``request.model`` still names it). ``on_batch(n)``: called after the n-th batch is written
    (progress reporting). ``extra_blocks``: ``{key: block}``, each :class:`ExtraBlock` measured on the same
    model and written under ``key`` in ``results.json`` with the rest. A rerun into the same ``out_dir``
    resumes; one with other settings is refused unless ``request.overwrite``. While it runs, ``out_dir`` is
    locked (:mod:`umu_hf.lock`): a second run into it is refused, "in use by PID …".
    """
    with folder_lock(Path(request.out_dir).expanduser(), "umu-hf eval", current_shard(request.device)):
        return _evaluate(request, loaded, progress, on_batch, dict(extra_blocks or {}))


def _evaluate(
    request: EvalRequest,
    loaded: tuple[Any, Any, Any] | None,
    progress: bool,
    on_batch: Callable[[int], None] | None,
    blocks: Mapping[str, ExtraBlock],
) -> dict[str, Any]:
    from umu_hf.data.load import load_umu_split

    out = store.check_out_dir(Path(request.out_dir))
    splits = {
        s: load_umu_split(request.data, set_config(s, request.forget_ratio), as_dataset=False)
        for s in request.sets
    }
    questions = {s: list(iter_items(splits[s], s, limit=request.limit)) for s in request.sets}
    identity = request.identity()
    if not request.overwrite:
        store.check_run(out, identity, [key for key in identity if key != "dtype"])
    shard = current_shard(request.device)
    if shard.is_main:
        for block in blocks.values():
            block.prepare(out, splits)
    if loaded is None:
        from umu_hf.models.loading import load_model

        device = request.device
        on_device = str(shard.device) if shard.distributed and device in ("auto", "cuda") else device
        loaded = load_model(request.model, on_device, request.dtype)
    model, processor, adapter = loaded
    identity["dtype"] = str(model.dtype).removeprefix("torch.")
    batch_size = resolve_batch_size(request.batch_size, model)
    header = _header(request, identity["dtype"], model, adapter, batch_size, shard.world)
    taken = set(blocks) & set(build_results(header, {}, {}, request.classification_scoring))
    if taken:  # every process refuses, before any question is asked
        raise UmuError(f"extra_blocks: {', '.join(map(repr, sorted(taken)))} is a key of results.json's own; "
                       "name the block otherwise")
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
    extras = {key: functools.partial(block.measure, model, processor, adapter, batch_size)
              for key, block in blocks.items()}
    return _finish(out, header, plan, request.classification_scoring, shard, extras)
