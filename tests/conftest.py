"""Shared fixtures: small datasets built locally, once per test session."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if not {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & set(os.environ):  # as umu_hf.cli: short OpenMP spins, so
    os.environ["GOMP_SPINCOUNT"] = "1000"  # two torch threads do not crawl on cores shared with other work

#: the sizes of the shared synthetic dataset: 40 fictitious (forget sets 2/4/6) + 8 real, seed 0
SYNTH_FICTITIOUS, SYNTH_REAL, SYNTH_SEED = 40, 8, 0


def pytest_configure(config: pytest.Config) -> None:
    """torch's intra-op threads in a process that runs tests: the tiny models' small matrices gain little from
    threads, so under pytest-xdist (pyproject's addopts: one worker process per core) each worker runs one thread,
    and two one-thread workers beat one two-thread process; a run without workers (-n 0) keeps two. Set here,
    once: test modules do not change it (a module-level call would change it for every test of the process). The
    xdist controller runs no test and does not import torch."""
    worker = bool(os.environ.get("PYTEST_XDIST_WORKER"))
    if not worker and config.getoption("numprocesses", default=None):
        return
    import torch

    torch.set_num_threads(1 if worker else min(2, torch.get_num_threads()))


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Path]) -> Path:
    """``build(folder)`` into a fresh folder, once per test run: under pytest-xdist the first worker that asks builds
    it in the run's shared temporary root (under a lock) and every worker uses that copy, so a session fixture is
    built once, not once per worker. For deterministic, read-only fixtures only."""
    import fcntl

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent / "built-once"  # the parent of every worker's basetemp
    root.mkdir(exist_ok=True)
    folder, done = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes (or its worker dies)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a worker that died mid-build left it half-written
            folder.mkdir()
            done.write_text(json.dumps(str(build(folder))))
        return Path(json.loads(done.read_text()))


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic dataset in the Hub layout (40 fictitious + 8 real, seed 0). Treat it as read-only."""
    from umu_hf.data.synth import generate_dataset

    return built_once(tmp_path_factory, "synth",
                      lambda folder: generate_dataset(folder / "umu", SYNTH_FICTITIOUS, SYNTH_REAL, SYNTH_SEED))


@pytest.fixture(scope="session")
def small_synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smaller synthetic dataset (12 fictitious + 2 real, seed 0: forget05 is one person, retain95 eleven), for
    tests that ask every question of a set many times; :func:`tiny_model_dir`'s byte-level tokenizer encodes its
    text too. Treat it as read-only."""
    from umu_hf.data.synth import generate_dataset

    return built_once(tmp_path_factory, "small_synth", lambda folder: generate_dataset(folder / "umu", 12, 2, 0))


@pytest.fixture(scope="session")
def synth_rows() -> list[dict]:
    """The rows of :func:`synth_dir` (image as PIL), for tests that compare against the source."""
    from umu_hf.data.synth import generate_profiles

    return generate_profiles(SYNTH_FICTITIOUS, SYNTH_REAL, SYNTH_SEED)


@pytest.fixture(scope="session")
def legacy_dir(tmp_path_factory: pytest.TempPathFactory, synth_rows: list[dict]) -> Path:
    """The same data in the published (legacy) layout, with its quirks: ``muitimodal``, literal strings,
    answers alternating ``"B. text"`` / ``"B"``, a ``full/`` folder and a ``Biography`` column. Read-only."""
    from helpers import write_legacy_layout

    from umu_hf.data.synth import assign_forget_ids

    forget = assign_forget_ids([r["ID"] for r in synth_rows if r["source"] == "fictitious"], SYNTH_SEED)
    out = tmp_path_factory.mktemp("legacy") / "umu-legacy"
    return write_legacy_layout(synth_rows, forget, out, answer_style="mixed", with_full=True)


@pytest.fixture()
def umu_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private conversion cache (``$UMU_HF_CACHE``) for one test."""
    cache = tmp_path / "umu-cache"
    monkeypatch.setenv("UMU_HF_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, synth_dir: Path) -> Path:
    """An untrained tiny LLaVA (size small, seed 0) whose tokenizer knows :func:`synth_dir`'s text; replies are
    deterministic garbage. Treat it as read-only. (Added by the evaluation helper.)"""
    from umu_hf.models.tiny import build_tiny_from_dataset

    return built_once(tmp_path_factory, "tiny", lambda folder: build_tiny_from_dataset(
        synth_dir, folder / "tiny-llava", size="small", seed=0))


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Install every module of ``metrics/`` into a fresh evaluate cache with ``umu-hf metrics install`` and
    exercise them from an empty directory, offline, in one process (``tests/metric_driver.py``); its JSON report,
    with ``root`` (the temporary folder) and ``stdout``. Used by ``test_metric_module.py`` and
    ``test_metric_privacy_modules.py``."""
    import json

    from helpers import run_metric_driver

    root = tmp_path_factory.mktemp("metrics_offline")
    out = root / "out.json"
    proc = run_metric_driver(root, str(out))
    result = json.loads(out.read_text())
    result["root"] = str(root)
    result["stdout"] = proc.stdout
    return result


@pytest.fixture(scope="session")
def reduced_bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str]]:
    """The reduced bench of ``tests/test_bench.py`` (``_reduced()``: GA and NPO on one seed), run once for
    ``test_bench.py`` and ``test_hub_export.py`` (their users share a worker: :func:`_shared_scopes`): its folder,
    the Markdown it returned and its log lines. Tests may run it again (every stage is reused), not change it."""
    from test_bench import _reduced

    from umu_hf.bench.pipeline import Bench

    out = tmp_path_factory.mktemp("reduced-bench")
    lines: list[str] = []
    table = Bench(out, _reduced(), log=lines.append, progress=False).run()
    return out, table, lines


# -- pytest-xdist: which tests share a worker -------------------------------------------------------------------


def _module_fixture_users(source: str) -> tuple[set[str], bool]:
    """The test functions of a test module's source that use one of its module- or session-scoped fixtures
    (directly or through its other fixtures), and whether one of those fixtures is autouse (then every test uses
    it)."""
    import ast

    def fixture_scope(node: ast.FunctionDef) -> tuple[str, bool] | None:
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            target = call.func if call else deco
            if isinstance(target, ast.Attribute) and target.attr == "fixture":
                keywords = {k.arg: k.value for k in call.keywords} if call else {}
                scope = keywords.get("scope")
                autouse = keywords.get("autouse")
                return (scope.value if isinstance(scope, ast.Constant) else "function",
                        isinstance(autouse, ast.Constant) and autouse.value is True)
        return None

    functions = [n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]
    params = {f.name: {a.arg for a in f.args.args} for f in functions}
    fixtures = {f.name: fixture_scope(f) for f in functions if fixture_scope(f)}
    shared = {name for name, (scope, _) in fixtures.items() if scope in ("module", "session")}
    autouse = any(fixtures[name][1] for name in shared)
    while True:  # fixtures of the module that use a shared one share it too
        more = {name for name in fixtures if params[name] & shared} - shared
        if not more:
            break
        shared |= more
    return {name for name in params if name.startswith("test") and params[name] & shared}, autouse


def _shared_scopes(root: Path) -> dict[str, str]:
    """Tests that must run on one worker, by node id without parameters (``path::function``; a whole module by
    its path) -> scope: every user of :func:`offline_run` (one metric-driver process, not one per worker), and the
    tests of a module that use one of its module- or session-scoped fixtures (built once, on one worker; a
    module-scoped one would be torn down and rebuilt whenever tests of other modules ran in between); the users of
    :func:`reduced_bench_run`, in two modules, are one scope."""
    scopes = {}
    for path in sorted(Path(__file__).resolve().parent.glob("test_*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(root).as_posix()
        if "offline_run" in text:
            scopes[name] = "offline_run"
            continue
        users, autouse = _module_fixture_users(text)
        scope = "reduced_bench_run" if "reduced_bench_run" in text else name  # one build for both modules
        if autouse:
            scopes[name] = scope
        for test in users:
            scopes[f"{name}::{test}"] = scope
    return scopes


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist load`` (what ``-n`` gives) with the tests of :func:`_shared_scopes` kept together: every other test
    is a unit of its own, so the long ones spread over the workers, handed out in the order of
    :func:`pytest_collection_modifyitems`. (xdist's own ``loadgroup`` cannot do it under pytest 9, whose node ids
    xdist 3.8 cannot suffix with the group.)"""
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    scopes = _shared_scopes(config.rootpath)

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return scopes.get(path) or scopes.get(nodeid.split("[", 1)[0], nodeid)

    config.option.loadscopereorder = False  # hand the units out in collection order: the long tests first
    return SharedFixtureScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per core this process may run on (its affinity, not the machine's count), at most 8
    (each worker imports torch, transformers and every test module again)."""
    from umu_hf.bench.parallel import available_cores

    return max(1, min(available_cores(), 8))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, the longest tests first: the ``slow`` ones (minutes), then those that run a model (they
    ask for :func:`tiny_model_dir`: seconds), then the rest, so the workers finish together instead of one running
    a long test alone at the end. Every worker sorts the same way, as xdist needs; a run without workers keeps the
    file order (its module-scoped fixtures are built once)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: (item.get_closest_marker("slow") is None,
                                     "tiny_model_dir" not in getattr(item, "fixturenames", ())))
