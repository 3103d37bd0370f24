"""The embedded bench's unlearning step size, chosen by a stated rule on seeds the reported table does not use.

Rule: the ``lr_scale`` (× each method's original learning rate, so the original's ratios between methods stay)
that maximises the **mean multimodal selectivity** of the five original methods on the tuning seeds, where a run's
multimodal selectivity is the mean over classification and cloze of (retain multimodal accuracy − forget
multimodal accuracy), from the full evaluation (generated replies). Every other setting is the bench's: its
synthetic data, its vanilla fine-tuning per seed, LoRA r 16 (``--lora-r`` for another rank), each method's
original epochs and hyper-parameters.

    python benchmarks/step_size_sweep.py --out /tmp/sweep [--seeds 100,101] [--scales 100,200,400,800,1600] \
        [--workers 1|N|auto]

``--workers`` runs the stages as ``umu-hf bench --workers`` does, every process with the bench's intra-op threads
(``BenchSettings.threads``, embedded 1): the numbers depend on the threads per process, not on the worker count
(recorded in ``sweep.json`` under ``execution``).

Every stage is cached in ``--out`` like the bench's (a rerun reuses it); ``--out/sweep.json`` holds each run's
per-modality accuracies and the rule's table, which is also printed. Run on two CPU cores this took about
20 minutes (two vanilla fine-tunings, 50 unlearning runs and their evaluations).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("GOMP_SPINCOUNT", "1000")  # as the umu-hf CLI: short OpenMP spins on shared cores

from umu_hf.bench.parallel import describe, plan_workers, run_stages, set_threads  # noqa: E402
from umu_hf.bench.pipeline import Bench  # noqa: E402
from umu_hf.bench.settings import BenchSettings  # noqa: E402
from umu_hf.trainers.guard import TrainingDivergedError  # noqa: E402
from umu_hf.utils import write_json  # noqa: E402

RATIO = 15  # the bench's forget ratio
SETS, TASKS, MODALITIES = ("forget", "retain", "real"), ("classification", "cloze"), ("unimodal", "multimodal")


def accuracies(results: dict) -> dict[str, float]:
    """``{"set/task/modality": accuracy %}`` of one results.json."""
    return {f"{s}/{t}/{m}": results["sets"][s][t][f"{m}_acc"] for s in SETS for t in TASKS for m in MODALITIES}


def selectivity(acc: dict[str, float] | None, modality: str = "multimodal") -> float:
    """Mean over classification and cloze of retain − forget accuracy in ``modality`` (0 for a diverged run)."""
    if acc is None:
        return 0.0
    return statistics.mean(acc[f"retain/{t}/{modality}"] - acc[f"forget/{t}/{modality}"] for t in TASKS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", default="100,101")
    parser.add_argument("--scales", default="100,200,400,800,1600")
    parser.add_argument("--methods", default="ga,gd,kl,po,npo")
    parser.add_argument("--workers", default="1", help="as umu-hf bench --workers: a count or auto")
    parser.add_argument("--lora-r", type=int, default=None, help="the unlearning adapter's rank (default: the bench's)")
    args = parser.parse_args(argv)
    if args.lora_r is not None and args.lora_r < 1:  # before the vanillas' minutes of training, not after
        parser.error(f"--lora-r must be at least 1, got {args.lora_r}")
    seeds = [int(s) for s in args.seeds.split(",")]
    scales = [float(s) for s in args.scales.split(",")]
    methods = args.methods.split(",")
    base = BenchSettings(seeds=tuple(seeds), methods=tuple(methods), eval_every="")
    if args.lora_r is not None:
        base = replace(base, unlearn=replace(base.unlearn, lora_r=args.lora_r))
    bench = Bench(args.out, base)
    data, data_key = bench.data()
    bench._data_key = data_key
    plan = plan_workers(args.workers, base.device, len(seeds), base.threads)
    if plan.workers == 1 and base.threads is not None:
        set_threads(base.threads)  # this process computes: with the bench's threads
    if plan.workers > 1:  # compute every stage in the pool; the pass below only reads them back (in one thread)
        for scale in scales:
            bench.s = replace(base, unlearn=replace(base.unlearn, lr_scale=scale))
            bench._failed.update(run_stages(bench, plan, data, data_key, bench.log))
    runs = []
    for seed in seeds:
        bench.s = base
        chain = bench.seed_stages(data, data_key, seed)
        results = json.loads(Path(chain.evals[("vanilla", RATIO)][1]).read_text(encoding="utf-8"))
        runs.append({"seed": seed, "model": "vanilla", "lr_scale": None, "acc": accuracies(results)})
        for scale in scales:
            bench.s = replace(base, unlearn=replace(base.unlearn, lr_scale=scale))
            for method in methods:
                run = {"seed": seed, "model": method, "lr_scale": scale}
                try:
                    _, file = bench.method_stages(method, chain, data, RATIO, seed)
                except TrainingDivergedError as exc:  # counted as no selectivity: the method broke the model
                    runs.append({**run, "diverged": str(exc)})
                    continue
                results = json.loads(Path(file).read_text(encoding="utf-8"))
                runs.append({**run, "acc": accuracies(results)})
    table = []
    for scale in scales:
        chosen = [r for r in runs if r["lr_scale"] == scale]
        table.append({
            "lr_scale": scale,
            "mean_multimodal_selectivity": round(statistics.mean(selectivity(r.get("acc")) for r in chosen), 2),
            "mean_unimodal_selectivity": round(statistics.mean(selectivity(r.get("acc"), "unimodal") for r in chosen), 2),
            "per_method": {m: round(statistics.mean(selectivity(r.get("acc")) for r in chosen if r["model"] == m), 1)
                           for m in methods},
        })
    best = max(table, key=lambda row: row["mean_multimodal_selectivity"])
    write_json(Path(args.out) / "sweep.json", {"rule": __doc__.split("\n\n")[1], "seeds": seeds, "table": table,
                                               "chosen_lr_scale": best["lr_scale"], "execution": describe(plan),
                                               "runs": runs})
    print(json.dumps({"table": table, "chosen_lr_scale": best["lr_scale"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
