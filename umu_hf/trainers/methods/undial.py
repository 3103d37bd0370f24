"""UNDIAL — self-distillation with adjusted logits (Dong et al., 2024, "UNDIAL: Self-Distillation with Adjusted
Logits for Robust Unlearning in Large Language Models", arXiv:2402.10052):

``L = −Σ_v q(v) · log p_θ(v)`` with ``q = softmax(z_ref − β · onehot(y))``, averaged over the forget label tokens
``y``, per modality; ``z_ref`` are the logits of the reference (the adapter switched off), so the target is fixed.

The paper distils on the forget set only and has no retain term: ``gamma`` defaults to 0 (``gamma > 0`` adds
``γ · NLL(retain)``, as open-unlearning's variant). The paper tunes Llama-2-7B through LoRA r 8 / alpha 16 at lr 1e-4
and reports β in {3, 10, 30}; the default β is 10. Here the shared LoRA and optimiser defaults apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.forget_only import ForgetOnlyConfig, ForgetOnlyTrainer
from umu_hf.trainers.losses import undial_loss


@dataclass
class UNDIALConfig(ForgetOnlyConfig):
    #: --protocol original trains as the paper: distillation on the answer tokens only
    paper_features = {"label_mode": "answer"}

    beta: float = field(default=10.0, metadata={"help": "How much the label's reference logit is lowered (> 0)."})


class UNDIALTrainer(ForgetOnlyTrainer):
    method = "undial"
    needs_reference = True

    def forget_loss(self, model, inputs, modality):
        logits, labels = self.stream_logits(model, inputs, "forget", modality)
        ref_logits = self.reference_logits(model, inputs, "forget", modality)
        loss = undial_loss(logits, ref_logits, labels, self.args.beta)
        return loss, {"forget_undial": loss}
