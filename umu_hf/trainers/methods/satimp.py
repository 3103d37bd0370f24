"""SatImp — saturation and importance reweighting of gradient ascent (Yang et al., 2025, "Exploring Criteria of
Loss Reweighting to Enhance LLM Unlearning", ICML 2025), as open-unlearning's SatImp:

``L = −w · mean_t sg(p_t)^β1 · sg(1 − p_t)^β2 · (−log p_t) + γ · NLL(retain)`` per modality, ``p_t = p_θ(y_t)``,
the mean over the forget batch's scored tokens. ``p^β1`` (saturation) spares tokens already unlearned;
``(1 − p)^β2`` (importance) spares tokens the model is sure of.

Defaults are open-unlearning's ``configs/trainer/SatImp.yaml``: β1 5, β2 1, forget weight w 0.1, retain weight
γ 1. Names: open-unlearning computes ``gamma · forget + alpha · retain``, so its ``gamma`` (0.1) is
``forget_weight`` here and its ``alpha`` (1.0) is ``gamma`` here (as in every method, the retain weight); umu-hf's
``alpha`` stays the weight of the unimodal term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from umu_hf.errors import UmuError
from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll, satimp_nll


@dataclass
class SatImpConfig(UnlearnConfig):
    """``beta1``/``beta2`` are the exponents (open-unlearning: 5 and 1); ``forget_weight`` weights the forget term
    (open-unlearning's ``gamma``: 0.1) and ``gamma`` the retain NLL (open-unlearning's ``alpha``: 1)."""

    #: --protocol original trains as the paper (and open-unlearning): labels on the answer tokens only
    paper_features = {"label_mode": "answer"}

    beta1: float = field(default=5.0, metadata={"help": "Saturation exponent β1 (>= 0): weight p^β1."})
    beta2: float = field(default=1.0, metadata={"help": "Importance exponent β2 (>= 0): weight (1 - p)^β2."})
    forget_weight: float = field(
        default=0.1,
        metadata={"help": "Weight of the forget (ascent) term (>= 0; open-unlearning's SatImp gamma, 0.1)."},
    )
    gamma: float = field(
        default=1.0, metadata={"help": "Weight of the retain NLL term (open-unlearning's SatImp alpha, 1.0)."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("beta1", "beta2", "forget_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise UmuError(f"--{name} must be a finite number >= 0 for SatImp, got {value}")

    def protocol_record(self) -> dict[str, Any]:
        return {**super().protocol_record(), "beta1": self.beta1, "beta2": self.beta2,
                "forget_weight": self.forget_weight}


class SatImpTrainer(UnlearnTrainer):
    method = "satimp"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}

    def modality_loss(self, model, inputs, modality):
        logits, labels = self.stream_logits(model, inputs, "forget", modality)
        forget = satimp_nll(logits, labels, self.args.beta1, self.args.beta2)
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        loss = -self.args.forget_weight * forget + self.args.gamma * retain_nll
        return {"loss": loss, "forget_wnll": forget, "retain_nll": retain_nll}
