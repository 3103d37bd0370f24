"""``umu-hf eval``: evaluate a model on UMU-Bench (thin: parse, call the runner, print the headline).

The command's evaluation flags, its request and its report live here; :mod:`umu_hf.privacy.cli` registers the
command with the privacy flags added (``--privacy``, ``--retain-model``, ``--unimodal-layout``), whose block is
measured on top of the evaluation.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from umu_hf.evaluation.request import EvalRequest


def _task_budget(text: str) -> tuple[str, int]:
    task, _, tokens = text.partition("=")
    if not tokens.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected TASK=N (e.g. generation=64), got {text!r}")
    return task.strip(), int(tokens)


def _batch_size(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer or auto, got {text!r}")
    return int(text)


def add_eval_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``eval`` with the evaluation's flags to the ``umu-hf`` parser and return it; the caller adds its own
    flags and sets the handler (``func``)."""
    from umu_hf.data.schema import SETS
    from umu_hf.evaluation.items import CLASSIFICATION_SCORINGS

    parser = subparsers.add_parser(
        "eval",
        help="evaluate a model on UMU-Bench: forget/retain/real x 3 tasks x 2 modalities",
        description="Greedy, batched evaluation of a vision-language model on UMU-Bench. Writes "
        "OUT/results.json (headline AccF/AccR/RLF/RLR, per-modality scores, 2x2 tables) and "
        "OUT/predictions.jsonl (one line per question and modality). Rerun the same command to resume. "
        "To split the questions over N processes run it under `torchrun --nproc_per_node N -m umu_hf.cli "
        "eval ...` (on GPUs also `accelerate launch --num_processes N -m umu_hf.cli eval ...`).",
    )
    parser.add_argument("--model", required=True, help="model folder or Hub id (a vision-language model)")
    parser.add_argument(
        "--data", required=True, help="dataset: Hub repo id, Hub-layout folder or published layout"
    )
    parser.add_argument(
        "--forget-ratio", required=True, help="5, 10 or 15 (percent of fictitious profiles forgotten)"
    )
    parser.add_argument(
        "--out", required=True, help="output folder (results.json, predictions.jsonl, run.json)"
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default="auto",
        help="questions per generate call, or auto: 64 for models under 100M parameters (the embedded tiny "
        "LLaVA), else 8 (default auto; recorded in results.json; never changes a reply)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="only the first N question pairs per set and task"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16 (default auto)")
    parser.add_argument(
        "--classification-scoring",
        default="generate",
        choices=CLASSIFICATION_SCORINGS,
        help="loglik: also score multiple choice by option log-likelihood (reported under 'loglik')",
    )
    parser.add_argument(
        "--sets",
        nargs="+",
        default=list(SETS),
        metavar="SET",
        help=f"evaluation sets (default: {' '.join(SETS)})",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=_task_budget,
        action="append",
        default=None,
        metavar="TASK=N",
        help="override a task's generation budget (not the original protocol; recorded in results)",
    )
    parser.add_argument("--overwrite", action="store_true", help="discard results of another run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def eval_request(args: argparse.Namespace) -> EvalRequest:
    """The :class:`~umu_hf.evaluation.request.EvalRequest` of parsed ``umu-hf eval`` arguments."""
    from umu_hf.evaluation.request import EvalRequest

    return EvalRequest(
        args.model,
        args.data,
        args.forget_ratio,
        args.out,
        batch_size=args.batch_size,
        limit=args.limit,
        device=args.device,
        dtype=args.dtype,
        classification_scoring=args.classification_scoring,
        sets=args.sets,
        overwrite=args.overwrite,
        max_new_tokens=dict(args.max_new_tokens) if args.max_new_tokens else None,
    )


def print_report(results: Mapping[str, Any], out: str, *more: str) -> None:
    """On the main process: the headline table, the non-empty ``more`` lines (other blocks as text) and where
    ``results.json`` is."""
    from umu_hf.evaluation.results import format_headline
    from umu_hf.evaluation.store import RESULTS

    if int(os.environ.get("RANK", "0")) != 0:
        return
    print(format_headline(results))
    for text in more:
        if text:
            print(text)
    print(f"results: {os.path.join(out, RESULTS)}")
