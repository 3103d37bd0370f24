"""Where a bench process's memory goes: the import baseline by library, then each stage's start, peak and end.

``umu-hf bench`` runs its stages in worker processes that each import torch, transformers' Trainer and the
scoring libraries, then run stage after stage; the bench's peak RSS is the largest of those processes. This
script answers "which part of that peak is what" in two measurements:

1. **imports** — in a fresh process, the resident memory (anonymous and file-backed, from ``/proc/self/status``)
   added by each library a bench worker imports, in the order a worker meets them;
2. **stages** — a bench run in this process (``--workers 1``: every stage in one process, as a worker runs
   them one after another) with a sampler thread reading RSS every millisecond: per stage its RSS at the start,
   the end and the peak, and inside an unlearning stage the peak of its first training step, of the other
   steps and of the trajectory probe (the accuracy probe's generation), and what autograd saves for the first
   step's backward (the activations a step must hold: the distinct tensor storages, MiB). With the default
   bench's vanillas (``--model-from``) and one seed, its largest stage peak comes close to the default bench's
   peak RSS (measured 2026-12-06 with the evaluation batch of 64: 735 and 748 MiB in two runs here, the bench's
   two workers 743–754 MiB; with 32, the default since: 707 MiB, the bench 731).

    python benchmarks/stage_memory.py --out /tmp/stage-mem --model-from umu-bench-out
    python benchmarks/stage_memory.py --out /tmp/stage-mem --methods kl,npo --seeds 1 --json mem.json

``--model-from`` copies the data and the tiny and vanilla models of an earlier bench folder into ``--out`` first,
so only the unlearning and evaluation stages run (the default bench's vanillas take minutes each); without it,
the whole chain runs. Extra arguments after ``--`` go to ``umu-hf bench``. Linux only (``/proc``). The numbers
go in the issue note, not in a test.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

#: what a bench worker imports, in the order it meets them (each line adds to the ones before it)
IMPORTS: tuple[str, ...] = (
    "torch",
    "transformers",
    "transformers.trainer",
    "peft",
    "trl",
    "umu_hf.bench.pipeline",
    "nltk",
    "rouge_score.rouge_scorer",
)


def _status_mib() -> dict[str, int]:
    """``VmRSS``, ``RssAnon`` and ``RssFile`` of this process, in MiB."""
    values = {}
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                values[key] = int(rest.split()[0]) // 1024
    return values


def _rss_mib() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * 4096 // 2**20


def _imports_child() -> None:
    """Import :data:`IMPORTS` one after another; print one JSON line per import with what it added."""
    before = _status_mib()
    print(json.dumps({"module": "(interpreter)", **before}))
    for name in IMPORTS:
        importlib.import_module(name)
        after = _status_mib()
        print(json.dumps({"module": name, **after,
                          "added_anon": after["RssAnon"] - before["RssAnon"],
                          "added_file": after["RssFile"] - before["RssFile"]}))
        before = after


def measure_imports() -> list[dict[str, int | str]]:
    """The import baseline, measured in a fresh interpreter."""
    done = subprocess.run([sys.executable, __file__, "--imports-child"], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


class _Sampler:
    """RSS every millisecond; the peak of each phase label (set by the wrapped functions below)."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.peaks: dict[str, int] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop:
            rss, phase = _rss_mib(), self.phase
            if rss > self.peaks.get(phase, 0):
                self.peaks[phase] = rss
            time.sleep(0.001)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._thread.join()

    @contextlib.contextmanager
    def labelled(self, label: str):
        outer, self.phase = self.phase, label
        try:
            yield
        finally:
            self.phase = outer


def measure_stages(bench_argv: list[str]) -> list[dict[str, int | str]]:
    """Run ``umu-hf bench`` with ``bench_argv`` in this process; per stage (and per phase inside unlearning
    stages) the RSS at its start, its end and its peak, in MiB."""
    import torch
    import transformers

    import umu_hf.bench.pipeline as pipeline
    import umu_hf.evaluation.probe as probe
    from umu_hf.cli import main

    sampler = _Sampler()
    rows: list[dict[str, int | str]] = []
    steps = {"n": 0}
    saved: dict[str, float] = {}
    stage = pipeline.Bench.stage
    training_step = transformers.Trainer.training_step
    probe_call = probe.AccuracyProbe.__call__

    @contextlib.contextmanager
    def timed_stage(self, title):
        steps["n"] = 0
        name = title.split(" →")[0]
        start = _rss_mib()
        with sampler.labelled(name), stage(self, title):
            yield
        row = {"stage": name, "start": start, "peak": sampler.peaks.pop(name, start), "end": _rss_mib()}
        for part in ("first step", "other steps", "probe"):
            if f"{name} / {part}" in sampler.peaks:
                row[part] = sampler.peaks.pop(f"{name} / {part}")
                row["peak"] = max(row["peak"], row[part])
        if name in saved:
            row["saved for backward"] = saved.pop(name)
        rows.append(row)

    def labelled_step(self, *args, **kwargs):
        steps["n"] += 1
        part = "first step" if steps["n"] == 1 else "other steps"
        name = sampler.phase.split(" / ")[0]
        first = saved_tensors(name) if steps["n"] == 1 else contextlib.nullcontext()
        with sampler.labelled(f"{name} / {part}"), first:
            return training_step(self, *args, **kwargs)

    @contextlib.contextmanager
    def saved_tensors(name: str):
        """What autograd keeps for the backward of the first step's loss: the distinct storages it saves."""
        storages: dict[int, int] = {}

        def pack(tensor):
            storage = tensor.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            yield
        saved[name] = round(sum(storages.values()) / 2**20, 1)

    def labelled_probe(self, *args, **kwargs):
        with sampler.labelled(f"{sampler.phase.split(' / ')[0]} / probe"):
            return probe_call(self, *args, **kwargs)

    pipeline.Bench.stage = timed_stage
    transformers.Trainer.training_step = labelled_step
    probe.AccuracyProbe.__call__ = labelled_probe
    sampler.start()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # the bench's own table: this script prints its own
            code = main(["bench", *bench_argv])
    finally:
        sampler.stop()
        pipeline.Bench.stage = stage
        transformers.Trainer.training_step = training_step
        probe.AccuracyProbe.__call__ = probe_call
    if code:
        raise SystemExit(f"umu-hf bench exited with {code}")
    return rows


def _copy_models(source: Path, out: Path) -> None:
    """The data, tiny and vanilla models of the bench folder ``source`` into ``out`` (stages a rerun reuses)."""
    shutil.copytree(source / "data", out / "data", dirs_exist_ok=True)
    for model in (source / "models").iterdir():
        if model.name.startswith(("tiny-", "vanilla-")):
            shutil.copytree(model, out / "models" / model.name, dirs_exist_ok=True)


def _table(rows: list[dict], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=False, help="a new or empty folder to run the bench in")
    parser.add_argument("--model-from", type=Path, help="an earlier bench folder: reuse its data and vanillas")
    parser.add_argument("--methods", default=None, help="passed to umu-hf bench (default: its default)")
    parser.add_argument("--seeds", default="1", help="passed to umu-hf bench (default 1)")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--imports-child", action="store_true", help=argparse.SUPPRESS)
    args, extra = parser.parse_known_args(argv)
    if args.imports_child:
        _imports_child()
        return 0
    if not Path("/proc/self/status").is_file():
        raise SystemExit("stage_memory.py reads /proc: Linux only")
    if args.out is None:
        parser.error("--out is required")
    if args.model_from and not ((args.model_from / "data").is_dir() and (args.model_from / "models").is_dir()):
        raise SystemExit(f"--model-from {args.model_from}: not a bench folder (no data/ and models/ in it); "
                         "run umu-hf bench")
    if args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"--out {args.out}: not empty; give a new folder (every stage must run to be measured)")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.model_from:
        _copy_models(args.model_from, args.out)

    imports = measure_imports()
    bench_argv = ["--out", str(args.out), "--workers", "1", "--seeds", args.seeds]
    bench_argv += ["--methods", args.methods] if args.methods else []
    stages = measure_stages(bench_argv + [a for a in extra if a != "--"])

    print("\nImports (a fresh process; MiB, cumulative RSS and what each added):")
    print(_table(imports, ["module", "VmRSS", "RssAnon", "RssFile", "added_anon", "added_file"]))
    print("\nStages (this process; MiB):")
    print(_table(stages, ["stage", "start", "peak", "end", "first step", "other steps", "probe",
                          "saved for backward"]))
    print(f"\nlargest: {max(s['peak'] for s in stages)} MiB")
    if args.json:
        args.json.write_text(json.dumps({"imports": imports, "stages": stages}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
