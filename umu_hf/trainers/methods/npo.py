"""NPO — negative preference optimisation on the forget answers (per-sequence log-likelihoods):

``L = (2/β) · mean −log σ(−β · (log p_θ(y|x) − log p_ref(y|x)))``; with ``gamma > 0`` a retain NLL is added
(the original uses forget only, ``gamma = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnConfig, UnlearnTrainer
from umu_hf.trainers.losses import answer_nll, npo_loss, sequence_logprob


@dataclass
class NPOConfig(UnlearnConfig):
    beta: float = field(default=0.4, metadata={"help": "NPO inverse temperature β (> 0)."})
    gamma: float = field(
        default=0.0, metadata={"help": "Weight of an optional retain NLL term (0: forget only)."}
    )


class NPOTrainer(UnlearnTrainer):
    method = "npo"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}
    needs_reference = True

    def modality_loss(self, model, inputs, modality):
        logits, labels = self.stream_logits(model, inputs, "forget", modality)
        logp = sequence_logprob(logits, labels)
        ref_logp = sequence_logprob(self.reference_logits(model, inputs, "forget", modality), labels)
        loss = npo_loss(logp, ref_logp, self.args.beta)
        terms = {"forget_npo": loss, "forget_logratio": (logp - ref_logp).mean()}
        if self.args.gamma > 0:
            retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
            loss = loss + self.args.gamma * retain_nll
            terms["retain_nll"] = retain_nll
        return {"loss": loss, **terms}
