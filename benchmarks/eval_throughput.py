"""Questions per second of the evaluation runner against a per-question loop like the original scripts.

The baseline does what the original ``eval.py`` does: for every question, decode the profile's portrait, build
the prompt and call ``generate`` once (batch of one). The runner
(:func:`umu_hf.evaluation.runner.evaluate_model`) asks the same questions in length-sorted, left-padded
batches, decoding each portrait once. Both use the same already-loaded model, the same data and greedy
decoding, and the script checks that every reply is identical before reporting the ratio. The two take turns
set by set, so changes in machine load affect both alike.

    python benchmarks/eval_throughput.py            # untrained tiny LLaVA on synthetic data, 2 threads
    python benchmarks/eval_throughput.py --model M --data D --limit 8 --batch-size 32 --threads 16

Without ``--model``/``--data`` it builds both in a temporary folder (synthetic 40 + 8 profiles, tiny LLaVA of
size ``small``). An untrained model never stops early, so every question costs its full original budget in both
loops.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or Hub id (default: build an untrained tiny LLaVA)")
    parser.add_argument("--data", help="dataset folder or repo id (default: generate a synthetic one)")
    parser.add_argument("--forget-ratio", type=int, default=5)
    parser.add_argument("--limit", type=int, default=16, help="question pairs per set and task (default 16)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="one budget for every task instead of the original ones (50/50/200)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements to this file")
    return parser.parse_args(argv)


def baseline(model, adapter, split, questions: list, budgets: dict) -> dict[str, str]:
    """The original scripts' loop: one question at a time, the portrait decoded for every question."""
    replies = {}
    images = split.select_columns(["image"])
    for q in questions:
        image = [images[q.row]["image"].convert("RGB")] if q.with_image else None
        prompt = adapter.prompt(q.task, q.question, q.with_image, q.options)
        replies[q.uid()] = adapter.generate(model, [prompt], image, budgets[q.task])[0]
        q.score(replies[q.uid()])
    return replies


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    import torch

    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import SETS, TASKS, set_config
    from umu_hf.evaluation.items import iter_items
    from umu_hf.evaluation.runner import EvalRequest, evaluate_model
    from umu_hf.evaluation.store import PREDICTIONS, read_records
    from umu_hf.models.loading import load_model
    from umu_hf.prompts import MAX_NEW_TOKENS

    torch.set_num_threads(args.threads)
    scratch = tempfile.TemporaryDirectory(prefix="umu-eval-throughput-")  # removed when main returns
    work = Path(scratch.name)
    data = args.data
    if data is None:
        from umu_hf.data.synth import generate_dataset

        data = str(generate_dataset(work / "data", 40, 8, seed=0))
    model_path = args.model
    if model_path is None:
        from umu_hf.models.tiny import build_tiny_from_dataset

        model_path = str(build_tiny_from_dataset(data, work / "tiny", size="small", seed=0))
    budgets = (
        dict(MAX_NEW_TOKENS) if args.max_new_tokens is None else dict.fromkeys(TASKS, args.max_new_tokens)
    )
    loaded = load_model(model_path, args.device, args.dtype)
    model, _, adapter = loaded
    adapter.generate(model, [adapter.prompt("cloze", "Warm up ___.", False)], None, 2)  # first-call overheads

    # The two loops take turns, one evaluation set at a time, so a change in machine load during the
    # measurement hits both alike.
    out = work / "eval"
    loop_replies: dict[str, str] = {}
    loop_s = runner_s = 0.0
    for set_name in SETS:
        start = time.perf_counter()
        split = load_umu_split(data, set_config(set_name, args.forget_ratio))
        questions = list(iter_items(split, set_name, limit=args.limit))
        loop_replies.update(baseline(model, adapter, split, questions, budgets))
        loop_s += time.perf_counter() - start

        start = time.perf_counter()
        request = EvalRequest(
            model_path,
            data,
            args.forget_ratio,
            out,
            batch_size=args.batch_size,
            limit=args.limit,
            sets=[set_name],
            max_new_tokens=budgets,
        )
        evaluate_model(request, loaded=loaded, progress=False)
        runner_s += time.perf_counter() - start
    runner_replies = {r["id"]: r["reply"] for r in read_records(out / PREDICTIONS)}

    n = len(loop_replies)
    equal = sum(runner_replies.get(uid) == reply for uid, reply in loop_replies.items())
    report = {
        "questions": n,
        "equal_predictions": equal,
        "per_question_loop_s": round(loop_s, 2),
        "runner_s": round(runner_s, 2),
        "per_question_loop_qps": round(n / loop_s, 3),
        "runner_qps": round(n / runner_s, 3),
        "speedup": round(loop_s / runner_s, 2),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "max_new_tokens": budgets,
        "model": model_path,
        "command": "python benchmarks/eval_throughput.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    scratch.cleanup()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if equal != n:
        print(
            f"error: {n - equal} of {n} replies differ between the runner and the per-question loop",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
