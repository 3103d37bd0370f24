"""Exercises the installed ``umu_bench`` evaluate module in a fresh process; used by ``test_metric_module.py``.

Run as ``python tests/metric_driver.py OUT_JSON METRIC_DIR`` from an empty working directory with a private
``HF_HOME`` / ``HF_MODULES_CACHE`` and ``HF_HUB_OFFLINE=1`` (the test sets that up), so nothing reads or writes the
user's cache. It installs the metric with ``umu-hf metrics install``, loads it by bare name and by path, computes,
runs the card's examples and the Space's ``app.py``, and writes everything the tests check to OUT_JSON.
Everything is imported inside :func:`main`: pytest's ``--doctest-modules`` imports this file without running it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OPTS = [["Paris", "Lyon", "Rome", "Oslo"], ["1990", "1991", "1992", "1993"], ["a", "b", "c", "d"]]
CLS = dict(
    unimodal_predictions=["Paris", "1991", "c"],
    multimodal_predictions=["B. Paris", "1992", "c"],
    references=["Paris", "1992", "c"],
    options=OPTS,
)
CLOZE = dict(
    unimodal_predictions=["She lives in Lyon", "no idea", "a nurse"],
    multimodal_predictions=["Lyon", "a teacher", "?"],
    references=["Lyon. In France.", "Teacher", "Nurse"],
)
GEN = dict(
    unimodal_predictions=["the cat on mat", "I do not know"],
    multimodal_predictions=["the cat sat on the mat", "Bob lives in Rome"],
    references=["the cat sat on the mat", "Bob lives in Rome"],
)


def compute_everything(modules: dict) -> dict:
    """The three configs on small inputs, next to ``umu_hf.scoring`` on the same inputs."""
    from umu_hf import scoring

    results = {
        "classification_exact": modules["classification"].compute(**CLS, option_matching="exact"),
        "classification_closest": modules["classification"].compute(
            **CLS, option_matching="closest", confidence_level=0.9
        ),
        "cloze": modules["cloze"].compute(**CLOZE, confidence_level=0.95),
        "generation": modules["generation"].compute(**GEN),
    }
    results["library"] = {
        "classification_exact": scoring.classification_scores(**CLS, option_matching="exact"),
        "classification_closest": scoring.classification_scores(
            **CLS, option_matching="closest", confidence_level=0.9
        ),
        "cloze": scoring.cloze_scores(**CLOZE, confidence_level=0.95),
        "generation": scoring.generation_scores(**GEN),
    }
    cls = modules["classification"]
    for row in zip(CLS["unimodal_predictions"], CLS["multimodal_predictions"], CLS["references"], OPTS, strict=True):
        cls.add(unimodal_predictions=row[0], multimodal_predictions=row[1], references=row[2], options=row[3])
    results["classification_streamed"] = cls.compute()
    return results


def empty_inputs(modules: dict) -> tuple[dict, list[str]]:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        empty = {
            "classification": modules["classification"].compute(
                unimodal_predictions=[], multimodal_predictions=[], references=[], options=[]
            ),
            "generation": modules["generation"].compute(
                unimodal_predictions=[], multimodal_predictions=[], references=[]
            ),
        }
    return empty, [w.category.__name__ for w in caught]


def bad_inputs(modules: dict) -> dict:
    def error(cfg, **kwargs):
        try:
            modules[cfg].compute(**kwargs)
        except Exception as exc:
            return [type(exc).__name__, isinstance(exc, ValueError), str(exc)]
        return None

    two = dict(unimodal_predictions=["a", "b"], multimodal_predictions=["a", "b"], references=["a", "b"])
    four = [["a", "b", "c", "d"]] * 2
    return {
        "unequal": error("cloze", **{**two, "references": ["a"]}),
        "non_string": error("classification", **{**two, "multimodal_predictions": ["a", 7]}, options=four),
        "non_string_first": error("cloze", **{**two, "unimodal_predictions": [7, "b"]}),
        "three_options": error("classification", **two, options=[["a", "b", "c", "d"], ["a", "b", "c"]]),
        "missing_options": error("classification", **two),
        "bad_matching": error("classification", **two, options=four, option_matching="fuzzy"),
        "options_for_cloze": error("cloze", **two, options=four),
        "matching_for_generation": error("generation", **two, option_matching="exact"),
        "bad_confidence": error("generation", **two, confidence_level=95),
    }


#: truth ratios of two models on the same items, and attack scores of members and non-members
TRUTH = {"unlearned": [0.05, 0.4, 0.2, 0.9, 0.1, 0.3], "retain": [0.8, 1.2, 0.6, 1.0, 0.9, 0.7, 1.1]}
SCORES = {"members": [-0.2, -0.5, -1.0, -3.0], "nonmembers": [-2.5, -1.5, -4.0]}


def privacy_configs(evaluate) -> dict:
    """The privacy and forget_quality configs against the library on the same numbers, streamed and in one call,
    and their bad-input errors."""
    from umu_hf.privacy import auc, reference, truth_ratio

    fq = evaluate.load("umu_bench", "forget_quality")
    privacy = evaluate.load("umu_bench", "privacy")
    one_call = fq.compute(unlearned_truth_ratios=TRUTH["unlearned"], retain_truth_ratios=TRUTH["retain"])
    for value in TRUTH["unlearned"]:
        fq.add(truth_ratios=value, labels=1)
    fq.add_batch(truth_ratios=TRUTH["retain"], labels=[0] * len(TRUTH["retain"]))
    streamed = fq.compute()
    leak = privacy.compute(member_scores=SCORES["members"], nonmember_scores=SCORES["nonmembers"], retain_auc=0.6)

    def error(module, **kwargs):
        try:
            module.compute(**kwargs)
        except Exception as exc:
            return [type(exc).__name__, isinstance(exc, ValueError), str(exc)]
        return None

    return {
        "forget_quality": one_call,
        "forget_quality_streamed": streamed,
        "privacy": leak,
        "library": {
            "forget_quality": truth_ratio.forget_quality(TRUTH["unlearned"], TRUTH["retain"]),
            "ks_statistic": truth_ratio.ks_statistic(TRUTH["unlearned"], TRUTH["retain"]),
            "privleak": reference.privleak(auc.auc(SCORES["members"], SCORES["nonmembers"]), 0.6),
        },
        "errors": {
            "fq_one_model": error(fq, unlearned_truth_ratios=[0.1], retain_truth_ratios=[]),
            "fq_bad_label": error(fq, truth_ratios=[0.1, 0.2], labels=[1, 2]),
            "bad_retain_auc": error(privacy, member_scores=[0.1], nonmember_scores=[0.0], retain_auc=1.5),
        },
    }


def kwargs_doctests(module) -> dict:
    """The examples of ``_KWARGS_DESCRIPTION``, run as doctests against the installed module."""
    import doctest
    import io

    test = doctest.DocTestParser().get_doctest(
        module._KWARGS_DESCRIPTION, {}, "umu_bench._KWARGS_DESCRIPTION", module.__file__, 0
    )
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=report.write)
    return {"attempted": runner.tries, "failed": runner.failures, "report": report.getvalue()}


def card_examples(card: Path) -> list[dict]:
    """Run the card's ``python`` blocks in order, in one namespace, as a reader would paste them. Each block ends
    with the value it shows (its last expression, or the name its last statement assigns) and a comment that
    claims that value; returns ``{"code", "shown", "claimed"}`` per block."""
    import ast
    import re

    namespace: dict = {}
    examples = []
    for block in re.findall(r"```python\n(.*?)```", card.read_text(encoding="utf-8"), flags=re.DOTALL):
        lines = block.rstrip().splitlines()
        n_claim = 0
        while n_claim < len(lines) and lines[len(lines) - 1 - n_claim].lstrip().startswith("#"):
            n_claim += 1
        code, claim = "\n".join(lines[: len(lines) - n_claim]), lines[len(lines) - n_claim :]
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.Expr):
            exec(compile(ast.Module(tree.body[:-1], []), "<card>", "exec"), namespace)
            shown = eval(compile(ast.Expression(last.value), "<card>", "eval"), namespace)
        else:
            exec(compile(tree, "<card>", "exec"), namespace)
            shown = namespace[last.targets[0].id] if isinstance(last, ast.Assign) else None
        claimed = ast.literal_eval(" ".join(line.lstrip()[1:].strip() for line in claim)) if claim else None
        examples.append({"code": code, "shown": shown, "claimed": claimed})
    return examples


def run_app(metric_dir: Path, config: str | None) -> dict:
    """Run the metric Space's ``app.py`` as its ``__main__``, with evaluate's widget launcher replaced by a
    recorder (the stock widget needs gradio 3.x), then do what the widget does with a visitor's table: parse it
    with evaluate's own gradio helpers and compute."""
    import os
    import runpy

    import evaluate.utils
    import pandas as pd
    from evaluate.utils.gradio import infer_gradio_input_types, parse_gradio_data, parse_readme

    launched = []
    launcher = evaluate.utils.launch_gradio_widget
    evaluate.utils.launch_gradio_widget = launched.append
    if config is None:
        os.environ.pop("UMU_BENCH_CONFIG", None)
    else:
        os.environ["UMU_BENCH_CONFIG"] = config
    try:
        runpy.run_path(str(metric_dir / "app.py"), run_name="__main__")
    finally:
        evaluate.utils.launch_gradio_widget = launcher
        os.environ.pop("UMU_BENCH_CONFIG", None)
    (module,) = launched
    names, types = zip(*module.features.items(), strict=True)
    input_types = infer_gradio_input_types(types)
    inputs = {"classification": CLS, "cloze": CLOZE, "generation": GEN}[module.config_name]
    # a visitor's table: strings typed in double quotes (the widget's advice), lists as JSON
    table = pd.DataFrame(
        {
            name: [json.dumps(v) if kind in ("str", "json") else v for v in inputs[name]]
            for name, kind in zip(names, input_types, strict=True)
        }
    )
    return {
        "name": module.name,
        "config": module.config_name,
        "module": type(module).__module__,
        "input_types": dict(zip(names, input_types, strict=True)),
        "widget_result": module.compute(**parse_gradio_data(table, input_types)),
        "direct_result": module.compute(**inputs),
        "article": parse_readme(metric_dir / "README.md"),
    }


def held_cache_locks(modules: dict) -> list[str]:
    """The cache-file locks of ``modules`` that are still held (flock from a fresh descriptor fails): a compute
    that raised after evaluate wrote its cache file would leave one, and every later compute of that config in
    the process would wait a second for it."""
    import fcntl
    import os

    held = []
    for module in modules.values():
        for lock in sorted(Path(module.data_dir).glob("*.lock")):
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                held.append(lock.name)
            finally:
                os.close(fd)
    return held


def main(out_path: str, metric_dir: str) -> None:
    import evaluate
    from evaluate.loading import get_imports

    from umu_hf.cli import main as cli_main

    metric_dir = Path(metric_dir)
    out: dict = {"cli_rc": cli_main(["metrics", "install"])}  # into $HF_MODULES_CACHE, as evaluate resolves it

    modules = {}
    for cfg in ("classification", "cloze", "generation"):
        modules[cfg] = evaluate.load("umu_bench", cfg)
        out.setdefault("module_names", {})[cfg] = type(modules[cfg]).__module__
        out.setdefault("features", {})[cfg] = sorted(modules[cfg].features)
    out["citation"] = modules["cloze"].citation
    out["results"] = compute_everything(modules)
    out["empty"], out["empty_warnings"] = empty_inputs(modules)
    out["errors"] = bad_inputs(modules)
    out["held_locks_after_errors"] = held_cache_locks(modules)
    out["privacy"] = privacy_configs(evaluate)
    try:
        evaluate.load("umu_bench", config_name="default")
        out["unknown_config"] = None
    except Exception as exc:
        out["unknown_config"] = [type(exc).__name__, str(exc)]

    module = sys.modules[type(modules["cloze"]).__module__]
    out["doctest"] = kwargs_doctests(module)
    by_path = evaluate.load(str(metric_dir), "cloze")
    out["by_path"] = {"module": type(by_path).__module__, "result": by_path.compute(**CLOZE)}
    out["imports"] = sorted({name for kind, name, _, _ in get_imports(module.__file__) if kind == "library"})
    out["card_examples"] = card_examples(metric_dir / "README.md")
    out["app"] = {str(config): run_app(metric_dir, config) for config in (None, "cloze", "generation")}

    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
