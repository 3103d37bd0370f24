"""KL — ``L = −γ · NLL(forget) + KL(p_ref ‖ p_θ)`` on the retain answer tokens, per modality."""

from __future__ import annotations

from dataclasses import dataclass

from umu_hf.trainers.base import UnlearnConfig, UnlearnTrainer
from umu_hf.trainers.losses import answer_nll, kl_on_tokens


@dataclass
class KLConfig(UnlearnConfig):
    """``gamma`` weights the forget ascent term (SPEC 5); the KL term has weight 1."""


class KLTrainer(UnlearnTrainer):
    method = "kl"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}
    needs_reference = True

    def modality_loss(self, model, inputs, modality):
        forget_nll = answer_nll(*self.stream_logits(model, inputs, "forget", modality))
        logits, labels = self.stream_logits(model, inputs, "retain", modality)
        ref_logits = self.reference_logits(model, inputs, "retain", modality)
        kl = kl_on_tokens(ref_logits, logits, labels)
        return {"loss": -self.args.gamma * forget_nll + kl, "forget_nll": forget_nll, "retain_kl": kl}
