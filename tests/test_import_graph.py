"""The import graph of ``umu_hf/`` (every import statement, module level, inside a function or under
``TYPE_CHECKING``) has no cycle, and no import runs from a lower layer (:data:`LAYERS`) to a higher one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "umu_hf"

#: the layers of ``umu_hf``, lowest first: a module imports only modules of its own layer or lower ones. A module
#: is placed by its top-level module or package (``umu_hf.evaluation.runner`` -> ``umu_hf.evaluation``); a new one
#: gets its place here. Evaluation knows nothing of training or privacy: the privacy block is built on top of an
#: evaluation (``umu_hf.privacy.block``), called by ``umu-hf eval`` (``umu_hf.privacy.cli``) and the bench.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("umu_hf", "umu_hf.errors", "umu_hf.identity", "umu_hf.prompts"),  # the version, errors, sources, prompts
    ("umu_hf.utils", "umu_hf.lock", "umu_hf.outputs", "umu_hf.stats", "umu_hf.metrics_install", "umu_hf.flags",
     "umu_hf.metric_modules"),  # small helpers
    ("umu_hf.data", "umu_hf.scoring"),  # the dataset; answer rules and metric math
    ("umu_hf.models",),  # loading, adapters, the tiny LLaVA
    ("umu_hf.evaluation",),  # the benchmark run: a model in, results.json out
    ("umu_hf.lmms",),  # the benchmark as lmms-eval tasks: its questions, prompts and scoring, for another harness
    ("umu_hf.trainers",),  # fine-tuning and unlearning (probing forget and retain accuracy as they train)
    ("umu_hf.privacy", "umu_hf.robustness"),  # membership inference, forget quality, PrivLeak, relearning: on top of an evaluation
    ("umu_hf.leaderboard",),  # many results.json -> the tables and plots
    ("umu_hf.bench",),  # every stage of a bench run
    ("umu_hf.hub",),  # publishing: a bench model with its results as a Hub model repo, pushing folders
    ("umu_hf.space",),  # the Gradio Space over a bench folder
    ("umu_hf.cli",),  # the umu-hf command (its commands by name)
)


def _modules() -> dict[str, Path]:
    found = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its closest enclosing module of ``umu_hf`` (``umu_hf.a.b.func`` -> ``umu_hf.a.b``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of umu_hf it imports}``; ``from pkg import sub`` counts as importing ``pkg.sub`` (and
    ``pkg`` only when ``sub`` is not a module)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, file in modules.items():
        package = name if file.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in (_known(t, modules) for t in targets) if t and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def upward_imports(graph: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every import of ``graph`` from a module to one of a higher layer, as ``"a -> b"``; a module of no layer is
    an error naming it."""
    rank = {unit: level for level, units in enumerate(layers) for unit in units}
    level = {}
    for module in graph:
        unit = ".".join(module.split(".")[:2])
        if unit not in rank:
            raise AssertionError(f"{unit} has no layer: add it to LAYERS in tests/test_import_graph.py")
        level[module] = rank[unit]
    return sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if level[b] > level[a])


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_umu_hf_has_no_import_cycle():
    graph = import_graph()
    assert "umu_hf.trainers.jobs" in graph["umu_hf.bench.pipeline"]  # the graph sees function-level imports
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_upward_imports_finds_them():
    layers = (("p.low",), ("p.high",))
    assert upward_imports({"p.low.a": {"p.high.b"}, "p.high.b": {"p.low.c"}, "p.low.c": set()}, layers) == [
        "p.low.a -> p.high.b"
    ]
    with pytest.raises(AssertionError, match="p.other has no layer"):
        upward_imports({"p.other": set()}, layers)


def test_no_import_runs_from_a_lower_layer_to_a_higher_one():
    upward = upward_imports(import_graph(), LAYERS)
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)
