"""WGA — weighted gradient ascent (Wang et al., 2025, "Rethinking LLM Unlearning Objectives: A Gradient Perspective
and Go Beyond", ICLR 2025), as open-unlearning's WGA:

``L = −mean_t sg(p_θ(y_t))^β · (−log p_θ(y_t)) + γ · NLL(retain)`` per modality, the mean over the forget batch's
scored tokens. Tokens the model already gives little probability get little ascent, which damps GA's blow-up.
β = 0 would be GD itself, so ``beta`` must be > 0 here. The retain term and γ = 1 are GD's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll, wga_nll


@dataclass
class WGAConfig(UnlearnConfig):
    """``beta`` is the weight exponent; ``gamma`` weights the retain NLL (open-unlearning: β 1, γ 1)."""

    #: --protocol original trains as the paper (and open-unlearning): labels on the answer tokens only
    paper_features = {"label_mode": "answer"}

    beta: float = field(default=1.0, metadata={"help": "WGA weight exponent β (> 0): forget tokens weigh p^β."})


class WGATrainer(UnlearnTrainer):
    method = "wga"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}

    def modality_loss(self, model, inputs, modality):
        forget = wga_nll(*self.stream_logits(model, inputs, "forget", modality), self.args.beta)
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        return {"loss": -forget + self.args.gamma * retain_nll, "forget_wnll": forget, "retain_nll": retain_nll}
