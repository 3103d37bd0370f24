"""PDU — primal-dual unlearning (Entesari et al., 2025, "Constrained Entropic Unlearning: A Primal-Dual Framework
for Large Language Models", arXiv:2506.05314): minimise the forget loss subject to ``NLL(retain) ≤ ε``.

Per modality ``m``: ``L_m = F_m + λ_m · (NLL_m(retain) − ε)`` with the paper's logit-margin flattening forget loss
``F = mean over forget answer tokens of (max_v z_v − mean_v z_v)²`` (softmax-free; flat logits = uniform output).
Each modality has its own multiplier; after each training forward it takes a dual-ascent step
``λ_m ← max(0, λ_m + η · (NLL_m(retain) − ε))`` with the retain NLL of that step (averaged over processes, so
every process keeps the same λ; with gradient accumulation, once per micro-batch). The multipliers are trainer
state: logged as ``lambda_<modality>`` and saved with each checkpoint (``umu_trainer_state.json``), restored on
resume.
Defaults are open-unlearning's TOFU values (ε 0.3, η 5, λ0 100), without its dual warm-up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from umu_hf.errors import UmuError
from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import answer_nll, logit_margin_flattening

MODALITIES = ("mm", "um")


@dataclass
class PDUConfig(UnlearnConfig):
    """ε, η and λ0 of the constrained problem; ``gamma`` is unused (λ weights the retain term)."""

    #: --protocol original trains as the paper: labels on the answer tokens only
    paper_features = {"label_mode": "answer"}

    retain_bound: float = field(default=0.3, metadata={"help": "PDU constraint bound ε: retain NLL <= ε."})
    dual_step_size: float = field(default=5.0, metadata={"help": "PDU dual step size η of the ascent on λ."})
    initial_lambda: float = field(default=100.0, metadata={"help": "PDU initial Lagrange multiplier λ0 (>= 0)."})
    gamma: float = field(default=1.0, metadata={"help": "Unused: PDU's retain weight is the multiplier λ."})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("retain_bound", "dual_step_size", "initial_lambda"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise UmuError(f"--{name} must be a finite number >= 0, got {value}")

    def protocol_record(self) -> dict[str, Any]:
        """The base record plus ε, η and λ0."""
        return {**super().protocol_record(), "retain_bound": self.retain_bound,
                "dual_step_size": self.dual_step_size, "initial_lambda": self.initial_lambda}


class PDUTrainer(UnlearnTrainer):
    method = "pdu"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lambdas: dict[str, float] = {m: float(self.args.initial_lambda) for m in MODALITIES}

    def modality_loss(self, model, inputs, modality):
        forget = logit_margin_flattening(*self.stream_logits(model, inputs, "forget", modality))
        retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
        lam = self.lambdas[modality]
        slack = retain_nll - self.args.retain_bound
        if model.training and torch.is_grad_enabled():  # dual ascent, once per training forward
            shared = float(self.accelerator.reduce(slack.detach(), reduction="mean"))  # one λ for all processes
            self.lambdas[modality] = max(0.0, lam + self.args.dual_step_size * shared)
        return {
            "loss": forget + lam * slack,
            "forget_flat": forget,
            "retain_nll": retain_nll,
            "lambda": torch.tensor(lam),
        }

    def extra_state(self) -> dict[str, Any]:
        """The multipliers, saved with every checkpoint."""
        return {"pdu_lambdas": dict(self.lambdas)}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Resume with the checkpoint's multipliers."""
        self.lambdas.update({m: float(v) for m, v in state.get("pdu_lambdas", {}).items()})
