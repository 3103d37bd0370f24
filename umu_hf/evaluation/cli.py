"""``umu-hf eval``: evaluate a model on UMU-Bench (thin: parse, call the runner, print the headline)."""

from __future__ import annotations

import argparse
import os


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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to the ``umu-hf`` parser."""
    from umu_hf.data.schema import SETS
    from umu_hf.evaluation.items import CLASSIFICATION_SCORINGS
    from umu_hf.privacy.mia import UNIMODAL_LAYOUTS

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
    parser.add_argument(
        "--privacy",
        action="store_true",
        help="also run membership inference (LOSS, zlib, Min-K%%, Min-K%%++ on the training pairs' answer tokens): "
        "AUC of the forget set against the dataset's holdout config, per modality, under 'privacy' in "
        "results.json ('unavailable' when the data has no holdout, e.g. converted published data)",
    )
    parser.add_argument(
        "--retain-model",
        metavar="MODEL",
        help="a retain model (vanilla fine-tuned without the forget people: `umu-hf finetune --config_name "
        "retain85+real`): adds forget quality (KS p-value of forget truth ratios) and PrivLeak (relative MIA AUC "
        "gap) against it, per modality; implies --privacy",
    )
    parser.add_argument(
        "--unimodal-layout",
        choices=tuple(UNIMODAL_LAYOUTS),
        default=None,
        help="how the fine-tuning that made the forget set members asked UM_QA, for the unimodal attacks: "
        "with-portrait (the original vanilla fine-tuning) or text-only (umu-hf's paired streams). Default: read "
        "from the model's umu_training.json (an unlearned model's record leads to its vanilla's); a model without "
        "one (a Hub checkpoint) is scored text-only, and results.json's privacy.layout says which and why",
    )
    parser.add_argument("--overwrite", action="store_true", help="discard results of another run in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from umu_hf.evaluation.results import format_headline
    from umu_hf.evaluation.runner import EvalRequest, evaluate_model
    from umu_hf.evaluation.store import RESULTS

    request = EvalRequest(
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
        privacy=args.privacy,
        retain_model=args.retain_model,
        unimodal_layout=args.unimodal_layout,
    )
    results = evaluate_model(request, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(format_headline(results))
        if "privacy" in results:
            from umu_hf.privacy.mia import format_privacy
            from umu_hf.privacy.reference import format_comparison

            print(format_privacy(results["privacy"]))
            comparison = format_comparison(results["privacy"])
            if comparison:
                print(comparison)
        print(f"results: {os.path.join(args.out, RESULTS)}")
    return 0
