"""Where ``umu-hf eval``'s time goes, and how far any batched runner can lead the original per-question loop.

``benchmarks/eval_speed.py`` measures the lead (the original ``eval.py``'s loop against the runner and the whole
command); this script splits the runner's own time so that a target for that lead can be checked against
arithmetic instead of hope. It runs :func:`umu_hf.evaluation.runner.evaluate_model` once, with the model already
loaded, and times with forward hooks:

- **prefill**: the model's forward passes over the prompts (``input_ids`` longer than one token), their count and
  tokens (padded and real); with the image pathway's share (the vision tower's forwards);
- **decode**: the one-token forward passes of greedy decoding, and how many;
- **other**: everything else (the processor's tokenising and image preprocessing, ``generate``'s own steps,
  detokenising, scoring, writing predictions).

It then measures this machine's throughput on the prefill's matrix products (``torch.nn.functional.linear`` at
the shapes of a typical batch, same threads) and counts their arithmetic: every question's prompt tokens through
every linear layer of the language model (the vision tower and projector, and ``lm_head``'s one position per
prompt, are left out: a lower bound). The per-question loop must do that same arithmetic for the same prompts
(it prefills each prompt alone, no padding), so ``loop seconds / prefill seconds`` bounds the lead of *any*
runner that computes what the original computes (same weights, same float32 arithmetic, every reply generated):
it is the lead a runner would have if decoding, preprocessing and scoring took no time at all.

    python benchmarks/eval_phases.py --model M --benchmark-size --loop-seconds 201
    python benchmarks/eval_phases.py --model M --data D --json phases.json

``--loop-seconds``: the original loop's time on the same model and questions (``eval_speed.py``'s ``loop``), to
print the bounds. ``--benchmark-size`` as in ``eval_speed.py`` (``umu-hf data synth`` defaults: 653 profiles,
written to a scratch folder first, not timed). Threads: torch's default, or ``--threads``. The numbers go in the
issue note, not in a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_speed import add_model_and_data, benchmark_size_data  # noqa: E402  (a sibling script, stdlib only)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_and_data(parser)
    parser.add_argument("--forget-ratio", type=int, default=5)
    parser.add_argument("--batch-size", default="auto", help="questions per batch (default: the command's auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--loop-seconds", type=float, default=None,
                        help="the original per-question loop's time on the same model and questions (eval_speed.py)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    if args.loop_seconds is not None and args.loop_seconds <= 0:
        parser.error(f"--loop-seconds must be > 0, got {args.loop_seconds}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    if not Path(args.model).is_dir():
        parser.error(f"--model {args.model}: no such folder")
    if args.data is not None and not Path(args.data).is_dir():
        parser.error(f"--data {args.data}: no such folder")
    return args


class _Phases:
    """Forward hooks on the model and its vision tower: time, calls and tokens of prefill and decode passes."""

    def __init__(self) -> None:
        self.prefill = {"calls": 0, "seconds": 0.0, "padded_tokens": 0, "real_tokens": 0}
        self.decode = {"calls": 0, "seconds": 0.0}
        self.vision = {"calls": 0, "seconds": 0.0}
        self._started: dict[str, float] = {}

    def attach(self, model) -> list:
        handles = [model.register_forward_pre_hook(self._pre("model"), with_kwargs=True),
                   model.register_forward_hook(self._post_model, with_kwargs=True)]
        tower = _vision_tower(model)
        if tower is not None:
            handles += [tower.register_forward_pre_hook(self._pre("vision"), with_kwargs=True),
                        tower.register_forward_hook(self._post_vision, with_kwargs=True)]
        return handles

    def _pre(self, name: str):
        def hook(_module, _args, _kwargs):
            self._started[name] = time.perf_counter()
        return hook

    def _post_model(self, _module, args, kwargs, _output) -> None:
        seconds = time.perf_counter() - self._started["model"]
        ids = kwargs.get("input_ids", args[0] if args else None)
        embeds = kwargs.get("inputs_embeds")
        shape = (ids if ids is not None else embeds).shape
        if shape[1] > 1:
            mask = kwargs.get("attention_mask")
            self.prefill["calls"] += 1
            self.prefill["seconds"] += seconds
            self.prefill["padded_tokens"] += shape[0] * shape[1]
            self.prefill["real_tokens"] += int(mask.sum()) if mask is not None else shape[0] * shape[1]
        else:
            self.decode["calls"] += 1
            self.decode["seconds"] += seconds

    def _post_vision(self, _module, _args, _kwargs, _output) -> None:
        self.vision["calls"] += 1
        self.vision["seconds"] += time.perf_counter() - self._started["vision"]


def _vision_tower(model):
    for name in ("vision_tower", "visual", "vision_model"):
        for owner in (model, getattr(model, "model", None)):
            module = getattr(owner, name, None) if owner is not None else None
            if module is not None:
                return module
    return None


def _text_linear_shapes(model) -> list[tuple[int, int]]:
    """(in, out) of every linear layer of the language model (not the vision side, not ``lm_head``)."""
    import torch

    skip = ("vision", "visual", "multi_modal_projector", "lm_head", "merger")
    return [(m.in_features, m.out_features) for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and not any(part in name for part in skip)]


def _linear_gflops(shapes: list[tuple[int, int]], rows: int, repeats: int = 20) -> float:
    """This process's float32 ``F.linear`` throughput (GFLOP/s) at the prefill's shapes, ``rows`` tokens a call."""
    import torch

    weights = [(torch.randn(rows, i), torch.randn(o, i)) for i, o in sorted(set(shapes))]
    with torch.inference_mode():
        for x, w in weights:  # warm up
            torch.nn.functional.linear(x, w)
        start = time.perf_counter()
        for _ in range(repeats):
            for x, w in weights:
                torch.nn.functional.linear(x, w)
        seconds = time.perf_counter() - start
    flops = repeats * sum(2 * rows * x.shape[1] * w.shape[0] for x, w in weights)
    return flops / seconds / 1e9


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    import torch

    from umu_hf.evaluation.request import EvalRequest
    from umu_hf.evaluation.runner import evaluate_model
    from umu_hf.models.loading import load_model

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    scratch = tempfile.TemporaryDirectory(prefix="umu-eval-phases-")
    work = Path(scratch.name)
    data = benchmark_size_data(work / "data") if args.benchmark_size else args.data
    model, processor, adapter = load_model(args.model, "cpu", "auto")
    batch = int(args.batch_size) if str(args.batch_size).isdigit() else args.batch_size
    request = EvalRequest(args.model, data, args.forget_ratio, work / "eval", batch_size=batch, device="cpu")
    phases = _Phases()
    handles = phases.attach(model)
    start = time.perf_counter()
    try:
        evaluate_model(request, loaded=(model, processor, adapter), progress=False)
    finally:
        for handle in handles:
            handle.remove()
    total = time.perf_counter() - start
    questions = sum(1 for _ in (work / "eval" / "predictions.jsonl").open(encoding="utf-8"))

    shapes = _text_linear_shapes(model)
    rows = max(1, phases.prefill["padded_tokens"] // max(1, phases.prefill["calls"]))
    gflops = _linear_gflops(shapes, rows)
    flops_per_token = 2 * sum(i * o for i, o in shapes)
    prefill_tflop = phases.prefill["real_tokens"] * flops_per_token / 1e12
    report = {
        "questions": questions,
        "threads": torch.get_num_threads(),
        "runner_s": round(total, 2),
        "prefill": {**phases.prefill, "seconds": round(phases.prefill["seconds"], 2)},
        "vision_tower_s": round(phases.vision["seconds"], 2),
        "decode": {**phases.decode, "seconds": round(phases.decode["seconds"], 2)},
        "other_s": round(total - phases.prefill["seconds"] - phases.decode["seconds"], 2),
        "prefill_linear_tflop": round(prefill_tflop, 3),
        "linear_gflops_per_s": round(gflops, 1),
        "prefill_linear_floor_s": round(prefill_tflop * 1e3 / gflops, 2),
    }
    if args.loop_seconds is not None:
        report["loop_s"] = args.loop_seconds
        report["lead_now"] = round(args.loop_seconds / total, 2)
        report["lead_bound_prefill_as_measured"] = round(args.loop_seconds / phases.prefill["seconds"], 1)
        report["lead_bound_prefill_linear_only"] = round(args.loop_seconds / report["prefill_linear_floor_s"], 1)
    print(json.dumps(report, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
