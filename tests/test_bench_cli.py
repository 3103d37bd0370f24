"""``umu-hf bench``'s flags: dataclass fields parsed by the training front end's parser, with the spellings, defaults
and settings they always had, so a bench folder made before resumes as it did."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from umu_hf.bench.cli import BenchArguments, BenchSizes, bench_settings, make_parser, parse_args
from umu_hf.bench.settings import EMBEDDED_VANILLA, BenchSettings, UnlearnTuning, settings_hash
from umu_hf.cli import main as cli_main
from umu_hf.errors import UmuError
from umu_hf.flags import FlagParser
from umu_hf.trainers.front import TrainParser
from umu_hf.trainers.lora import LoraArguments

ROOT = Path(__file__).resolve().parents[1]
#: every flag ``umu-hf bench --help`` listed when the bench had its own argparse parser, as users type them
FLAGS = (
    "--out", "--methods", "--forget-ratio", "--seeds", "--model", "--data", "--no-finetune", "--device", "--force",
    "--privacy", "--retain-model", "--unimodal-layout", "--fictitious", "--real", "--vanilla-epochs", "--vanilla-lr",
    "--vanilla-batch-size", "--unlearn-epochs", "--unlearn-lr-scale", "--unlearn-lora-r", "--eval-limit",
    "--eval-batch-size", "--min-vanilla-acc", "--eval-every",
)
#: flags added since
NEW_FLAGS = ("--workers", "--robustness", "--sequential", "--threads", "--eval-max-new-tokens")
#: the original protocol's profile (``--model``/``--data`` given), written out
ORIGINAL = {
    "vanilla": {}, "vanilla_lora": LoraArguments(lora=True, lora_r=8, lora_alpha=16, merge=True),
    "unlearn": UnlearnTuning(lr_scale=1.0, epochs=None, lora_r=64), "eval_batch_size": 8, "forget_ratios": (5,),
    "seeds": (0,), "eval_every": "", "threads": None,
}
EMBEDDED = {
    "methods": ("ga", "gd", "kl", "po", "npo"), "forget_ratios": (15,), "seeds": (0, 1, 2), "n_fictitious": 30,
    "n_real": 6, "vanilla": {
        "num_train_epochs": 30, "learning_rate": 1e-2, "per_device_train_batch_size": 16,
        "lr_scheduler_type": "cosine", "warmup_steps": 0.03, "protocol": "umu-hf", "label_mode": "full",
        "adam_epsilon": 1e-8, "max_grad_norm": 1.0,
    },
    "vanilla_lora": LoraArguments(lora=False), "unlearn": UnlearnTuning(lr_scale=300.0, epochs=None, lora_r=16),
    "eval_batch_size": 32, "eval_limit": None, "min_vanilla_retain_acc": 60.0, "device": "auto",
    "privacy": False, "retain_model": None, "eval_every": "10", "unimodal_layout": None, "finetune": True,
    "threads": 1,
}


def _same(parsed: BenchSettings, expected: BenchSettings) -> None:
    """Equal, and equal as the stage keys see them (3.0 epochs is not 3 to a hash of JSON)."""
    assert parsed == expected
    assert settings_hash(parsed) == settings_hash(expected)


def _underscored(flag: str) -> str:
    return "--" + flag[2:].replace("-", "_")


def test_embedded_profile_is_written_out_right():
    assert BenchSettings(**EMBEDDED) == BenchSettings() and EMBEDDED["vanilla"] == EMBEDDED_VANILLA


@pytest.mark.parametrize("argv, expected", [
    ([], {}),
    (["--privacy"], {"privacy": True}),
    (["--sequential", "5, 10,15"], {"sequential": (5, 10, 15)}),
    (["--forget-ratio", "10,15", "--sequential", "5,10"], {"forget_ratios": (10, 15), "sequential": (5, 10)}),
    (["--seeds", "0,2", "--methods", "ga,npo", "--forget-ratio", "5,10"],
     {"seeds": (0, 2), "methods": ("ga", "npo"), "forget_ratios": (5, 10)}),
    (["--vanilla-epochs", "3", "--vanilla-lr", "1e-3"],
     {"vanilla": {**EMBEDDED["vanilla"], "num_train_epochs": 3.0, "learning_rate": 1e-3}}),
    (["--fictitious", "20", "--real", "4", "--vanilla-batch-size", "8", "--unlearn-epochs", "2",
      "--unlearn-lr-scale", "3", "--unlearn-lora-r", "8", "--eval-limit", "5", "--eval-batch-size", "4",
      "--min-vanilla-acc", "50", "--eval-every", "Epoch", "--device", "cpu", "--seeds", "2"],
     {"n_fictitious": 20, "n_real": 4, "vanilla": {**EMBEDDED["vanilla"], "per_device_train_batch_size": 8},
      "unlearn": UnlearnTuning(lr_scale=3.0, epochs=2.0, lora_r=8), "eval_limit": 5, "eval_batch_size": 4,
      "min_vanilla_retain_acc": 50.0, "eval_every": "epoch", "device": "cpu", "seeds": (0, 1)}),
], ids=["default", "privacy", "sequential", "sequential-ratios", "seeds-methods-ratios", "vanilla", "every-size"])
def test_embedded_command_lines_give_the_settings_they_always_did(argv, expected):
    _same(bench_settings(*parse_args(argv)), BenchSettings(**{**EMBEDDED, **expected}))


def test_a_given_vanilla_gives_the_settings_it_always_did(tiny_model_dir):
    argv = ["--no-finetune", "--model", "X", "--data", "Y", "--retain-model", str(tiny_model_dir)]
    expected = BenchSettings(**{**EMBEDDED, **ORIGINAL, "model": "X", "data": "Y", "finetune": False,
                                "privacy": True, "retain_model": str(tiny_model_dir)})
    _same(bench_settings(*parse_args(argv)), expected)
    argv = ["--model", "m", "--data", "d", "--no-finetune", "--unimodal-layout", "text-only", "--eval-every", "5"]
    expected = BenchSettings(**{**EMBEDDED, **ORIGINAL, "model": "m", "data": "d", "finetune": False,
                                "unimodal_layout": "text-only", "eval_every": "5"})
    _same(bench_settings(*parse_args(argv)), expected)


def test_every_flag_keeps_its_dashed_spelling_and_takes_the_underscored_one():
    parser = make_parser()
    assert isinstance(parser, FlagParser) and FlagParser in TrainParser.__mro__  # the training front end's parser
    spelled = {option for action in parser._actions for option in action.option_strings}
    assert set(FLAGS) <= spelled
    every = FLAGS + NEW_FLAGS
    assert {_underscored(f) for f in every} | set(every) | {"-h", "--help"} == spelled  # nothing else
    values = {"--out": "o", "--methods": "ga", "--forget-ratio": "10", "--seeds": "2", "--model": "m",
              "--data": "d", "--device": "cpu", "--retain-model": "r", "--unimodal-layout": "with-portrait",
              "--eval-every": "epoch", "--workers": "2", "--sequential": "5,10", "--eval-max-new-tokens": "cloze=8"}
    dashed = [word for flag in FLAGS + NEW_FLAGS for word in (flag, values.get(flag, "1"))]
    underscored = [_underscored(word) if word.startswith("--") else word for word in dashed]
    args, sizes = parse_args(dashed)
    assert (args, sizes) == parse_args(underscored)
    assert (args.no_finetune, args.force, args.privacy, args.retain_model, sizes.vanilla_lr) == (True, True, True,
                                                                                                 "r", 1.0)


def test_defaults_are_the_old_ones():
    args, sizes = parse_args([])
    assert args == BenchArguments(out="umu-bench-out", methods="ga,gd,kl,po,npo", forget_ratio=None, seeds=None,
                                  model=None, data=None, no_finetune=False, device="auto", force=False,
                                  privacy=False, retain_model=None, unimodal_layout=None)
    assert all(value is None for value in dataclasses.asdict(sizes).values()) and sizes == BenchSizes()


def test_help_lists_every_flag_from_the_bench_command(capsys):
    with pytest.raises(SystemExit) as done:
        cli_main(["bench", "--help"])
    text = capsys.readouterr().out
    assert done.value.code == 0 and text.startswith("usage: umu-hf bench")
    assert all(flag in text for flag in FLAGS)
    assert "sizes and training (defaults depend on embedded vs real run):" in text
    assert "(default: None)" not in text  # each help says the profile's default itself


def test_readme_bench_row_names_only_flags_the_bench_has():
    (row,) = [line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
              if line.startswith("| everything at once |")]
    named = set(re.findall(r"--[a-z][a-z_-]*", row))
    spelled = {option for action in make_parser()._actions for option in action.option_strings}
    assert len(named) >= 8 and named <= spelled, named - spelled


@pytest.mark.parametrize("argv, flag, advice", [
    (["--fictitious", "many"], "--fictitious", "invalid int value: 'many'"),
    (["--device", "gpu"], "--device", "invalid choice: 'gpu'"),
    (["--vanilla-e", "3"], "--vanilla-e", "unrecognized arguments"),  # no abbreviations
    (["--retain-model", "r"], "--retain-model", "goes with --no-finetune"),
    (["--privacy", "--no-finetune", "--model", "m"], "--retain-model", "needs --retain-model"),
    (["--unimodal-layout", "text-only"], "--unimodal-layout", "goes with --no-finetune"),
    (["--seeds", "two"], "--seeds", "takes a count (3) or a comma-separated list"),
    (["--forget-ratio", ","], "--forget-ratio", "needs at least one of 5, 10, 15"),
    (["--sequential", "10,5"], "--sequential", "must increase"),
    (["--sequential", "15"], "--sequential", "at least two requests"),
    (["--sequential", "5,20"], "--sequential", "unknown forget ratio"),
    (["--sequential", "5,10"], "--sequential", "add 10 to --forget-ratio"),
])
def test_bad_input_is_one_line_naming_the_flag(argv, flag, advice, capsys, tmp_path):
    assert cli_main(["bench", "--out", str(tmp_path / "b"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("umu-hf bench: error:") and flag in err[0] and advice in err[0], err
    assert not (tmp_path / "b").exists()
    with pytest.raises(UmuError, match=re.escape(advice)):
        bench_settings(*parse_args(argv))


def test_eval_max_new_tokens_reaches_the_settings_sorted_and_checked():
    settings = bench_settings(*parse_args(["--eval-max-new-tokens", "generation=32, cloze=8"]))
    assert settings.eval_max_new_tokens == {"cloze": 8, "generation": 32}
    assert bench_settings(*parse_args([])).eval_max_new_tokens is None  # the original budgets, key unchanged
