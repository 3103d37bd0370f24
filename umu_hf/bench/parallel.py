"""Running a bench's stages in several worker processes (``umu-hf bench --workers N``).

The tiny model's matrices are small: one process on two CPU cores keeps them busy only about two thirds of the
time, while two processes of one thread each keep both cores busy. So on CPU the bench runs its stages in
``workers`` processes of ``threads`` intra-op threads each: per seed first the chain up to the vanilla model (tiny
model, vanilla fine-tuning, with ``privacy`` the retain model, their evaluations and the vanilla check), then, as
soon as a seed's vanilla exists, each method's unlearning and evaluation as a task of its own. With ``privacy`` a
seed's retain models need only its base model, so they are tasks of their own too, trained beside its vanilla model
(the chain's critical path is one fine-tuning instead of two). Every stage writes
into its cached folder exactly as in a sequential run, so the bench's ordinary pass afterwards only reads them back
and builds the leaderboard; a crash loses only the stages that were running.

The numbers on CPU depend on the intra-op thread count (the order of float summation in a matrix product), not on
the number of workers or the order the tasks run in: a bench is reproduced by the same ``threads`` (recorded in
leaderboard.json's ``training.execution``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from umu_hf.errors import UmuError

#: the "forget ratio" under which a method's sequence of requests (``--sequential``) is recorded when it fails
SEQUENCE = "sequential"

if TYPE_CHECKING:
    from umu_hf.bench.settings import BenchSettings


@dataclass(frozen=True)
class Plan:
    """How a bench runs: ``workers`` processes (1: in this process) of ``threads`` intra-op threads each."""

    workers: int
    threads: int


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def plan_workers(workers: str | int, device: str, tasks: int, threads: int | None = None) -> Plan:
    """The worker plan for ``--workers`` (a count or ``auto``) on ``device``, each process of ``threads`` intra-op
    threads (None: the cores divided among the workers).

    ``auto``: on a GPU one process (the stages share the card); on CPU as many processes as the cores hold at
    ``threads`` each (one per core when ``threads`` is None), but no more than ``tasks`` (the seeds: a seed's first
    stages are what can run beside another's).

    >>> plan_workers(1, "cpu", 3).workers, plan_workers(1, "cpu", 3).threads == available_cores()
    (1, True)
    >>> plan_workers("auto", "cpu", 1).workers
    1
    >>> plan_workers(1, "cpu", 3, threads=1)
    Plan(workers=1, threads=1)
    """
    if isinstance(workers, str):
        text = workers.strip().lower()
        if text != "auto":
            try:
                workers = int(text)
            except ValueError:
                raise UmuError(f"--workers takes a count (1, 2, …) or 'auto', got {workers!r}") from None
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise UmuError(f"--threads must be at least 1, got {threads!r}")
    cores = available_cores()
    if workers == "auto":
        gpu = device == "cuda" or (device == "auto" and _cuda_available())
        count = 1 if gpu else max(1, min(cores // (threads or 1), tasks))
    elif isinstance(workers, int) and workers >= 1:
        count = workers
    else:
        raise UmuError(f"--workers must be at least 1 (or 'auto'), got {workers!r}")
    return Plan(count, threads or max(1, cores // count))


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def set_threads(threads: int) -> None:
    """Fix this process's intra-op threads (torch and the OpenMP/MKL pools it starts)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


@contextmanager
def fixed_threads(threads: int | None) -> Iterator[None]:
    """This process's torch intra-op threads set to ``threads`` inside the block, restored after (None: unchanged):
    a bench run in this process (one worker) computes with the threads its settings fix."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- the tasks a worker runs: each builds its own Bench on the same folder and settings ------------------------
_WORKER: dict[str, Any] = {}


def _exit_with_parent(parent: int, period: float = 0.5) -> None:
    """End this worker as soon as the bench process that started it is gone (``kill``, ``kill -9``, a crash):
    without it a worker finishes its stage and the ones already queued, writing into the bench folder beside
    the next run. Its unfinished stage is not marked done, so the next run redoes it."""
    import threading

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period)
        os._exit(1)

    threading.Thread(target=watch, name="umu-exit-with-parent", daemon=True).start()


def _init_worker(bench_cls: type, out: str, settings: BenchSettings, force: bool, data_key: str, threads: int,
                 started: float, parent: int) -> None:
    _exit_with_parent(parent)
    set_threads(threads)
    bench = bench_cls(out, settings, force=force, progress=False)
    bench._data_key = data_key
    bench._start = started  # stage lines count from the bench's start (perf_counter is system-wide on Linux)
    _WORKER["bench"] = bench


def _base_task(data: str, data_key: str, seed: int) -> tuple[str, str]:
    return _WORKER["bench"].base_model(data, data_key, seed)


def _vanilla_task(base: tuple[str, str], data: str, data_key: str, seed: int) -> None:
    _WORKER["bench"].vanilla(*base, data, data_key, seed)


def _retain_task(base: tuple[str, str], data: str, data_key: str, ratio: int, seed: int) -> None:
    _WORKER["bench"].retain_stages(*base, data, data_key, ratio, seed)


def _seed_task(data: str, data_key: str, seed: int) -> Any:
    return _WORKER["bench"].seed_stages(data, data_key, seed)


def _method_task(method: str, chain: Any, data: str, ratio: int, seed: int) -> str | None:
    """One method's stages; why it failed when its training diverged (recorded, as a sequential run does)."""
    from umu_hf.trainers.guard import TrainingDivergedError

    try:
        _WORKER["bench"].method_stages(method, chain, data, ratio, seed)
    except TrainingDivergedError as exc:
        return str(exc)
    return None


def _sequence_task(method: str, chain: Any, data: str, seed: int) -> str | None:
    """One method's sequence of requests on one seed (``--sequential``); why it failed when a step diverged."""
    from umu_hf.trainers.guard import TrainingDivergedError

    try:
        _WORKER["bench"].sequence_stages(method, chain, data, seed)
    except TrainingDivergedError as exc:
        return str(exc)
    return None


def run_stages(bench: Any, plan: Plan, data: str, data_key: str,
               log: Callable[[str], None]) -> dict[tuple[str, int | str, int], str]:
    """Compute every stage of ``bench`` (a :class:`umu_hf.bench.pipeline.Bench`, whose class each worker builds
    its own of) in ``plan.workers`` processes; returns the failed unlearning runs,
    ``{(method, ratio, seed): why}`` (a diverged run is recorded, the others go on, as in a sequential run; a
    method's sequence of requests, ``--sequential``, has :data:`SEQUENCE` as its ratio).

    The first error of any other kind stops the pool (running stages are abandoned, cached ones kept) and is
    raised here, as a sequential run would raise it.
    """
    import multiprocessing

    s = bench.s
    log(f"[bench] {plan.workers} worker processes × {plan.threads} thread(s)")
    failed: dict[tuple[str, int | str, int], str] = {}
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch thread pools
    pool = ProcessPoolExecutor(plan.workers, mp_context=context, initializer=_init_worker,
                               initargs=(type(bench), str(bench.out), s, bench.force, data_key, plan.threads,
                                         bench._start, os.getpid()))
    pending: dict[Future, tuple[Any, ...]] = {}
    #: per seed, the model stages (vanilla, retain models) still running before its chain can be completed
    waiting: dict[int, int] = {}
    try:
        for seed in s.seeds:
            if s.privacy:  # the retain models train beside the vanilla model: first the base they share
                pending[pool.submit(_base_task, data, data_key, seed)] = ("base", seed)
            else:
                pending[pool.submit(_seed_task, data, data_key, seed)] = ("seed", seed)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f]):
                task = pending.pop(future)
                result = future.result()  # a stage's error is raised here
                if task[0] == "base":
                    seed = task[1]
                    pending[pool.submit(_vanilla_task, result, data, data_key, seed)] = ("model", seed)
                    for ratio in s.forget_ratios:
                        pending[pool.submit(_retain_task, result, data, data_key, ratio, seed)] = ("model", seed)
                    waiting[seed] = 1 + len(s.forget_ratios)
                elif task[0] == "model":
                    seed = task[1]
                    waiting[seed] -= 1
                    if not waiting[seed]:  # the rest of the chain (vanilla's evaluations) reads them back
                        pending[pool.submit(_seed_task, data, data_key, seed)] = ("seed", seed)
                elif task[0] == "seed":
                    seed = task[1]
                    for ratio in s.forget_ratios:
                        for method in s.methods:
                            submitted = pool.submit(_method_task, method, result, data, ratio, seed)
                            pending[submitted] = ("method", seed, ratio, method)
                    for method in s.methods if s.sequential else ():
                        submitted = pool.submit(_sequence_task, method, result, data, seed)
                        pending[submitted] = ("sequence", seed, method)
                elif result is not None and task[0] == "sequence":
                    _, seed, method = task
                    failed[(method, SEQUENCE, seed)] = result
                elif result is not None:
                    _, seed, ratio, method = task
                    failed[(method, ratio, seed)] = result
    except BaseException:
        for future in pending:
            future.cancel()
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # abandon running stages: their folders are not marked done
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return failed


def describe(plan: Plan) -> dict[str, int]:
    """What leaderboard.json records of the plan: the workers and each one's intra-op threads (in this process
    when there is one worker: torch's own count)."""
    if plan.workers > 1:
        return {"workers": plan.workers, "threads": plan.threads}
    import torch

    return {"workers": 1, "threads": torch.get_num_threads()}
