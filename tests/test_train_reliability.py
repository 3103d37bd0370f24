"""Training never checkpoints a diverged state, resumes only its own run, and survives ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import BlowUpAtStep
from transformers import TrainerCallback

from umu_hf.cli import main as cli_main
from umu_hf.models.loading import load_model
from umu_hf.trainers.jobs import TRAINING_RECORD, build_unlearning_dataset
from umu_hf.trainers.lora import LoraArguments, apply_lora
from umu_hf.trainers.registry import get_method

ROOT = Path(__file__).resolve().parents[1]
SMALL_LORA = LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings()


def _ga_trainer(model_dir, data, out, **overrides):
    trainer_cls, config_cls = get_method("ga")
    model, _, adapter = load_model(str(model_dir), device="cpu", dtype="float32")
    model = apply_lora(model, SMALL_LORA)
    settings = {"per_device_train_batch_size": 12, "learning_rate": 1e-3, "use_cpu": True, "disable_tqdm": True,
                **overrides}
    config = config_cls(output_dir=str(out), **settings)
    dataset = build_unlearning_dataset(data, 5, streams=config.streams)
    return trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter)


def _finite_checkpoint(path) -> bool:
    from safetensors.torch import load_file

    weights = load_file(str(path / "adapter_model.safetensors"))
    return all(bool(torch.isfinite(w).all()) for w in weights.values())


@pytest.mark.parametrize("strategy", ["epoch", "steps"])
def test_divergence_never_checkpoints_nan_weights(strategy, tiny_model_dir, synth_dir, tmp_path):
    """Batch 12 = 4 steps an epoch; step 6 (epoch 2) explodes. The epoch-1 checkpoint must survive, named."""
    from umu_hf.trainers.guard import TrainingDivergedError

    extra = {"save_steps": 4} if strategy == "steps" else {}
    trainer = _ga_trainer(tiny_model_dir, synth_dir, tmp_path, num_train_epochs=2, save_strategy=strategy,
                          save_total_limit=1, **extra)
    trainer.add_callback(BlowUpAtStep(6))
    with pytest.raises(TrainingDivergedError, match="step 6 left non-finite weights.*checkpoint-4"):
        trainer.train()
    checkpoints = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-4"], checkpoints
    assert _finite_checkpoint(tmp_path / "checkpoint-4")


def _unlearn_args(method, model_dir, data, out, *extra):
    return ["unlearn", "--method", method, "--model", str(model_dir), "--data", str(data), "--forget_ratio", "5",
            "--output_dir", str(out), "--max_steps", "3", "--per_device_train_batch_size", "2", "--use_cpu",
            "--lora_r", "4", "--lora_alpha", "8", "--lora_dropout", "0", "--save_strategy", "steps", "--save_steps",
            "1", "--disable_tqdm", "true", *extra]


def _adapter(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "adapter_model.safetensors"))


def test_resume_only_a_checkpoint_of_the_same_run(tiny_model_dir, synth_dir, tmp_path, capsys):
    """GA's checkpoints are not resumed by NPO (which would train zero steps and call itself npo)."""
    out = tmp_path / "run"
    assert cli_main(_unlearn_args("ga", tiny_model_dir, synth_dir, out)) == 0
    assert json.loads((out / "umu_run.json").read_text())["identity"]["method"] == "ga"
    capsys.readouterr()
    assert cli_main(_unlearn_args("npo", tiny_model_dir, synth_dir, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds another training run (method 'ga' there, 'npo' now)" in err[0], err
    assert "--overwrite" in err[0]
    assert cli_main(_unlearn_args("ga", tiny_model_dir, synth_dir, out, "--learning_rate", "0.5")) == 2
    assert "learning_rate 1e-05 there, 0.5 now" in capsys.readouterr().err  # any setting counts
    assert json.loads((out / TRAINING_RECORD).read_text())["method"] == "ga"  # nothing was touched

    assert cli_main(_unlearn_args("npo", tiny_model_dir, synth_dir, out, "--overwrite")) == 0
    assert json.loads((out / TRAINING_RECORD).read_text())["method"] == "npo"
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert sum("forget_npo_mm" in entry for entry in state["log_history"]) == 3  # NPO trained all 3 steps


def test_half_written_checkpoint_is_skipped(tiny_model_dir, synth_dir, tmp_path):
    out = tmp_path / "run"
    assert cli_main(_unlearn_args("ga", tiny_model_dir, synth_dir, out, "--save_total_limit", "5")) == 0
    finished = _adapter(out)
    # as if killed while saving checkpoint-3: no trainer_state.json yet, the optimiser state cut short
    (out / "checkpoint-3" / "trainer_state.json").unlink()
    optimizer = out / "checkpoint-3" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    for name in ("adapter_model.safetensors", TRAINING_RECORD):
        (out / name).unlink()
    assert cli_main(_unlearn_args("ga", tiny_model_dir, synth_dir, out, "--save_total_limit", "5")) == 0
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    resumed = _adapter(out)
    assert resumed.keys() == finished.keys()
    for name, tensor in finished.items():  # resumed from checkpoint-2: the same step 3 again
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0)


@pytest.mark.slow
def test_kill_9_mid_epoch_then_rerun_gives_the_uninterrupted_weights(tiny_model_dir, synth_dir, tmp_path):
    """``kill -9`` of ``umu-hf unlearn`` once checkpoint-10 (mid-epoch 2; 8 steps an epoch) is complete; the
    same command again resumes and ends with exactly the weights of a run that was never interrupted."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}

    def command(out: Path) -> list[str]:  # LoRA dropout on: the RNG state must be restored too
        return [sys.executable, "-m", "umu_hf.cli", "unlearn", "--method", "gd", "--model", str(tiny_model_dir),
                "--data", str(synth_dir), "--forget_ratio", "5", "--output_dir", str(out), "--max_steps", "20",
                "--per_device_train_batch_size", "6", "--learning_rate", "1e-3", "--use_cpu", "--lora_r", "4",
                "--lora_alpha", "8", "--save_strategy", "steps", "--save_steps", "2", "--disable_tqdm", "true"]

    uninterrupted = subprocess.Popen(command(tmp_path / "a"), env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
    killed = tmp_path / "b"
    victim = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (killed / "checkpoint-10" / "trainer_state.json").is_file():
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint-10 after 300 s"
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (killed / TRAINING_RECORD).exists()  # it really died mid-run
    _, err = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, err[-3000:]

    rerun = subprocess.run(command(killed), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    expected, resumed = _adapter(tmp_path / "a"), _adapter(killed)
    assert resumed.keys() == expected.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(resumed[name], tensor, rtol=0, atol=0, msg=name)


@pytest.mark.slow
def test_full_weight_training_resumes_from_the_checkpoint_weights(tiny_model_dir, synth_dir, tmp_path):
    """transformers saves a LLaVA checkpoint under its original key names, which the Trainer's own resume does not
    map back (it went on from the initial weights); a resumed run must end exactly as an uninterrupted one."""
    from safetensors.torch import load_file

    import umu_hf.trainers.base as base
    from umu_hf.trainers.finetune import FinetuneConfig
    from umu_hf.trainers.jobs import finetune

    def config(out):
        return FinetuneConfig(
            output_dir=str(out), max_steps=6, learning_rate=5e-3, per_device_train_batch_size=8, protocol="umu-hf",
            save_strategy="steps", save_steps=3, use_cpu=True, disable_tqdm=True, seed=0)

    finetune(str(tiny_model_dir), synth_dir, config(tmp_path / "a"))

    class _Crash(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt  # dies right after the first checkpoint

    original = base.UMUTrainer.__init__

    def crashing_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.add_callback(_Crash())

    base.UMUTrainer.__init__ = crashing_init
    try:
        with pytest.raises(KeyboardInterrupt):
            finetune(str(tiny_model_dir), synth_dir, config(tmp_path / "b"))
    finally:
        base.UMUTrainer.__init__ = original
    finetune(str(tiny_model_dir), synth_dir, config(tmp_path / "b"))
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=0, atol=0, msg=name)
