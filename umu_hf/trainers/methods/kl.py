"""KL — ascent on the forget NLL, kept close to the reference on retain: ``L = −γ · NLL(forget) + R`` per modality.

``R`` is, under the original protocol (``kl_term="cross_entropy"``), the original script's term: the cross-entropy
``mean over all positions of −Σ_v p_θ(v) · log p_ref(v)`` of the retain batch; with ``kl_term="kl"``,
KL(p_ref ‖ p_θ) on the retain label tokens. The original optimiser is the legacy transformers AdamW (weight decay
0, eps 1e-6), 4 epochs, gradient clipping 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll, cross_entropy_to_reference, kl_on_tokens


@dataclass
class KLConfig(UnlearnConfig):
    """``gamma`` weights the forget ascent term; the retain term has weight 1."""

    gamma: float = field(
        default=1.0, metadata={"help": "Weight of the forget NLL ascent term (the retain term has weight 1)."}
    )

    kl_term: str | None = field(
        default=None,
        metadata={"help": "'cross_entropy' (original: p_theta against p_ref over all positions) or 'kl' "
                  "(KL(p_ref || p_theta) on the retain label tokens)."},
    )
    num_train_epochs: float = field(default=4.0, metadata={"help": "Total number of training epochs."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    adam_epsilon: float = field(default=1e-6, metadata={"help": "AdamW epsilon."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping of the step (0 = none)."})


class KLTrainer(UnlearnTrainer):
    method = "kl"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}
    needs_reference = True

    def modality_loss(self, model, inputs, modality):
        forget_nll = answer_nll(*self.stream_logits(model, inputs, "forget", modality))
        logits, labels = self.stream_logits(model, inputs, "retain", modality)
        ref_logits = self.reference_logits(model, inputs, "retain", modality)
        if self.args.kl_term == "cross_entropy":
            retain = cross_entropy_to_reference(logits, ref_logits)
            name = "retain_ce"
        else:
            retain = kl_on_tokens(ref_logits, logits, labels)
            name = "retain_kl"
        return {"loss": -self.args.gamma * forget_nll + retain, "forget_nll": forget_nll, name: retain}
