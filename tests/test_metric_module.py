"""metrics/umu_bench: the evaluate module, its card, and ``umu-hf metrics install`` (offline bare-name loading).

Everything that imports ``evaluate`` runs in one subprocess with a temporary HF_HOME / HF_MODULES_CACHE, a
temporary working directory and HF_HUB_OFFLINE=1, so the test neither reads nor writes the user's cache.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from umu_hf import metrics_install
from umu_hf.errors import UmuError

REPO = Path(__file__).resolve().parent.parent
METRIC_DIR = REPO / "metrics" / "umu_bench"
SCRIPT = METRIC_DIR / "umu_bench.py"

DRIVER = textwrap.dedent(
    r"""
    import doctest
    import io
    import json
    import sys
    import warnings

    import evaluate
    from evaluate.loading import get_imports

    from umu_hf import scoring
    from umu_hf.cli import main

    out_path, metric_dir = sys.argv[1], sys.argv[2]
    out = {}
    out["cli_rc"] = main(["metrics", "install"])  # into $HF_MODULES_CACHE, as evaluate resolves it

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

    modules = {}
    results = {}
    for cfg in ("classification", "cloze", "generation"):
        m = evaluate.load("umu_bench", cfg)
        modules[cfg] = m
        out.setdefault("module_names", {})[cfg] = type(m).__module__
        out.setdefault("features", {})[cfg] = sorted(m.features)
    results["classification_exact"] = modules["classification"].compute(**CLS, option_matching="exact")
    results["classification_closest"] = modules["classification"].compute(
        **CLS, option_matching="closest", confidence_level=0.9
    )
    results["cloze"] = modules["cloze"].compute(**CLOZE, confidence_level=0.95)
    results["generation"] = modules["generation"].compute(**GEN)
    results["library"] = {
        "classification_exact": scoring.classification_scores(**CLS, option_matching="exact"),
        "classification_closest": scoring.classification_scores(
            **CLS, option_matching="closest", confidence_level=0.9
        ),
        "cloze": scoring.cloze_scores(**CLOZE, confidence_level=0.95),
        "generation": scoring.generation_scores(**GEN),
    }
    cls = modules["classification"]
    for row in zip(CLS["unimodal_predictions"], CLS["multimodal_predictions"], CLS["references"], OPTS):
        cls.add(unimodal_predictions=row[0], multimodal_predictions=row[1], references=row[2], options=row[3])
    results["classification_streamed"] = cls.compute()
    out["results"] = results

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out["empty"] = {
            "classification": modules["classification"].compute(
                unimodal_predictions=[], multimodal_predictions=[], references=[], options=[]
            ),
            "generation": modules["generation"].compute(
                unimodal_predictions=[], multimodal_predictions=[], references=[]
            ),
        }
    out["empty_warnings"] = [w.category.__name__ for w in caught]

    def error(cfg, **kwargs):
        try:
            modules[cfg].compute(**kwargs)
        except Exception as exc:
            return [type(exc).__name__, isinstance(exc, ValueError), str(exc)]
        return None

    two = dict(unimodal_predictions=["a", "b"], multimodal_predictions=["a", "b"], references=["a", "b"])
    four = [["a", "b", "c", "d"]] * 2
    out["errors"] = {
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
    for name, kwargs in (("unknown_config", {"config_name": "default"}),):
        try:
            evaluate.load("umu_bench", **kwargs)
            out[name] = None
        except Exception as exc:
            out[name] = [type(exc).__name__, str(exc)]

    # the examples of _KWARGS_DESCRIPTION, run as doctests against the installed module
    module = sys.modules[type(modules["cloze"]).__module__]
    test = doctest.DocTestParser().get_doctest(
        module._KWARGS_DESCRIPTION, {}, "umu_bench._KWARGS_DESCRIPTION", module.__file__, 0
    )
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=report.write)
    out["doctest"] = {"attempted": runner.tries, "failed": runner.failures, "report": report.getvalue()}

    by_path = evaluate.load(metric_dir, "cloze")
    out["by_path"] = {"module": type(by_path).__module__, "result": by_path.compute(**CLOZE)}
    out["imports"] = sorted({name for kind, name, _, _ in get_imports(module.__file__) if kind == "library"})

    with open(out_path, "w") as f:
        json.dump(out, f)
    """
)


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory) -> dict:
    """Install the metric into a fresh cache and exercise it from an empty directory, offline."""
    root = tmp_path_factory.mktemp("umu_bench_offline")
    workdir = root / "cwd"
    workdir.mkdir()
    env = {
        **os.environ,
        "HF_HOME": str(root / "hf_home"),
        "HF_MODULES_CACHE": str(root / "modules"),
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",  # evaluate ignores HF_HUB_OFFLINE; skip its Hub probe (speed, hermetic)
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "PYTHONPATH": "",  # umu_hf must come from the installed package, not from the test's cwd
    }
    out = root / "out.json"
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), str(METRIC_DIR)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    result["root"] = str(root)
    result["stdout"] = proc.stdout
    return result


# --------------------------------------------------------------------------------------------------------------
# offline bare-name loading after `umu-hf metrics install`


def test_cli_installs_into_evaluates_cache(offline_run):
    assert offline_run["cli_rc"] == 0
    parent = (
        Path(offline_run["root"]) / "modules" / "evaluate_modules" / "metrics" / "evaluate-metric--umu_bench"
    )
    hashes = [p.name for p in parent.iterdir() if re.fullmatch(r"[0-9a-f]{64}", p.name)]
    assert len(hashes) == 1
    assert (parent / hashes[0] / "umu_bench.py").read_bytes() == SCRIPT.read_bytes()
    assert str(parent / hashes[0] / "umu_bench.py") in offline_run["stdout"]


def test_bare_name_resolves_to_the_installed_module(offline_run):
    for cfg, name in offline_run["module_names"].items():
        assert name.startswith("evaluate_modules.metrics.evaluate-metric--umu_bench."), (cfg, name)
    assert offline_run["features"] == {
        "classification": ["multimodal_predictions", "options", "references", "unimodal_predictions"],
        "cloze": ["multimodal_predictions", "references", "unimodal_predictions"],
        "generation": ["multimodal_predictions", "references", "unimodal_predictions"],
    }


def test_module_results_match_hand_computed_values_and_the_library(offline_run):
    results = offline_run["results"]
    exact = results["classification_exact"]
    assert set(exact) == set(
        ["AccF", "AccR", "unimodal_acc", "multimodal_acc", "both_correct", "only_unimodal", "only_multimodal"]
        + ["both_wrong", "n"]
    )
    # q1 right in text only ("B. Paris" is not the option text), q2 with the image only, q3 in both
    assert exact["AccF"] == 100.0 and exact["n"] == 3
    assert exact["AccR"] == pytest.approx(100 / 3)
    assert exact["only_unimodal"] == pytest.approx(100 / 3) and exact["only_multimodal"] == pytest.approx(
        100 / 3
    )
    closest = results["classification_closest"]
    assert closest["AccR"] == pytest.approx(200 / 3)
    assert len(closest["AccF_ci"]) == 2 and len(closest["AccR_ci"]) == 2
    assert results["cloze"]["AccF"] == 100.0 and results["cloze"]["AccR"] == pytest.approx(100 / 3)
    generation = results["generation"]
    assert set(generation) == {"RLF", "RLR", "unimodal_rougeL", "multimodal_rougeL", "n", "secondary"}
    # the original's secondary numbers: question 1 unimodal ROUGE-1 0.8, ROUGE-2 0.25, BLEU exp(-0.5)·(1/600)^¼;
    # question 2 unimodal shares nothing; the multimodal replies equal their references (4 and 6 words)
    unimodal_bleu = 100 * math.exp(1 - 6 / 4) * (1 / 3 * 0.05 * 0.1) ** 0.25 / 2
    assert generation["secondary"]["unimodal"] == pytest.approx(
        {"bleu": unimodal_bleu, "rouge1": 40.0, "rouge2": 12.5}
    )
    assert generation["secondary"]["multimodal"] == {"bleu": 100.0, "rouge1": 100.0, "rouge2": 100.0}
    # question 1: b = 0.8, a = 1 -> RLF 1.64/1.8, RLR 1.6/1.8; question 2: b = 0, a = 1 -> RLF 1, RLR 0
    assert generation["RLF"] == pytest.approx(100 * (1.64 / 1.8 + 1) / 2)
    assert generation["RLR"] == pytest.approx(100 * (1.6 / 1.8) / 2)
    for key, library in results["library"].items():
        assert results[key] == library, key  # a thin wrapper: same numbers as umu_hf.scoring
    assert results["classification_streamed"] == results["library"]["classification_exact"]


def test_module_empty_input_is_nan_with_a_warning(offline_run):
    for result in offline_run["empty"].values():
        assert result["n"] == 0
        assert all(v != v for k, v in result.items() if k not in ("n", "secondary"))  # NaN (json round-trips it)
        for block in result.get("secondary", {}).values():
            assert all(v != v for v in block.values())
    assert offline_run["empty_warnings"].count("EmptyInputWarning") == 2


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unequal", r"references has 1 entries but unimodal_predictions has 2: index 1"),
        ("non_string", r"multimodal_predictions\[1\] must be a string"),
        ("non_string_first", r"unimodal_predictions\[0\] must be a string"),
        ("three_options", r"options\[1\] must hold the 4 option texts"),
        ("missing_options", r"options"),
        ("bad_matching", r"option_matching must be one of \['exact', 'closest'\], got 'fuzzy'"),
        ("options_for_cloze", r"options is only for classification"),
        ("matching_for_generation", r"option_matching is only for classification"),
        ("bad_confidence", r"confidence_level must be strictly between 0 and 1"),
    ],
)
def test_module_bad_input_raises_value_error_naming_argument(offline_run, case, message):
    error = offline_run["errors"][case]
    assert error is not None, f"{case}: no error raised"
    _name, is_value_error, text = error
    assert is_value_error
    assert re.search(message, text), text


def test_unknown_config_is_refused(offline_run):
    name, text = offline_run["unknown_config"]
    assert "classification" in text and "default" in text


def test_kwargs_description_doctests_pass(offline_run):
    doctest_run = offline_run["doctest"]
    assert doctest_run["attempted"] >= 10
    assert doctest_run["failed"] == 0, doctest_run["report"]


def test_load_by_path(offline_run):
    by_path = offline_run["by_path"]
    assert by_path["module"].startswith("evaluate_modules.metrics.umu_bench.")
    assert by_path["result"]["AccF"] == offline_run["results"]["cloze"]["AccF"]


def test_script_imports_are_what_evaluate_checks(offline_run):
    assert offline_run["imports"] == ["datasets", "evaluate", "umu_hf"]


# --------------------------------------------------------------------------------------------------------------
# install_metric (no evaluate import: explicit cache_dir)


def test_install_metric_layout_and_idempotence(tmp_path):
    first = metrics_install.install_metric(cache_dir=tmp_path)
    again = metrics_install.install_metric(cache_dir=tmp_path)
    assert first == again
    rel = first.relative_to(tmp_path).parts
    assert rel[:3] == ("evaluate_modules", "metrics", "evaluate-metric--umu_bench")
    assert re.fullmatch(r"[0-9a-f]{64}", rel[3]) and rel[4] == "umu_bench.py"
    for package in (tmp_path, *first.parents):
        if package == tmp_path.parent:
            break
        assert (package / "__init__.py").is_file(), package
    # no temp left (both sides sorted: a digest starting with a digit sorts before "__init__.py")
    assert sorted(p.name for p in first.parent.parent.iterdir()) == sorted(["__init__.py", rel[3]])


def test_reinstalling_an_updated_script_makes_it_the_newest(tmp_path):
    old = metrics_install.install_metric(cache_dir=tmp_path / "cache")
    source = tmp_path / "src"
    source.mkdir()
    (source / "umu_bench.py").write_text(SCRIPT.read_text() + "\n# updated\n")
    new = metrics_install.install_metric(cache_dir=tmp_path / "cache", source=source)
    assert new.parent != old.parent
    assert new.stat().st_mtime >= old.stat().st_mtime  # evaluate loads the most recently modified one
    assert metrics_install.install_metric(cache_dir=tmp_path / "cache") == old
    assert old.stat().st_mtime >= new.stat().st_mtime


def test_install_metric_missing_source(tmp_path):
    with pytest.raises(UmuError, match="--source"):
        metrics_install.install_metric(cache_dir=tmp_path, source=tmp_path / "nowhere")


def test_register_adds_metrics_install_with_cache_dir(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="umu-hf")
    metrics_install.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["metrics", "install", "--cache-dir", str(tmp_path)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "installed" in printed and "HF_MODULES_CACHE" in printed
    assert list(
        (tmp_path / "evaluate_modules" / "metrics" / "evaluate-metric--umu_bench").glob("*/umu_bench.py")
    )


# --------------------------------------------------------------------------------------------------------------
# the folder is Hub-ready


def test_no_multi_name_import_lines():
    # evaluate's import scanner mis-reads `import a, b`
    assert not re.search(r"^import\s+\w+(\.\w+)*\s*,", SCRIPT.read_text(), flags=re.MULTILINE)


def test_card_has_space_header_and_documents_the_metrics():
    text = (METRIC_DIR / "README.md").read_text()
    header = yaml.safe_load(text.split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert {"evaluate", "metric"} <= set(header["tags"])
    body = text.split("---", 2)[2]
    for needed in (
        "AccF",
        "AccR",
        "RLF",
        "RLR",
        "lower",
        "umu-hf metrics install",
        "## Limitations",
        "@inproceedings",
    ):
        assert needed in body, needed
    for key in ("both_correct", "only_unimodal", "only_multimodal", "both_wrong", "unimodal_rougeL", "_ci"):
        assert key in body, key


def test_requirements_and_app():
    requirements = (METRIC_DIR / "requirements.txt").read_text()
    names = [re.split(r"[<>=@ ]", line.strip())[0] for line in requirements.splitlines()]
    assert {"umu-hf", "evaluate", "rouge-score"} <= set(names)
    app = ast.parse((METRIC_DIR / "app.py").read_text())
    called = {
        node.func.id
        for node in ast.walk(app)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert "launch_gradio_widget" in called
