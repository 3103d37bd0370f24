"""metrics/umu_privacy and metrics/umu_forget_quality: the evaluate modules, their cards and their Spaces.

Everything that imports ``evaluate`` runs in one subprocess (``tests/metric_driver.py``, the session fixture
``offline_run`` of conftest.py): the modules installed by ``umu-hf metrics install`` into a private cache and
loaded by bare name, and loaded by path from this checkout's ``metrics/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from umu_hf.metric_modules import numbers_from_text

REPO = Path(__file__).resolve().parent.parent
NAMES = ("umu_privacy", "umu_forget_quality")


@pytest.mark.parametrize("name", NAMES)
def test_bare_name_is_the_installed_module_and_features_are_its_rows(offline_run, name):
    run = offline_run[name]
    assert run["module"].startswith(f"evaluate_modules.metrics.evaluate-metric--{name}."), run["module"]
    assert run["by_path_module"].startswith(f"evaluate_modules.metrics.{name}."), run["by_path_module"]
    rows = {"umu_privacy": ["member_scores"], "umu_forget_quality": ["unlearned_truth_ratios"]}[name]
    assert run["features"] == rows


def test_privacy_module_is_the_library_auc_and_privleak(offline_run):
    run = offline_run["umu_privacy"]
    library = run["library"]
    assert run["bare"] == {"auc": library["auc"], "n_members": 4, "n_nonmembers": 3, "privleak": library["privleak"]}
    # members [-0.2, -0.5, -1.0, -3.0] against [-2.5, -1.5, -4.0]: 3 + 3 + 3 + 1 of the 12 pairs won
    assert library["auc"] == 10 / 12 and library["privleak"] < 0  # recognised beyond the retain model's 0.6
    expected = {"auc": library["auc"], "n_members": 4, "n_nonmembers": 3}
    assert run["by_path"] == run["streamed"] == run["after_errors"] == expected


def test_privacy_module_is_the_library_auc_with_ties(offline_run):
    """On scores tied within and across the two samples, the module (by bare name and by path) gives the
    library's AUC, and that AUC is the brute count over all pairs (a tie counts half)."""
    from metric_driver import TIED

    members, nonmembers = TIED["members"], TIED["nonmembers"]
    wins = sum((m > n) + 0.5 * (m == n) for m in members for n in nonmembers)
    tied = offline_run["umu_privacy"]["tied"]
    assert tied["library"] == wins / (len(members) * len(nonmembers))
    assert tied["bare"] == tied["by_path"] == {"auc": tied["library"], "n_members": 5, "n_nonmembers": 3}


def test_forget_quality_module_is_the_library_ks_test(offline_run):
    run = offline_run["umu_forget_quality"]
    expected = {**run["library"], "n_unlearned": 6, "n_retain": 7}
    assert run["bare"] == run["by_path"] == run["streamed"] == run["after_errors"] == expected
    assert run["library"]["forget_quality"] < 0.05  # the two samples barely overlap


@pytest.mark.parametrize(
    ("name", "case", "message"),
    [
        ("umu_privacy", "no_nonmembers", r"^nonmember_scores is missing: pass compute\(nonmember_scores=\[\.\.\.\]\)"),
        ("umu_privacy", "nonmembers_string", r"^nonmember_scores must be a list of numbers .*got str$"),
        ("umu_privacy", "nonmember_nan", r"^nonmember_scores\[1\] must be a number .*got nan$"),
        ("umu_privacy", "member_inf", r"^member_scores\[1\] is inf; every score must be finite$"),
        ("umu_privacy", "empty_members", r"^member_scores is empty; an AUC needs at least one member"),
        ("umu_privacy", "bad_retain_auc", r"^retain_auc must be a number in \[0, 1\), got 1.5"),
        ("umu_privacy", "bool_retain_auc", r"^retain_auc must be a number in \[0, 1\), got True"),
        ("umu_forget_quality", "no_retain", r"^retain_truth_ratios is missing: pass compute\(retain_truth_ratios="),
        ("umu_forget_quality", "empty_retain", r"^retain_truth_ratios is empty; .*at least one truth ratio of each"),
        ("umu_forget_quality", "empty_unlearned", r"^unlearned_truth_ratios is empty; .*at least one truth ratio"),
        ("umu_forget_quality", "retain_nan", r"^retain_truth_ratios\[1\] must be a number .*got nan$"),
        ("umu_forget_quality", "unlearned_nan", r"^unlearned_truth_ratios\[0\] must be a number .*got nan$"),
        ("umu_forget_quality", "retain_word", r"^retain_truth_ratios\[1\] must be a number .*got 'x'$"),
    ],
)
def test_a_bad_argument_is_one_value_error_naming_it(offline_run, name, case, message):
    error = offline_run[name]["errors"][case]
    assert error is not None, f"{name} {case}: no error raised"
    _type, is_value_error, text = error
    assert is_value_error and re.search(message, text), text


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # with the rows given, labels reaches _compute, which names it
        ("umu_privacy", "umu_privacy takes no argument 'labels'; its arguments are member_scores, nonmember_scores, "
         "retain_auc"),
        # with no rows at all, evaluate stops before _compute
        ("umu_forget_quality", "call `add` or `add_batch` at least once before calling `compute`"),
    ],
)
def test_the_old_labels_form_is_refused(offline_run, name, message):
    """The scores/labels form of the old umu_bench configs is not an input of the new modules."""
    _type, is_value_error, text = offline_run[name]["errors"]["old_labels_form"]
    assert is_value_error and message in text, text


@pytest.mark.parametrize("name", NAMES)
def test_refused_arguments_leave_no_cache_lock_or_file(offline_run, name):
    """Every error above was raised inside _compute on one module object kept alive; none left evaluate's cache
    file or its lock, and the same object then computes normally."""
    run = offline_run[name]
    assert run["held_locks"] == [] and run["cache_files"] == []


def test_clean_up_spares_a_batch_added_after_the_last_compute(offline_run):
    """released_on_error removes only the files whose locks this computation holds: a _compute that raises
    outside compute (its lock list is then the previous computation's, already released) leaves a batch added
    since untouched, and the next compute scores it."""
    run = offline_run["umu_privacy"]
    assert run["pending_error"] and run["pending_error"].startswith("nonmember_scores is missing")
    assert run["pending_kept"] == {"auc": run["library"]["auc"], "n_members": 4, "n_nonmembers": 3}


@pytest.mark.parametrize("name", NAMES)
def test_kwargs_description_doctests_pass(offline_run, name):
    doctest_run = offline_run[name]["doctest"]
    assert doctest_run["attempted"] >= 6
    assert doctest_run["failed"] == 0, doctest_run["report"]


@pytest.mark.parametrize("name", NAMES)
def test_script_imports_are_what_evaluate_checks_and_requirements_cover_them(offline_run, name):
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    assert offline_run[name]["imports"] == ["datasets", "evaluate", "umu_hf"]
    lines = (REPO / "metrics" / name / "requirements.txt").read_text().splitlines()
    required = {canonicalize_name(Requirement(line).name) for line in lines if line.strip() and not line.startswith("#")}
    needed = {"umu-hf", "datasets", "evaluate"} | ({"scipy"} if name == "umu_forget_quality" else set())
    assert needed <= required, needed - required


@pytest.mark.parametrize("name", NAMES)
def test_card_is_a_complete_metric_card_of_a_metric_space(offline_run, name):
    """The YAML header points the Hub at a gradio Space whose app exists; the body has the sections of
    evaluate's own cards, its bibtex is the module's citation, and the app shows the body as its article."""
    folder = REPO / "metrics" / name
    text = (folder / "README.md").read_text(encoding="utf-8")
    article = offline_run[name]["app"]["article"]
    assert text.endswith(article) and article.strip()
    header = yaml.safe_load(text[: len(text) - len(article)].strip().strip("-"))
    assert header["sdk"] == "gradio" and (folder / header["app_file"]).is_file()
    assert {"evaluate", "metric"} <= set(header["tags"]) and header["title"] and header["description"]
    headings = re.findall(r"^#{2,3} (.+)$", article, flags=re.MULTILINE)
    for section in ("Metric Description", "How to Use", "Inputs", "Output Values", "Examples"):
        assert section in headings, section
    assert "Limitations and Bias" in headings and "Citation" in headings
    assert re.findall(r"```bibtex\n(.*?)```", text, flags=re.DOTALL) == [offline_run[name]["citation"]]
    assert offline_run[name]["app"]["interface_article"] == article


@pytest.mark.parametrize("name", NAMES)
def test_card_examples_give_the_values_they_show(offline_run, name):
    examples = offline_run[name]["card_examples"]
    assert len(examples) >= 3
    for example in examples:
        assert example["claimed"] is not None, example["code"]
        assert example["shown"] == example["claimed"], example["code"]


@pytest.mark.parametrize("name", NAMES)
def test_space_scores_typed_numbers_as_the_module_does(offline_run, name):
    """The Space's own app (evaluate's widget offers only the rows): numbers typed as text give the direct
    call's result, a typo one error naming the box, and build() makes a gradio Interface."""
    run = offline_run[name]
    app = run["app"]
    assert app["score"] == run["bare"]  # the same inputs (and retain_auc 0.6), typed as text
    first = {"umu_privacy": "member_scores", "umu_forget_quality": "unlearned_truth_ratios"}[name]
    assert app["typo"] == f"{first}: 'abc' is not a number; type numbers separated by commas"
    assert app["interface"] == "Interface"


# --------------------------------------------------------------------------------------------------------------
# umu_hf.metric_modules, without evaluate


def test_numbers_from_text_reads_lists_and_separators():
    assert numbers_from_text("", "x") == [] and numbers_from_text(None, "x") == []
    assert numbers_from_text("[1, 2.5; -3e-1]\n4", "x") == [1.0, 2.5, -0.3, 4.0]
    with pytest.raises(ValueError, match="^x: 'one' is not a number; type numbers separated by commas$"):
        numbers_from_text("0 one", "x")
