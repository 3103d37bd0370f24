"""Training never checkpoints a diverged state, resumes only its own run, and survives ``kill -9``."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from umu_hf.models.loading import load_model
from umu_hf.trainers.cli import make_config
from umu_hf.trainers.lora import LoraSettings, apply_lora
from umu_hf.trainers.registry import get_method
from umu_hf.trainers.run import build_unlearning_dataset

SMALL_LORA = LoraSettings(r=4, alpha=8, dropout=0.0)


class _BlowUpAtStep(TrainerCallback):
    """From optimiser step ``step`` on, the learning rate is infinite: the weights become non-finite."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        if state.global_step + 1 >= self.step:
            for group in optimizer.param_groups:
                group["lr"] = float("inf")


def _ga_trainer(model_dir, data, out, **overrides):
    trainer_cls, config_cls = get_method("ga")
    model, _, adapter = load_model(str(model_dir), device="cpu", dtype="float32")
    model = apply_lora(model, SMALL_LORA)
    settings = {"per_device_train_batch_size": 12, "learning_rate": 1e-3, "use_cpu": True, "disable_tqdm": True,
                **overrides}
    config = make_config(config_cls, str(out), settings)
    dataset = build_unlearning_dataset(data, 5, streams=config.streams)
    return trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter)


def _finite_checkpoint(path) -> bool:
    from safetensors.torch import load_file

    weights = load_file(str(path / "adapter_model.safetensors"))
    return all(bool(torch.isfinite(w).all()) for w in weights.values())


@pytest.mark.parametrize("strategy", ["epoch", "steps"])
def test_divergence_never_checkpoints_nan_weights(strategy, tiny_model_dir, synth_dir, tmp_path):
    """Batch 12 = 4 steps an epoch; step 6 (epoch 2) explodes. The epoch-1 checkpoint must survive, named."""
    from umu_hf.trainers.base import TrainingDivergedError

    extra = {"save_steps": 4} if strategy == "steps" else {}
    trainer = _ga_trainer(tiny_model_dir, synth_dir, tmp_path, num_train_epochs=2, save_strategy=strategy,
                          save_total_limit=1, **extra)
    trainer.add_callback(_BlowUpAtStep(6))
    with pytest.raises(TrainingDivergedError, match="step 6 left non-finite weights.*checkpoint-4"):
        trainer.train()
    checkpoints = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-4"], checkpoints
    assert _finite_checkpoint(tmp_path / "checkpoint-4")
