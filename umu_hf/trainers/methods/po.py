"""PO — preference for refusal: ``L = NLL(forget question → refusal) + γ · NLL(retain)`` per modality.

As in the original, each forget example gets a refusal drawn at random (per example and per modality, seeded)
from a pool: by default the ~100 refusals shipped with umu-hf (``umu_hf/resources/refusals.txt``), or any
one-per-line file given with ``--refusals``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll


@dataclass
class POConfig(UnlearnConfig):
    """``gamma`` weights the retain NLL."""

    refusals: str | None = field(
        default=None, metadata={"help": "File of refusals, one per line (default: the pool shipped with umu-hf)."}
    )


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
