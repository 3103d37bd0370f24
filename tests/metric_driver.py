"""Exercises the installed evaluate modules of ``metrics/`` in a fresh process; used by ``test_metric_module.py``
(``umu_bench``) and ``test_metric_privacy_modules.py`` (``umu_privacy``, ``umu_forget_quality``).

Run as ``python tests/metric_driver.py OUT_JSON METRICS_ROOT`` from an empty working directory with a private
``HF_HOME`` / ``HF_MODULES_CACHE`` and ``HF_HUB_OFFLINE=1`` (the tests set that up: ``helpers.run_metric_driver``),
so nothing reads or writes the user's cache. It installs the modules with ``umu-hf metrics install``, loads each by
bare name and by path, computes, runs the cards' examples and the Spaces' ``app.py``, and writes everything the
tests check to OUT_JSON. ``python tests/metric_driver.py robustness ROWS_JSON OUT_JSON METRICS_ROOT`` scores the
rows of ROWS_JSON with umu_bench's robustness configs, loaded by path (:func:`robustness_rows`; used by
``test_robustness.py``).
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
#: the robustness configs' rows: CLS's three questions asked plainly and of an 8-bit copy, in both modalities
ROBUST_CLS = dict(
    predictions=["Paris", "1991", "c", "B. Paris", "1992", "c", "Paris", "1992", "c", "Lyon", "1992", "a"],
    references=["Paris", "1992", "c"] * 4,
    modalities=(["unimodal"] * 3 + ["multimodal"] * 3) * 2,
    variants=["plain"] * 6 + ["int8"] * 6,
    options=OPTS * 4,
)
#: cloze: CLOZE's questions with the plain and a cropped portrait (multimodal only), and reworded in text
ROBUST_CLOZE = dict(
    predictions=["She lives in Lyon", "no idea", "a nurse", "Lyon", "a teacher", "?",
                 "Lyon", "no idea", "no idea", "no idea", "a teacher", "nurse"],
    references=CLOZE["references"] * 4,
    modalities=["unimodal"] * 3 + ["multimodal"] * 6 + ["unimodal"] * 3,
    variants=["plain"] * 6 + ["crop"] * 3 + ["paraphrase"] * 3,
)
#: generation: GEN's questions in text, plainly and in one paraphrase each
ROBUST_GEN = dict(
    predictions=["the cat sat on the mat", "I do not know", "the cat on mat", "Bob lives in Rome"],
    references=GEN["references"] * 2,
    modalities=["unimodal"] * 4,
    variants=["plain", "plain", "paraphrase", "paraphrase"],
)
ROBUST = {"robustness_classification": ROBUST_CLS, "robustness_cloze": ROBUST_CLOZE, "robustness_generation": ROBUST_GEN}


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
    results["robustness"] = robustness_results(modules)
    return results


def robustness_results(modules: dict) -> dict:
    """The robustness configs on :data:`ROBUST`, next to ``umu_hf.robustness.compare.variant_scores`` on the same
    rows; classification also with ``closest`` matching and streamed row by row (``add``), cloze in two batches."""
    from umu_hf.robustness.compare import variant_scores

    out = {config: modules[config].compute(**rows) for config, rows in ROBUST.items()}
    out["robustness_classification_closest"] = modules["robustness_classification"].compute(
        **ROBUST_CLS, option_matching="closest"
    )
    out["library"] = {
        config: variant_scores(config.removeprefix("robustness_"), **rows) for config, rows in ROBUST.items()
    }
    out["library"]["robustness_classification_closest"] = variant_scores(
        "classification", **ROBUST_CLS, option_matching="closest"
    )
    cls = modules["robustness_classification"]
    for row in zip(*ROBUST_CLS.values(), strict=True):
        cls.add(**dict(zip(ROBUST_CLS, row, strict=True)))
    out["classification_streamed"] = cls.compute()
    cloze = modules["robustness_cloze"]
    cloze.add_batch(**{name: values[:6] for name, values in ROBUST_CLOZE.items()})
    out["cloze_batched"] = cloze.compute(**{name: values[6:] for name, values in ROBUST_CLOZE.items()})
    return out


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
    rows = dict(predictions=["a", "b"], references=["a", "b"], modalities=["multimodal"] * 2, variants=["plain"] * 2)
    # evaluate refuses the first two while writing the batch; the module's own checks (in _compute) the others,
    # and each module's last case is one of those, which also closes a batch evaluate left open
    return {
        "unequal": error("cloze", **{**two, "references": ["a"]}),
        "non_string_first": error("cloze", **{**two, "unimodal_predictions": [7, "b"]}),
        "three_options": error("classification", **two, options=[["a", "b", "c", "d"], ["a", "b", "c"]]),
        "missing_options": error("classification", **two),
        "reference_not_an_option": error("classification", **{**two, "references": ["a", "z"]}, options=four),
        "bad_matching": error("classification", **two, options=four, option_matching="fuzzy"),
        "options_for_cloze": error("cloze", **two, options=four),
        "matching_for_generation": error("generation", **two, option_matching="exact"),
        "misspelt": error("generation", **two, confidence=0.9),
        "bad_confidence": error("generation", **two, confidence_level=95),
        # the robustness configs: evaluate's own refusal, then the module's checks (in _compute)
        "robust_missing_variants": error("robustness_cloze", **{k: v for k, v in rows.items() if k != "variants"}),
        "robust_no_plain": error(
            "robustness_cloze", **{**rows, "modalities": ["unimodal", "multimodal"], "variants": ["plain", "blur"]}
        ),
        "robust_bad_modality": error("robustness_cloze", **{**rows, "modalities": ["multimodal", "image"]}),
        "robust_empty_variant": error("robustness_cloze", **{**rows, "variants": ["", "plain"]}),
        "robust_reference_not_an_option": error(
            "robustness_classification", **{**rows, "references": ["a", "z"]}, options=four
        ),
        "robust_options_for_cloze": error("robustness_cloze", **rows, options=four),
        "robust_confidence": error("robustness_generation", **rows, confidence_level=0.9),
        "robust_pair_input": error("robustness_cloze", **rows, unimodal_predictions=["a", "b"]),
        "variants_for_cloze": error("cloze", **two, variants=["plain", "plain"]),
    }


def refused_then_computed(evaluate) -> dict:
    """A batch evaluate refuses while writing leaves the module's cache file open; the next compute closes it,
    and the one after that sees only its own inputs."""
    from umu_hf import scoring

    cloze = evaluate.load("umu_bench", "cloze", experiment_id="refused")
    try:
        cloze.compute(**{**CLOZE, "unimodal_predictions": [7, "no idea", "a nurse"]})
        refused = None
    except ValueError as exc:
        refused = str(exc)
    return {
        "refused": refused,
        "next": cloze.compute(**CLOZE, confidence_level=0.95),
        "library": scoring.cloze_scores(**CLOZE, confidence_level=0.95),
        "held_locks": held_cache_locks({"cloze": cloze}),
        "cache_files": cache_files({"cloze": cloze}),
    }


#: truth ratios of two models on the same items, and attack scores of members and non-members
TRUTH = {"unlearned": [0.05, 0.4, 0.2, 0.9, 0.1, 0.3], "retain": [0.8, 1.2, 0.6, 1.0, 0.9, 0.7, 1.1]}
SCORES = {"members": [-0.2, -0.5, -1.0, -3.0], "nonmembers": [-2.5, -1.5, -4.0]}
#: scores with ties, within and across the two samples (test_privacy_mia.py checks the AUC against a brute count)
TIED = {"members": [0.3, -1.2, 2.5, 0.3, 0.0], "nonmembers": [0.3, -2.0, 1.1]}


def _error(module, **kwargs) -> list | None:
    try:
        module.compute(**kwargs)
    except Exception as exc:
        return [type(exc).__name__, isinstance(exc, ValueError), str(exc)]
    return None


def privacy_module(evaluate, root: Path) -> dict:
    """``umu_privacy`` by bare name and by path against the library on the same numbers, in one call and
    streamed, and its refused arguments (each on a module kept alive, so a lock it left would still be held)."""
    from umu_hf.privacy import auc, reference

    bare = evaluate.load("umu_privacy")
    by_path = evaluate.load(str(root / "umu_privacy"))
    streamed = evaluate.load("umu_privacy", experiment_id="streamed")
    for score in SCORES["members"][:2]:
        streamed.add(member_scores=score)
    streamed.add_batch(member_scores=SCORES["members"][2:])
    value = auc.auc(SCORES["members"], SCORES["nonmembers"])
    failing = evaluate.load("umu_privacy", experiment_id="failing")
    one = dict(member_scores=[0.1], nonmember_scores=[0.0])
    errors = {
        "no_nonmembers": _error(failing, member_scores=[0.1]),
        "nonmembers_string": _error(failing, member_scores=[0.1], nonmember_scores="0.0"),
        "nonmember_nan": _error(failing, member_scores=[0.1], nonmember_scores=[0.0, float("nan")]),
        "member_inf": _error(failing, member_scores=[0.1, float("inf")], nonmember_scores=[0.0]),
        "empty_members": _error(failing, member_scores=[], nonmember_scores=[0.0]),
        "bad_retain_auc": _error(failing, **one, retain_auc=1.5),
        "bool_retain_auc": _error(failing, **one, retain_auc=True),
        "old_labels_form": _error(failing, **one, labels=[1]),
    }
    # a _compute that raises outside compute: its lock list is the previous computation's, already released
    pending = evaluate.load("umu_privacy", experiment_id="pending")
    pending.compute(member_scores=[0.1], nonmember_scores=[0.0])
    pending.add_batch(member_scores=SCORES["members"])
    try:
        pending._compute(member_scores=[0.1])
        pending_error = None
    except ValueError as exc:
        pending_error = str(exc)
    return {
        "pending_error": pending_error,
        "pending_kept": pending.compute(nonmember_scores=SCORES["nonmembers"]),
        "module": type(bare).__module__,
        "by_path_module": type(by_path).__module__,
        "features": sorted(bare.features),
        "citation": bare.citation,
        "bare": bare.compute(member_scores=SCORES["members"], nonmember_scores=SCORES["nonmembers"], retain_auc=0.6),
        "by_path": by_path.compute(member_scores=SCORES["members"], nonmember_scores=SCORES["nonmembers"]),
        "streamed": streamed.compute(nonmember_scores=SCORES["nonmembers"]),
        "library": {"auc": value, "privleak": reference.privleak(value, 0.6)},
        "tied": {"library": auc.auc(TIED["members"], TIED["nonmembers"]),
                 "bare": bare.compute(member_scores=TIED["members"], nonmember_scores=TIED["nonmembers"]),
                 "by_path": by_path.compute(member_scores=TIED["members"], nonmember_scores=TIED["nonmembers"])},
        "errors": errors,
        "held_locks": held_cache_locks({"failing": failing}),
        "cache_files": cache_files({"failing": failing}),
        "after_errors": failing.compute(member_scores=SCORES["members"], nonmember_scores=SCORES["nonmembers"]),
    }


def forget_quality_module(evaluate, root: Path) -> dict:
    """``umu_forget_quality`` as :func:`privacy_module` checks ``umu_privacy``."""
    from umu_hf.privacy import truth_ratio

    bare = evaluate.load("umu_forget_quality")
    by_path = evaluate.load(str(root / "umu_forget_quality"))
    streamed = evaluate.load("umu_forget_quality", experiment_id="streamed")
    for value in TRUTH["unlearned"][:3]:
        streamed.add(unlearned_truth_ratios=value)
    streamed.add_batch(unlearned_truth_ratios=TRUTH["unlearned"][3:])
    failing = evaluate.load("umu_forget_quality", experiment_id="failing")
    errors = {
        "no_retain": _error(failing, unlearned_truth_ratios=[0.1]),
        "empty_retain": _error(failing, unlearned_truth_ratios=[0.1], retain_truth_ratios=[]),
        "empty_unlearned": _error(failing, unlearned_truth_ratios=[], retain_truth_ratios=[0.1]),
        "retain_nan": _error(failing, unlearned_truth_ratios=[0.1], retain_truth_ratios=[0.2, float("nan")]),
        "unlearned_nan": _error(failing, unlearned_truth_ratios=[float("nan")], retain_truth_ratios=[0.2]),
        "retain_word": _error(failing, unlearned_truth_ratios=[0.1], retain_truth_ratios=[0.2, "x"]),
        "old_labels_form": _error(failing, truth_ratios=[0.1, 0.2], labels=[1, 0]),
    }
    return {
        "module": type(bare).__module__,
        "by_path_module": type(by_path).__module__,
        "features": sorted(bare.features),
        "citation": bare.citation,
        "bare": bare.compute(unlearned_truth_ratios=TRUTH["unlearned"], retain_truth_ratios=TRUTH["retain"]),
        "by_path": by_path.compute(unlearned_truth_ratios=TRUTH["unlearned"], retain_truth_ratios=TRUTH["retain"]),
        "streamed": streamed.compute(retain_truth_ratios=TRUTH["retain"]),
        "library": {
            "forget_quality": truth_ratio.forget_quality(TRUTH["unlearned"], TRUTH["retain"]),
            "ks_statistic": truth_ratio.ks_statistic(TRUTH["unlearned"], TRUTH["retain"]),
        },
        "errors": errors,
        "held_locks": held_cache_locks({"failing": failing}),
        "cache_files": cache_files({"failing": failing}),
        "after_errors": failing.compute(unlearned_truth_ratios=TRUTH["unlearned"], retain_truth_ratios=TRUTH["retain"]),
    }


def custom_app(metric_dir: Path, inputs: tuple) -> dict:
    """Run a module Space's own ``app.py`` (not as ``__main__``, which launches it): its ``score`` on typed text,
    against a direct call, a typo's error, and the interface ``build`` makes (with the installed gradio)."""
    import runpy

    from evaluate.utils.gradio import parse_readme

    app = runpy.run_path(str(metric_dir / "app.py"), run_name="app")
    try:
        app["score"]("0.1, abc", "0.2")
        typo = None
    except ValueError as exc:
        typo = str(exc)
    interface = app["build"]()
    return {
        "score": app["score"](*inputs),
        "typo": typo,
        "interface": type(interface).__name__,
        "interface_article": interface.article,
        "article": parse_readme(metric_dir / "README.md"),
    }


def kwargs_doctests(module) -> dict:
    """The examples of ``_KWARGS_DESCRIPTION``, run as doctests against the installed module."""
    import doctest
    import io

    name = Path(module.__file__).stem
    test = doctest.DocTestParser().get_doctest(
        module._KWARGS_DESCRIPTION, {}, f"{name}._KWARGS_DESCRIPTION", module.__file__, 0
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


def cache_files(modules: dict) -> list[str]:
    """The Arrow cache files left in the modules' folders: evaluate deletes a computation's file when its
    ``_compute`` returns, the modules' clean-up when it raises."""
    return sorted(p.name for module in modules.values() for p in Path(module.data_dir).glob("*.arrow"))


def module_files(module, evaluate_get_imports) -> dict:
    """What the tests check of a loaded module's script: the doctests of its ``_KWARGS_DESCRIPTION`` and the
    libraries evaluate's import scanner finds in it."""
    script = sys.modules[type(module).__module__]
    return {
        "doctest": kwargs_doctests(script),
        "imports": sorted({name for kind, name, _, _ in evaluate_get_imports(script.__file__) if kind == "library"}),
    }


def robustness_rows(rows_path: str, out_path: str, metrics_root: str) -> None:
    """Score each group of rows in ROWS_JSON (``{name: {"config": robustness config, "rows": compute's
    arguments}}``) with umu_bench loaded by path, and write ``{name: result}`` to OUT_JSON."""
    import evaluate

    groups = json.loads(Path(rows_path).read_text())
    modules: dict = {}
    out = {}
    for name, group in groups.items():
        config = group["config"]
        if config not in modules:
            modules[config] = evaluate.load(str(Path(metrics_root) / "umu_bench"), config)
        out[name] = modules[config].compute(**group["rows"])
    Path(out_path).write_text(json.dumps(out))


def main(out_path: str, metrics_root: str) -> None:
    import evaluate
    from evaluate.loading import get_imports

    from umu_hf.cli import main as cli_main

    root = Path(metrics_root)
    metric_dir = root / "umu_bench"
    out: dict = {"cli_rc": cli_main(["metrics", "install"])}  # into $HF_MODULES_CACHE, as evaluate resolves it

    # umu_bench
    modules = {}
    for cfg in ("classification", "cloze", "generation", *ROBUST):
        modules[cfg] = evaluate.load("umu_bench", cfg)
        out.setdefault("module_names", {})[cfg] = type(modules[cfg]).__module__
        out.setdefault("features", {})[cfg] = sorted(modules[cfg].features)
    out["citation"] = modules["cloze"].citation
    out["results"] = compute_everything(modules)
    out["empty"], out["empty_warnings"] = empty_inputs(modules)
    out["errors"] = bad_inputs(modules)
    out["held_locks_after_errors"] = held_cache_locks(modules)
    out["cache_files_after_errors"] = cache_files(modules)
    out["refused_then_computed"] = refused_then_computed(evaluate)
    out["other_configs"] = {}
    for config in ("default", "privacy", "forget_quality"):
        try:
            evaluate.load("umu_bench", config_name=config)
            out["other_configs"][config] = None
        except Exception as exc:
            out["other_configs"][config] = [type(exc).__name__, str(exc)]
    out.update(module_files(modules["cloze"], get_imports))
    by_path = evaluate.load(str(metric_dir), "cloze")
    out["by_path"] = {"module": type(by_path).__module__, "result": by_path.compute(**CLOZE)}
    out["card_examples"] = card_examples(metric_dir / "README.md")
    out["app"] = {str(config): run_app(metric_dir, config) for config in (None, "cloze", "generation")}

    # the modules of their own: umu_privacy, umu_forget_quality
    out["umu_privacy"] = privacy_module(evaluate, root)
    out["umu_forget_quality"] = forget_quality_module(evaluate, root)
    apps = {
        "umu_privacy": (", ".join(map(str, SCORES["members"])), str(SCORES["nonmembers"]), 0.6),
        "umu_forget_quality": (" ".join(map(str, TRUTH["unlearned"])), str(TRUTH["retain"])),
    }
    for name, inputs in apps.items():
        out[name].update(module_files(evaluate.load(name), get_imports))
        out[name]["card_examples"] = card_examples(root / name / "README.md")
        out[name]["app"] = custom_app(root / name, inputs)

    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    if sys.argv[1] == "robustness":
        robustness_rows(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
