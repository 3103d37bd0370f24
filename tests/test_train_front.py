"""One training front end: ``trainers/*.py`` and ``umu-hf finetune|unlearn`` parse with one parser, so
every flag has one spelling; recipes are defaults that flags override; LoRA defaults live in one dataclass."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from umu_hf.cli import main as cli_main
from umu_hf.errors import UmuError
from umu_hf.trainers import front, jobs
from umu_hf.trainers.lora import LoraArguments

ROOT = Path(__file__).resolve().parents[1]
UNLEARN = ["--method", "npo", "--model", "m", "--data", "d", "--forget_ratio", "10", "--output_dir", "out",
           "--learning_rate", "3e-4", "--beta", "0.2", "--lora_r", "8", "--use_cpu", "--merge"]


def _script(job: str):
    spec = importlib.util.spec_from_file_location(f"front_{job}", ROOT / "trainers" / f"{job}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def calls(monkeypatch):
    """What ``jobs.unlearn`` / ``jobs.finetune`` are called with, instead of training."""
    seen: list[tuple] = []

    def record(job):
        def fake(*args, **kwargs):
            seen.append((job, args, kwargs))
            return Path("trained")
        return fake

    monkeypatch.setattr(jobs, "unlearn", record("unlearn"))
    monkeypatch.setattr(jobs, "finetune", record("finetune"))
    return seen


@pytest.mark.parametrize("job, argv", [
    ("unlearn", UNLEARN),
    ("finetune", ["--model", "m", "--data", "d", "--output_dir", "out", "--num_train_epochs", "2", "--no_lora"]),
])
def test_script_and_umu_hf_run_the_same_job(job, argv, calls):
    assert _script(job).main(argv) == 0
    assert cli_main([job, *argv]) == 0
    (_, script_args, script_kwargs), (_, cli_args, cli_kwargs) = calls
    assert script_args == cli_args and script_kwargs == cli_kwargs
    if job == "unlearn":
        method, model, data, ratio, config, lora, merge = script_args
        assert (method, model, data, ratio, merge) == ("npo", "m", "d", 10, True)
        assert (config.learning_rate, config.beta, config.use_cpu, config.num_train_epochs) == (3e-4, 0.2, True, 4)
        assert (lora.r, lora.alpha) == (8, 32)
    else:
        assert script_args[3] is None and script_args[4] is False  # --no_lora: every weight, nothing to merge
        assert script_args[2].num_train_epochs == 2


def test_forget_after_serves_a_later_request(calls):
    """``--forget_after 5`` (a later deletion request, as ``bench --sequential`` trains it) reaches the job; without
    it the job gets None (a plain run)."""
    assert cli_main(["unlearn", *UNLEARN, "--forget-after", "5"]) == 0
    assert cli_main(["unlearn", *UNLEARN]) == 0
    assert [kwargs["after"] for _, _, kwargs in calls] == [5, None]


def test_dashed_spelling_is_the_same_flag():
    dashed = [a.replace("_", "-") if a.startswith("--") else a for a in UNLEARN]
    assert front.parse_args("unlearn", dashed) == front.parse_args("unlearn", UNLEARN)


def test_same_help_from_both_entry_points(capsys):
    argv = ["--method", "npo", "--help"]
    with pytest.raises(SystemExit) as script_exit:
        _script("unlearn").main(argv)
    script_help = capsys.readouterr().out
    with pytest.raises(SystemExit) as cli_exit:
        cli_main(["unlearn", *argv])
    cli_help = capsys.readouterr().out
    assert script_exit.value.code == cli_exit.value.code == 0
    assert script_help.startswith("usage: unlearn.py") and cli_help.startswith("usage: umu-hf unlearn")
    assert script_help.split("\n\n", 1)[1] == cli_help.split("\n\n", 1)[1]  # all but the usage lines
    for flag in ("--forget_ratio", "--learning_rate", "--beta", "--lora_r", "--config", "--no_lora", "--merge"):
        assert flag in cli_help


def test_recipe_values_are_defaults_that_flags_override(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("method: npo\nbeta: 0.3\nlearning_rate: 1e-4\nlora_r: 16\nnum_train_epochs: 2\n")
    base = ["--model", "m", "--data", "d", "--output_dir", str(tmp_path / "o"), "--config", str(recipe)]
    script, lora, config = front.parse_args("unlearn", base)
    assert (script.method, config.beta, config.learning_rate, lora.lora_r, config.num_train_epochs) == (
        "npo", 0.3, 1e-4, 16, 2)
    _, lora, config = front.parse_args("unlearn", [*base, "--learning_rate", "5e-5", "--lora-r", "4"])
    assert (config.learning_rate, lora.lora_r, config.beta) == (5e-5, 4, 0.3)
    (tmp_path / "bad.yaml").write_text("method: ga\nlr: 1e-4\n")
    with pytest.raises(UmuError, match=r"recipe .*bad.yaml: unknown setting\(s\) lr"):
        front.parse_args("unlearn", [*base[:-1], str(tmp_path / "bad.yaml")])
    with pytest.raises(UmuError, match=r"recipe .*missing.yaml: no such file; give a YAML file of field: value"):
        front.parse_args("unlearn", [*base[:-1], str(tmp_path / "missing.yaml")])


@pytest.mark.parametrize("old", [["--lr", "1e-4"], ["--set", "beta=0.2"], ["--out", "x"], ["--forget", "5"]])
def test_unknown_flag_is_one_clear_error(old, capsys):
    argv = ["--method", "ga", "--model", "m", "--data", "d", "--output_dir", "o", *old]
    with pytest.raises(UmuError, match=f"unrecognized arguments: {old[0]} {old[1]}"):
        front.parse_args("unlearn", argv, prog="unlearn.py")
    assert cli_main(["unlearn", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and old[0] in err[0] and "umu-hf unlearn --help" in err[0], err


def test_required_flags_and_bad_values_are_one_line(capsys):
    assert cli_main(["unlearn", "--method", "ga", "--model", "m", "--data", "d"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--output_dir" in err[0]  # no silent trainer_output/
    assert cli_main(["unlearn", "--method", "ga", "--model", "m", "--data", "d", "--output_dir", "o",
                     "--learning_rate", "fast"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid float value: 'fast'" in err[0]


def test_lora_defaults_live_in_one_dataclass(tmp_path):
    from umu_hf.bench.settings import BenchSettings, UnlearnTuning, original_profile
    from umu_hf.trainers.finetune import FINETUNE_LORA

    defaults = LoraArguments()
    argv = ["--method", "ga", "--model", "m", "--data", "d", "--output_dir", str(tmp_path)]
    assert front.parse_args("unlearn", argv).lora == defaults
    assert jobs.DEFAULT_LORA == defaults.settings()
    assert UnlearnTuning().lora() == defaults and BenchSettings().unlearn.lora() == dataclasses.replace(
        defaults, lora_r=16)
    assert original_profile().vanilla_lora == FINETUNE_LORA
    # fine-tuning: the original finetune.py's LoRA, the only place it differs from the unlearning defaults
    finetune = front.parse_args("finetune", argv[2:]).lora
    assert finetune == FINETUNE_LORA
    names = [f.name for f in dataclasses.fields(LoraArguments)]
    assert {n for n in names if getattr(finetune, n) != getattr(defaults, n)} == {"lora_r", "lora_alpha", "merge"}


def test_method_names_are_read_without_torch():
    code = "import sys, umu_hf.trainers.registry as r; print(len(r.METHOD_NAMES), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["13", "False"]


def test_a_method_is_its_file(tmp_path, monkeypatch):
    """A module in the methods package is a method by its file name; one that breaks the convention is named."""
    from umu_hf.trainers import registry

    package = tmp_path / "toy_methods"
    package.mkdir()
    (package / "__init__.py").write_text("")
    body = (
        "from dataclasses import dataclass\n"
        "from umu_hf.trainers.base import UnlearnTrainer\nfrom umu_hf.trainers.configs import UnlearnConfig\n"
        "@dataclass\nclass ToyConfig(UnlearnConfig):\n    pass\n"
        "class ToyTrainer(UnlearnTrainer):\n    method = {name!r}\n    streams = {{'forget': ('forget', 'answer')}}\n"
    )
    (package / "toy.py").write_text(body.format(name="toy"))
    (package / "misnamed.py").write_text(body.format(name="other"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "METHODS_PACKAGE", "toy_methods")
    monkeypatch.setattr(registry, "METHOD_NAMES", registry.method_names(package))
    registry._load.cache_clear()
    try:
        assert registry.METHOD_NAMES == ("misnamed", "toy")
        trainer, config = registry.get_method("Toy")
        assert (trainer.__name__, config.__name__) == ("ToyTrainer", "ToyConfig")
        with pytest.raises(UmuError, match=r"misnamed\.py: a method module defines exactly one"):
            registry.get_method("misnamed")
        with pytest.raises(UmuError, match="known methods: misnamed, toy"):
            registry.get_method("ga")
    finally:
        registry._load.cache_clear()


def test_output_dir_inside_the_model_is_refused_by_its_own_flag_name(tiny_model_dir, synth_dir, capsys):
    argv = ["--method", "ga", "--model", str(tiny_model_dir), "--data", str(synth_dir)]
    assert cli_main(["unlearn", *argv, "--output_dir", str(tiny_model_dir / "unlearned")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--output_dir" in err[0] and "lies inside the model" in err[0], err
