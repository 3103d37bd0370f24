"""GD — gradient difference: ``L = −NLL(forget) + γ · NLL(retain)`` per modality."""

from __future__ import annotations

from dataclasses import dataclass

from umu_hf.trainers.base import UnlearnConfig, UnlearnTrainer
from umu_hf.trainers.losses import answer_nll


@dataclass
class GDConfig(UnlearnConfig):
    """``gamma`` weights the retain NLL."""


class GDTrainer(UnlearnTrainer):
    method = "gd"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}

    def modality_loss(self, model, inputs, modality):
        forget_nll = answer_nll(*self.stream_logits(model, inputs, "forget", modality))
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        return {
            "loss": -forget_nll + self.args.gamma * retain_nll,
            "forget_nll": forget_nll,
            "retain_nll": retain_nll,
        }
