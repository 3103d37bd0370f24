"""NPO — negative preference optimisation on the forget answers.

Under the original protocol (``npo_logratio="batch"``) the log-ratio is taken from the batch-mean token losses,
one per batch: ``L = (2/β) · −log σ(β · (NLL_θ − NLL_ref))``. With ``npo_logratio="sequence"`` it is the usual
per-sequence ``(2/β) · mean −log σ(−β · (log p_θ(y|x) − log p_ref(y|x)))``. The original uses the forget set
only (``gamma = 0``; ``gamma > 0`` adds a retain NLL), lr 6.2e-6, 4 epochs, and clips the multimodal gradient
alone to norm 1 before the unimodal term is back-propagated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.forget_only import ForgetOnlyConfig, ForgetOnlyTrainer
from umu_hf.trainers.losses import answer_nll, npo_batch_loss, npo_loss, sequence_logprob


@dataclass
class NPOConfig(ForgetOnlyConfig):
    beta: float = field(default=0.4, metadata={"help": "NPO inverse temperature β (> 0)."})
    npo_logratio: str | None = field(
        default=None,
        metadata={"help": "'batch' (original: from the batch-mean token loss) or 'sequence' (one per sequence)."},
    )
    learning_rate: float = field(default=6.2e-6, metadata={"help": "The initial learning rate for AdamW."})
    num_train_epochs: float = field(default=4.0, metadata={"help": "Total number of training epochs."})
    multimodal_max_grad_norm: float = field(
        default=1.0, metadata={"help": "Clip the multimodal gradient alone to this norm (original NPO); 0 = off."}
    )


class NPOTrainer(ForgetOnlyTrainer):
    method = "npo"
    needs_reference = True

    def forget_loss(self, model, inputs, modality):
        logits, labels = self.stream_logits(model, inputs, "forget", modality)
        ref_logits = self.reference_logits(model, inputs, "forget", modality)
        if self.args.npo_logratio == "batch":
            nll, ref_nll = answer_nll(logits, labels), answer_nll(ref_logits, labels)
            loss = npo_batch_loss(nll, ref_nll, self.args.beta)
            terms = {"forget_npo": loss, "forget_logratio": ref_nll - nll}
        else:
            logp, ref_logp = sequence_logprob(logits, labels), sequence_logprob(ref_logits, labels)
            loss = npo_loss(logp, ref_logp, self.args.beta)
            terms = {"forget_npo": loss, "forget_logratio": (logp - ref_logp).mean()}
        return loss, terms
