"""The base of the methods whose loss is a forget term alone, with an optional retain NLL (NPO, UNDIAL, CE-U):
``L = forget_loss + γ · NLL(retain)``, the retain stream collated only when ``gamma > 0`` (the default 0)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig


@dataclass
class ForgetOnlyConfig(UnlearnConfig):
    gamma: float = field(
        default=0.0, metadata={"help": "Weight of an optional retain NLL term (0: the forget term alone)."}
    )


class ForgetOnlyTrainer(UnlearnTrainer):
    """Subclasses give :meth:`forget_loss`; the retain term and the streams are this class's."""

    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}
    optional_retain = True

    def forget_loss(self, model: Any, inputs: Mapping[str, Any], modality: str) -> tuple[Any, dict[str, Any]]:
        """``(loss, logged terms)`` of the forget stream in ``modality``."""
        raise NotImplementedError

    def modality_loss(self, model, inputs, modality):
        loss, terms = self.forget_loss(model, inputs, modality)
        return self.with_retain_nll(model, inputs, modality, loss, terms)
