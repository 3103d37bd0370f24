"""GD — gradient difference: ``L = −NLL(forget) + γ · NLL(retain)`` per modality.

The original trains GD's LoRA on ``q_proj``/``v_proj`` only and clips the step's gradient to norm 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll


@dataclass
class GDConfig(UnlearnConfig):
    """``gamma`` weights the retain NLL."""

    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping of the step (0 = none)."})


class GDTrainer(UnlearnTrainer):
    method = "gd"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}
    lora_target_modules = ("q_proj", "v_proj")

    def modality_loss(self, model, inputs, modality):
        forget_nll = answer_nll(*self.stream_logits(model, inputs, "forget", modality))
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        return {
            "loss": -forget_nll + self.args.gamma * retain_nll,
            "forget_nll": forget_nll,
            "retain_nll": retain_nll,
        }
