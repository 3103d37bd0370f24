"""CE-U — cross-entropy unlearning (Yang, 2025, "CE-U: Cross Entropy Unlearning", arXiv:2503.01224):

``L = mean_t −Σ_v q_t(v) · log p_θ(v | x, y_<t) [+ γ · NLL(retain)]`` per modality, over the forget batch's scored
tokens, with ``q_t = softmax(sg(z_t))`` after the label's logit ``z_t[y_t]`` is set to −inf: the model's own
distribution over the other tokens. Its logit gradient ``p_θ − q_t`` pushes mass off the label and stays bounded,
unlike gradient ascent. The paper uses the forget set only (``gamma = 0``, the default); it also skips the first
answer token, which is not done here (every scored token counts, as in the other methods).
"""

from __future__ import annotations

from dataclasses import dataclass

from umu_hf.trainers.forget_only import ForgetOnlyConfig, ForgetOnlyTrainer
from umu_hf.trainers.losses import ce_u_loss


@dataclass
class CEUConfig(ForgetOnlyConfig):
    #: --protocol original trains as the paper: labels on the answer tokens only
    paper_features = {"label_mode": "answer"}


class CEUTrainer(ForgetOnlyTrainer):
    method = "ce_u"

    def forget_loss(self, model, inputs, modality):
        loss = ce_u_loss(*self.stream_logits(model, inputs, "forget", modality))
        return loss, {"forget_ce_u": loss}
