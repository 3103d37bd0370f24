"""IDK-DPO — DPO that prefers a refusal over the true forget answer, plus ``γ · NLL(retain)``, as TOFU and
open-unlearning (``DPO``, ``compute_dpo_loss``):

``L = −(2/β) · mean log σ(β · ((log p_θ(idk) − log p_ref(idk)) − (log p_θ(y) − log p_ref(y)))) + γ · NLL(retain)``

per modality, the log-probabilities summed over each sequence's scored tokens (the answer's, under the original
protocol). The factor 2/β (NPO's) makes the forget term ``(2/β) ln 2`` ≈ 13.9 at the start with β = 0.1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll, dpo_loss, sequence_logprob


@dataclass
class IdkDPOConfig(UnlearnConfig):
    #: --protocol original trains as TOFU and open-unlearning: labels on the answer and refusal tokens only
    paper_features = {"label_mode": "answer"}

    beta: float = field(default=0.1, metadata={"help": "DPO inverse temperature β (> 0)."})
    refusals: str | None = field(
        default=None, metadata={"help": "File of refusals, one per line (default: the pool shipped with umu-hf)."}
    )


class IdkDPOTrainer(UnlearnTrainer):
    method = "idk_dpo"
    streams = {
        "forget": ("forget", "answer"),
        "forget_idk": ("forget", "refusal"),
        "retain": ("retain", "answer"),
    }
    needs_reference = True

    def modality_loss(self, model, inputs, modality):
        logp = {}
        for stream in ("forget_idk", "forget"):
            logits, labels = self.stream_logits(model, inputs, stream, modality)
            logp[stream] = sequence_logprob(logits, labels)
            ref = sequence_logprob(self.reference_logits(model, inputs, stream, modality), labels)
            logp[f"ref_{stream}"] = ref
        dpo = dpo_loss(
            logp["forget_idk"], logp["forget"], logp["ref_forget_idk"], logp["ref_forget"], self.args.beta
        )
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        return {"loss": dpo + self.args.gamma * retain_nll, "forget_dpo": dpo, "retain_nll": retain_nll}
