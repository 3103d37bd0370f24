"""Speed of ``umu-hf eval`` as a user meets it, against the original scripts' per-question loop.

Three numbers on the same model, data and questions (every set, task and modality, the original budgets):

- ``command``: the whole ``umu-hf eval --model M --data D --forget-ratio R --out OUT`` in a fresh process
  (``python -m umu_hf.cli``), imports, data and model loading included;
- ``loop``: what the original ``eval.py`` does, with the model already loaded (its load is not counted): for
  every question decode the profile's portrait, build the prompt and call ``generate`` once
  (:func:`eval_throughput.baseline`); loading each set's split is counted, as the original loads its parquet;
- ``runner``: :func:`umu_hf.evaluation.runner.evaluate_model` with the model already loaded.

The three take turns (the order rotates every repeat) so that changes in machine load hit each alike; the
medians are reported, with every run. Every reply of the command, the runner and the loop must be identical
(the script exits 1 otherwise).

    python benchmarks/eval_speed.py --model M --data D                 # torch's default threads
    python benchmarks/eval_speed.py --model M --data D --threads 1 --repeats 5
    python benchmarks/eval_speed.py --model M --benchmark-size --repeats 1   # UMU-Bench's size (653 profiles)

``--benchmark-size`` evaluates on data of the real benchmark's size instead of ``--data``: ``umu-hf data synth``
with its defaults (500 fictitious and 153 real profiles, as UMU-Bench), written to a scratch folder first (not
timed). On the embedded bench's 36 profiles importing torch and transformers is most of a whole command; at this
size the evaluation itself is.

``--threads`` sets torch's intra-op threads here and ``OMP_NUM_THREADS`` for the command. ``--batch-size``
is passed to the command and the runner (default: the command's default, ``auto``). The loop and the runner
run in this process under this process's OpenMP settings (``GOMP_SPINCOUNT``/``OMP_WAIT_POLICY`` unset:
OpenMP's default long spin, as the original scripts ran); the command sets ``GOMP_SPINCOUNT=1000`` unless one
of them is set (see :mod:`umu_hf.cli`). To compare all three under one setting, export it:
``GOMP_SPINCOUNT=1000 python benchmarks/eval_speed.py ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def add_model_and_data(parser: argparse.ArgumentParser) -> None:
    """``--model`` and one of ``--data`` / ``--benchmark-size`` (this script's and ``eval_phases.py``'s)."""
    parser.add_argument("--model", required=True, help="vanilla model folder (e.g. the bench's models/vanilla-*)")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", help="dataset folder (e.g. the bench's data/synth-*)")
    data.add_argument("--benchmark-size", action="store_true",
                      help="synthetic data of UMU-Bench's size (umu-hf data synth defaults: 653 profiles)")


def benchmark_size_data(folder: Path, env: dict[str, str] | None = None) -> str:
    """``umu-hf data synth`` with its defaults (UMU-Bench's size) written to ``folder``; its path."""
    subprocess.run([sys.executable, "-m", "umu_hf.cli", "data", "synth", "--out", str(folder)], env=env,
                   check=True, capture_output=True)
    return str(folder)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_and_data(parser)
    parser.add_argument("--forget-ratio", default="5")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of the command first (default 1)")
    parser.add_argument("--batch-size", default=None, help="for the command and the runner (default: auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report to this file")
    return parser.parse_args(argv)


def _openmp_env(environ) -> dict[str, str]:
    names = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")
    return {name: environ[name] for name in names if name in environ}


def _cli_openmp_default() -> dict[str, str] | str:
    """What ``umu-hf`` sets when the environment sets nothing (older versions: nothing)."""
    import umu_hf.cli

    spin = getattr(umu_hf.cli, "SPIN_COUNT", None)
    return {"GOMP_SPINCOUNT": spin} if spin else "default"


def _replies(path: Path) -> dict[str, str]:
    from umu_hf.evaluation.items import LOGLIK_TASK

    with open(path, encoding="utf-8") as handle:
        return {r["id"]: r["reply"] for r in map(json.loads, handle) if r["task"] != LOGLIK_TASK}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if args.threads is not None:
        env["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sys.path.insert(0, str(HERE))
    from eval_throughput import baseline

    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import SETS, set_config
    from umu_hf.evaluation.items import iter_items
    from umu_hf.evaluation.runner import EvalRequest, evaluate_model
    from umu_hf.evaluation.store import PREDICTIONS
    from umu_hf.models.loading import load_model
    from umu_hf.prompts import MAX_NEW_TOKENS

    scratch = tempfile.TemporaryDirectory(prefix="umu-eval-speed-")
    work = Path(scratch.name)
    if args.benchmark_size:
        args.data = benchmark_size_data(work / "data", env)
    batch = [] if args.batch_size is None else ["--batch-size", str(args.batch_size)]
    runner_batch = "auto" if args.batch_size is None else args.batch_size
    runner_batch = int(runner_batch) if str(runner_batch).isdigit() else runner_batch

    def command_argv(out: Path) -> list[str]:
        return [sys.executable, "-m", "umu_hf.cli", "eval", "--model", args.model, "--data", args.data,
                "--forget-ratio", str(args.forget_ratio), "--out", str(out), *batch]  # fmt: skip

    start = time.perf_counter()
    loaded = load_model(args.model, "cpu", "float32")
    model_load_s = time.perf_counter() - start
    model, _, adapter = loaded
    adapter.generate(model, [adapter.prompt("cloze", "Warm up ___.", False)], None, 2)  # first-call overheads
    budgets = dict(MAX_NEW_TOKENS)

    replies: dict[str, dict[str, str]] = {}

    def run_command(tag: str) -> float:
        out = work / f"command-{tag}"
        t0 = time.perf_counter()
        done = subprocess.run(command_argv(out), env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"the command failed ({done.returncode}):\n{done.stderr[-3000:]}")
        replies["command"] = _replies(out / PREDICTIONS)
        return elapsed

    def run_loop(tag: str) -> float:
        got: dict[str, str] = {}
        t0 = time.perf_counter()
        for set_name in SETS:
            split = load_umu_split(args.data, set_config(set_name, int(args.forget_ratio)))
            got.update(baseline(model, adapter, split, list(iter_items(split, set_name)), budgets))
        elapsed = time.perf_counter() - t0
        replies["loop"] = got
        return elapsed

    def run_runner(tag: str) -> float:
        out = work / f"runner-{tag}"
        t0 = time.perf_counter()
        request = EvalRequest(args.model, args.data, args.forget_ratio, out, batch_size=runner_batch)
        evaluate_model(request, loaded=loaded, progress=False)
        elapsed = time.perf_counter() - t0
        replies["runner"] = _replies(out / PREDICTIONS)
        return elapsed

    for i in range(args.warmup):
        run_command(f"warmup{i}")
    kinds = {"command": run_command, "loop": run_loop, "runner": run_runner}
    order = list(kinds)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for repeat in range(args.repeats):
        for kind in order[repeat % 3 :] + order[: repeat % 3]:
            times[kind].append(kinds[kind](str(repeat)))
            print(f"repeat {repeat}: {kind} {times[kind][-1]:.2f}s", file=sys.stderr, flush=True)

    loop = replies["loop"]
    differ = {k: sum(replies[k].get(uid) != reply for uid, reply in loop.items()) for k in ("command", "runner")}
    differ = {k: v + abs(len(replies[k]) - len(loop)) for k, v in differ.items()}
    median = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "questions": len(loop),
        "replies_differing_from_loop": differ,
        "median_s": {k: round(v, 2) for k, v in median.items()},
        "runs_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "loop_over_command": round(median["loop"] / median["command"], 2),
        "loop_over_runner": round(median["loop"] / median["runner"], 2),
        "model_load_s_not_in_loop": round(model_load_s, 2),
        "torch_threads": torch.get_num_threads(),
        "openmp_env": {"loop_and_runner": _openmp_env(os.environ) or "default",
                       "command": _openmp_env(os.environ) or _cli_openmp_default()},
        "batch_size": runner_batch,
        "data": "umu-hf data synth defaults (UMU-Bench's size)" if args.benchmark_size else args.data,
        "command": shlex.join(command_argv(Path("OUT"))),
        "benchmark": shlex.join([sys.executable, "benchmarks/eval_speed.py", *(sys.argv[1:] if argv is None else argv)]),
    }
    scratch.cleanup()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if any(differ.values()):
        print(f"error: replies differ from the per-question loop: {differ}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
