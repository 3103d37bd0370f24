"""PO — preference for refusal: ``L = NLL(forget question → refusal) + γ · NLL(retain)`` per modality.

The refusals ship with the package (``umu_hf/resources/refusals.txt``).
"""

from __future__ import annotations

from dataclasses import dataclass

from umu_hf.trainers.base import UnlearnConfig, UnlearnTrainer
from umu_hf.trainers.losses import answer_nll


@dataclass
class POConfig(UnlearnConfig):
    """``gamma`` weights the retain NLL."""


class POTrainer(UnlearnTrainer):
    method = "po"
    streams = {"forget": ("forget", "refusal"), "retain": ("retain", "answer")}

    def modality_loss(self, model, inputs, modality):
        refusal_nll = answer_nll(*self.stream_logits(model, inputs, "forget", modality))
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        return {
            "loss": refusal_nll + self.args.gamma * retain_nll,
            "refusal_nll": refusal_nll,
            "retain_nll": retain_nll,
        }
