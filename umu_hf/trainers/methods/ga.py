"""GA — gradient ascent on the forget answers: ``L = −NLL(forget)`` per modality."""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll


@dataclass
class GAConfig(UnlearnConfig):
    """GA has no method-specific arguments."""

    gamma: float = field(default=1.0, metadata={"help": "Unused: GA has no retain term."})


class GATrainer(UnlearnTrainer):
    method = "ga"
    streams = {"forget": ("forget", "answer")}

    def modality_loss(self, model, inputs, modality):
        forget_nll = answer_nll(*self.stream_logits(model, inputs, "forget", modality))
        return {"loss": -forget_nll, "forget_nll": forget_nll}
