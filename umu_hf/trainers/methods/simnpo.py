"""SimNPO — reference-free NPO with length-normalised log-likelihoods (Fan et al., 2024):

``L = −(2/β) · mean log σ(−β · log p̄_θ(y|x) − δ) + γ · NLL(retain)`` per modality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll, sequence_logprob, simnpo_loss


@dataclass
class SimNPOConfig(UnlearnConfig):
    #: --protocol original trains as the paper: labels on (and length-normalised over) the answer tokens only
    paper_features = {"label_mode": "answer"}

    beta: float = field(default=2.5, metadata={"help": "SimNPO inverse temperature β (> 0)."})
    delta: float = field(default=0.0, metadata={"help": "SimNPO reward margin δ."})
    gamma: float = field(default=1.0, metadata={"help": "Weight of the retain NLL term."})


class SimNPOTrainer(UnlearnTrainer):
    method = "simnpo"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}

    def modality_loss(self, model, inputs, modality):
        logits, labels = self.stream_logits(model, inputs, "forget", modality)
        forget = simnpo_loss(
            sequence_logprob(logits, labels, normalize=True), self.args.beta, self.args.delta
        )
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        return {
            "loss": forget + self.args.gamma * retain_nll,
            "forget_simnpo": forget,
            "retain_nll": retain_nll,
        }
