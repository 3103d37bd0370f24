"""metrics/umu_bench: the evaluate module, its card, and ``umu-hf metrics install`` (offline bare-name loading).

Everything that imports ``evaluate`` runs in one subprocess (``tests/metric_driver.py``, the session fixture
``offline_run`` of conftest.py) with a temporary HF_HOME / HF_MODULES_CACHE, a temporary working directory and
HF_HUB_OFFLINE=1, so the test neither reads nor writes the user's cache.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

import pytest
import yaml

from umu_hf import metrics_install
from umu_hf.errors import UmuError

REPO = Path(__file__).resolve().parent.parent
METRIC_DIR = REPO / "metrics" / "umu_bench"
SCRIPT = METRIC_DIR / "umu_bench.py"

# --------------------------------------------------------------------------------------------------------------
# offline bare-name loading after `umu-hf metrics install`


@pytest.mark.parametrize("name", metrics_install.METRIC_NAMES)
def test_cli_installs_every_module_into_evaluates_cache(offline_run, name):
    assert offline_run["cli_rc"] == 0
    parent = Path(offline_run["root"]) / "modules" / "evaluate_modules" / "metrics" / f"evaluate-metric--{name}"
    hashes = [p.name for p in parent.iterdir() if re.fullmatch(r"[0-9a-f]{64}", p.name)]
    assert len(hashes) == 1
    assert (parent / hashes[0] / f"{name}.py").read_bytes() == (REPO / "metrics" / name / f"{name}.py").read_bytes()
    assert str(parent / hashes[0] / f"{name}.py") in offline_run["stdout"]
    assert metrics_install.LOAD_CALLS[name] in offline_run["stdout"]


def test_bare_name_resolves_to_the_installed_module(offline_run):
    for cfg, name in offline_run["module_names"].items():
        assert name.startswith("evaluate_modules.metrics.evaluate-metric--umu_bench."), (cfg, name)
    assert offline_run["features"] == {
        "classification": ["multimodal_predictions", "options", "references", "unimodal_predictions"],
        "cloze": ["multimodal_predictions", "references", "unimodal_predictions"],
        "generation": ["multimodal_predictions", "references", "unimodal_predictions"],
        "robustness_classification": ["modalities", "options", "predictions", "references", "variants"],
        "robustness_cloze": ["modalities", "predictions", "references", "variants"],
        "robustness_generation": ["modalities", "predictions", "references", "variants"],
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


def test_robustness_configs_match_hand_computed_values_and_the_library(offline_run):
    """The robustness configs score each row by the benchmark's rule and compare every variant with the plain
    rows of its modality; a thin wrapper over umu_hf.robustness.compare.variant_scores, streamed or not."""
    results = offline_run["results"]["robustness"]
    third = 100 / 3
    cls = results["robustness_classification"]
    assert list(cls) == ["plain", "int8"]
    # plain: text right on q1 and q3 ("1991" is wrong); image right on q2 and q3 ("B. Paris" is not the option text)
    assert cls["plain"] == {"unimodal": {"score": pytest.approx(2 * third), "n": 3},
                            "multimodal": {"score": pytest.approx(2 * third), "n": 3}}
    # 8-bit: text right on all three (+33 points), image on q2 only (-33)
    assert cls["int8"]["unimodal"] == {"score": 100.0, "plain": pytest.approx(2 * third), "n": 3,
                                       "change": pytest.approx(third)}
    assert cls["int8"]["multimodal"]["score"] == pytest.approx(third)
    assert cls["int8"]["multimodal"]["change"] == pytest.approx(-third)
    # closest matching snaps "B. Paris" to "Paris": the plain image replies are all right
    assert results["robustness_classification_closest"]["plain"]["multimodal"]["score"] == 100.0
    cloze = results["robustness_cloze"]
    assert list(cloze) == ["plain", "crop", "paraphrase"]
    assert list(cloze["crop"]) == ["multimodal"] and list(cloze["paraphrase"]) == ["unimodal"]
    assert cloze["crop"]["multimodal"]["change"] == pytest.approx(-third)
    assert cloze["paraphrase"]["unimodal"]["change"] == 0.0
    generation = results["robustness_generation"]
    # plain: ROUGE-L 1 and 0; paraphrased: 0.8 ("the cat on mat") and 1
    assert generation["plain"]["unimodal"] == {"score": 50.0, "n": 2}
    assert generation["paraphrase"]["unimodal"]["score"] == pytest.approx(90.0)
    assert generation["paraphrase"]["unimodal"]["change"] == pytest.approx(40.0)
    for key, library in results["library"].items():
        assert results[key] == library, key
    assert results["classification_streamed"] == results["library"]["robustness_classification"]
    assert results["cloze_batched"] == results["library"]["robustness_cloze"]


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
        # refused by evaluate while it writes the batch, as in every module
        ("unequal", r"Mismatch in the number of unimodal_predictions \(2\) and references \(1\)"),
        ("non_string_first", r"Input unimodal_predictions: \[7, 'b'\]"),
        ("missing_options", r"Evaluation module inputs are missing: \['options'\]"),
        # refused by umu_hf.scoring's checks inside _compute
        ("three_options", r"options\[1\] must hold the 4 option texts"),
        ("reference_not_an_option", r"references\[1\] 'z' is not one of options\[1\]"),
        ("bad_matching", r"option_matching must be one of \['exact', 'closest'\], got 'fuzzy'"),
        ("options_for_cloze", r"options is only for classification"),
        ("matching_for_generation", r"option_matching is only for classification"),
        ("bad_confidence", r"confidence_level must be strictly between 0 and 1"),
        ("misspelt", r"^umu_bench \(generation\) takes no argument 'confidence'; its arguments are "
         r"unimodal_predictions, multimodal_predictions, references, confidence_level, seed$"),
        # the robustness configs
        ("robust_missing_variants", r"Evaluation module inputs are missing: \['variants'\]"),
        ("robust_no_plain", r"^variants: no 'plain' reply in the multimodal modality, so the change of 'blur' has "
         r"nothing to be measured against"),
        ("robust_bad_modality", r"^modalities\[1\] must be the modality each reply was asked in: 'unimodal' or "
         r"'multimodal', got 'image'$"),
        ("robust_empty_variant", r"^variants\[0\] must be the variant each reply was asked under: 'plain' for"),
        ("robust_reference_not_an_option", r"^references\[1\] 'z' is not one of options\[1\]"),
        ("robust_options_for_cloze", r"^options is only for classification; the robustness_cloze config takes none$"),
        ("robust_confidence", r"^umu_bench \(robustness_generation\) takes no argument 'confidence_level'; its "
         r"arguments are predictions, references, modalities, variants$"),
        ("robust_pair_input", r"^umu_bench \(robustness_cloze\) takes no argument 'unimodal_predictions'"),
        ("variants_for_cloze", r"^umu_bench \(cloze\) takes no argument 'variants'; its arguments are "
         r"unimodal_predictions, multimodal_predictions"),
    ],
)
def test_module_bad_input_raises_value_error_naming_argument(offline_run, case, message):
    error = offline_run["errors"][case]
    assert error is not None, f"{case}: no error raised"
    _name, is_value_error, text = error
    assert is_value_error
    assert re.search(message, text), text


def test_bad_compute_arguments_leave_no_cache_lock_or_file(offline_run):
    """An error of the module's own checks, inside _compute, releases evaluate's cache-file lock and deletes the
    file (evaluate does both only when _compute returns; a held lock cost every later compute of the config a
    second, one more per error)."""
    assert offline_run["held_locks_after_errors"] == []
    assert offline_run["cache_files_after_errors"] == []


def test_a_batch_evaluate_refused_is_closed_by_the_next_compute(offline_run):
    run = offline_run["refused_then_computed"]
    assert run["refused"] and "Input unimodal_predictions: [7," in run["refused"]
    assert run["next"] == run["library"]  # the refused rows were never written
    assert run["held_locks"] == [] and run["cache_files"] == []


def test_unknown_config_is_refused(offline_run):
    name, text = offline_run["other_configs"]["default"]
    assert "classification" in text and "default" in text


@pytest.mark.parametrize(("config", "module"), [("privacy", "umu_privacy"), ("forget_quality", "umu_forget_quality")])
def test_moved_configs_say_which_module_to_load(offline_run, config, module):
    name, text = offline_run["other_configs"][config]
    assert name == "ValueError"
    assert f'"{config}" config is now a module of its own: use evaluate.load("{module}")' in text


def test_kwargs_description_doctests_pass(offline_run):
    doctest_run = offline_run["doctest"]
    assert doctest_run["attempted"] >= 19  # the robustness example's four included
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


def test_install_metrics_installs_each_module_from_its_folder(tmp_path):
    installed = metrics_install.install_metrics(cache_dir=tmp_path)
    assert [p.name for p in installed] == [f"{name}.py" for name in metrics_install.METRIC_NAMES]
    for path, name in zip(installed, metrics_install.METRIC_NAMES, strict=True):
        assert path.parent.parent.name == f"evaluate-metric--{name}"
        assert path.read_bytes() == (REPO / "metrics" / name / f"{name}.py").read_bytes()
    (only,) = metrics_install.install_metrics(cache_dir=tmp_path / "one", names=["umu_privacy"])
    assert only.name == "umu_privacy.py"
    assert not (tmp_path / "one" / "evaluate_modules" / "metrics" / "evaluate-metric--umu_bench").exists()


def test_install_metrics_refuses_an_unknown_name_and_a_module_folder_as_root(tmp_path):
    with pytest.raises(UmuError, match="unknown metric module 'umu_nope': the modules are umu_bench"):
        metrics_install.install_metrics(cache_dir=tmp_path, names=["umu_nope"])
    with pytest.raises(UmuError, match=r"is one module's folder; .* as --source, i\.e\. .*metrics$"):
        metrics_install.install_metrics(cache_dir=tmp_path, root=METRIC_DIR)


def test_register_adds_metrics_install_with_cache_dir(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="umu-hf")
    metrics_install.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["metrics", "install", "--cache-dir", str(tmp_path)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "installed" in printed and "HF_MODULES_CACHE" in printed
    for name in metrics_install.METRIC_NAMES:
        assert list((tmp_path / "evaluate_modules" / "metrics" / f"evaluate-metric--{name}").glob(f"*/{name}.py"))
    args = parser.parse_args(["metrics", "install", "--cache-dir", str(tmp_path / "one"), "umu_forget_quality"])
    assert args.func(args) == 0
    assert [p.name for p in (tmp_path / "one" / "evaluate_modules" / "metrics").iterdir() if p.is_dir()] == [
        "evaluate-metric--umu_forget_quality"
    ]


# --------------------------------------------------------------------------------------------------------------
# the folder is Hub-ready


@pytest.mark.parametrize("name", metrics_install.METRIC_NAMES)
def test_no_multi_name_import_lines(name):
    # evaluate's import scanner mis-reads `import a, b`
    script = (REPO / "metrics" / name / f"{name}.py").read_text()
    assert not re.search(r"^import\s+\w+(\.\w+)*\s*,", script, flags=re.MULTILINE)


@pytest.mark.parametrize("name", metrics_install.METRIC_NAMES)
def test_modules_override_only_what_evaluates_own_modules_do(name):
    """Like evaluate's 65 modules, each module class defines _info and _compute (optionally
    _download_and_prepare), never compute, add or add_batch: those stay evaluate's."""
    import ast

    tree = ast.parse((REPO / "metrics" / name / f"{name}.py").read_text())
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    methods = {node.name for node in cls.body if isinstance(node, ast.FunctionDef)}
    assert {"_info", "_compute"} <= methods <= {"_info", "_compute", "_download_and_prepare"}, methods


def test_card_header_makes_the_folder_a_metric_space(offline_run):
    """The YAML header parses and points the Hub at a gradio Space whose app file exists; evaluate's widget shows
    the card's body, without the header, below the metric."""
    text = (METRIC_DIR / "README.md").read_text(encoding="utf-8")
    article = offline_run["app"]["None"]["article"]
    assert text.endswith(article) and article.strip()
    header = yaml.safe_load(text[: len(text) - len(article)].strip().strip("-"))
    assert header["sdk"] == "gradio" and (METRIC_DIR / header["app_file"]).is_file()
    assert {"evaluate", "metric"} <= set(header["tags"])  # how the Hub lists it among metrics


def test_card_examples_give_the_values_they_show(offline_run):
    """Every python block of the card runs against the installed module (by bare name, as the card says) and
    returns exactly the result written under it."""
    examples = offline_run["card_examples"]
    configs = [c for c in ("classification", "cloze", "generation") if any(f'"{c}")' in e["code"] for e in examples)]
    assert configs == ["classification", "cloze", "generation"]  # one example per config
    assert any('"robustness_' in e["code"] for e in examples)  # and one of a robustness config
    for example in examples:
        assert example["claimed"] is not None, example["code"]
        assert example["shown"] == example["claimed"], example["code"]


def test_card_citation_is_the_modules(offline_run):
    text = (METRIC_DIR / "README.md").read_text(encoding="utf-8")
    bibtex = re.findall(r"```bibtex\n(.*?)```", text, flags=re.DOTALL)
    assert bibtex == [offline_run["citation"]]


def test_requirements_cover_what_the_script_imports(offline_run):
    """A Space installs requirements.txt; evaluate refuses a module whose imports are missing, and the scoring
    needs rouge-score and nltk at compute time."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = (METRIC_DIR / "requirements.txt").read_text().splitlines()
    required = {canonicalize_name(Requirement(line).name) for line in lines if line.strip() and not line.startswith("#")}
    needed = {canonicalize_name(name) for name in offline_run["imports"]} | {"rouge-score", "nltk", "numpy"}
    assert needed <= required, needed - required


@pytest.mark.parametrize("config", [None, "cloze", "generation"])
def test_app_serves_the_module_through_evaluates_widget(offline_run, config):
    """app.py run as the Space runs it loads umu_bench.py beside it (the config from UMU_BENCH_CONFIG, default
    classification) and hands it to evaluate's widget; a visitor's table, parsed the widget's way, scores the
    same as a direct call."""
    app = offline_run["app"][str(config)]
    assert (app["name"], app["config"]) == ("umu_bench", config or "classification")
    assert app["module"].startswith("evaluate_modules.metrics.umu_bench.")  # by path, not the installed copy
    assert app["widget_result"] == app["direct_result"]
    if config is None:
        assert app["input_types"]["options"] == "json"
