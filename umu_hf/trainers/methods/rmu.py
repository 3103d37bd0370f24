"""RMU — representation misdirection for unlearning (Li et al., 2024, "The WMDP Benchmark: Measuring and Reducing
Malicious Use With Unlearning", arXiv:2403.03218):

``L = ‖h_θ(forget) − c·u‖² + γ · ‖h_θ(retain) − h_ref(retain)‖²`` per modality,

where ``h`` is the output of decoder layer ``layer_id`` of the language model, ``u`` a fixed random unit vector
(entries uniform in [0, 1), then normalised, as in the paper) and ``h_ref`` the same network with the LoRA adapter
switched off. Both distances are the mean squared error over every non-padding token of the input (the paper
steers all tokens of the forget text, not only the answer; here the image positions of a multimodal input count
too) and over the hidden units, whatever ``label_mode`` says: RMU reads no labels, so it declares no
``paper_features``. One vector ``u`` serves both modalities.

Names: the paper's retain weight α is ``gamma`` here (as in every method, the weight of the retain term); ``alpha``
stays the weight of the unimodal term. The paper's Zephyr-7B values are the defaults: ``steering_coeff`` c = 6.5,
``gamma`` = 1200, layer 7 of 32 (``layer_id`` defaults to the same relative depth, 7/32); c depends on the size of
the model's activations at that layer and needs tuning per model. The paper updates only the MLPs of layers 5–7
(lr 5e-5, batch 4, 150 steps); here the method's LoRA adapter is trained with the shared optimiser defaults, and
adapters above ``layer_id`` receive no gradient.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from umu_hf.errors import UmuError
from umu_hf.trainers.base import UnlearnTrainer
from umu_hf.trainers.configs import UnlearnConfig
from umu_hf.trainers.losses import representation_mse


def default_layer_id(depth: int) -> int:
    """The paper's layer at the same relative depth: 7 of 32 decoder layers (0 of 2)."""
    return (7 * depth) // 32


def steering_vector(hidden_size: int, coeff: float, seed: int) -> torch.Tensor:
    """``c · u``: u has entries uniform in [0, 1) from ``seed``, normalised to unit length (float32, CPU)."""
    generator = torch.Generator().manual_seed(seed)
    u = torch.rand(hidden_size, generator=generator)
    return coeff * u / u.norm()


def decoder_layers(model: Any) -> nn.ModuleList:
    """The decoder layers of the language model (``…language_model.layers``; the vision tower's are skipped)."""
    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.ModuleList) and name.endswith("layers")]
    found = [m for name, m in lists if name.endswith("language_model.layers")]
    found = found or [m for name, m in lists if "vision" not in name]
    if not found:
        raise UmuError(f"rmu: {type(model).__name__} has no '…language_model.layers' module to steer")
    return found[0]


@contextlib.contextmanager
def capture_output(module: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Collect the hidden states ``module`` outputs while the context is open (a forward hook)."""
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: Any, output: Any) -> None:
        captured.append(output[0] if isinstance(output, tuple) else output)

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


@dataclass
class RMUConfig(UnlearnConfig):
    """``gamma`` weights the retain term (the paper's α); ``alpha`` weights the unimodal term."""

    layer_id: int | None = field(
        default=None,
        metadata={"help": "Decoder layer of the language model whose output is steered (default: 7/32 of the "
                  "depth, the paper's layer 7 of a 32-layer 7B)."},
    )
    steering_coeff: float = field(default=6.5, metadata={"help": "Norm c of the steering target c·u (> 0)."})
    steering_seed: int | None = field(
        default=None, metadata={"help": "Seed of the random direction u (default: the training seed)."}
    )
    gamma: float = field(default=1200.0, metadata={"help": "Weight of the retain term (the paper's alpha)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.steering_coeff) and self.steering_coeff > 0):
            raise UmuError(f"--steering_coeff must be > 0 for RMU, got {self.steering_coeff}")
        if self.layer_id is not None and self.layer_id < 0:
            raise UmuError(f"--layer_id must be >= 0, got {self.layer_id}")

    def protocol_record(self) -> dict[str, Any]:
        return {**super().protocol_record(), "layer_id": self.layer_id, "steering_coeff": self.steering_coeff,
                "steering_seed": self.seed if self.steering_seed is None else self.steering_seed}


class RMUTrainer(UnlearnTrainer):
    method = "rmu"
    streams = {"forget": ("forget", "answer"), "retain": ("retain", "answer")}
    optional_retain = True
    needs_reference = True
    _target: torch.Tensor | None = None

    def steered_layer(self, network: Any) -> nn.Module:
        """Decoder layer ``layer_id`` of ``network`` (the model, or the reference when it is a separate copy)."""
        layers = decoder_layers(network)
        layer_id = default_layer_id(len(layers)) if self.args.layer_id is None else self.args.layer_id
        if layer_id >= len(layers):
            raise UmuError(f"rmu: --layer_id {layer_id} but the language model has {len(layers)} layers")
        return layers[layer_id]

    def activations(self, network: Any, inputs, stream: str, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The steered layer's output on one stream and the stream's attention mask."""
        sub, _ = self.stream_inputs(inputs, stream, modality)
        with capture_output(self.steered_layer(network)) as captured:
            network(**sub)
        return captured[-1], sub["attention_mask"]

    def target(self, hidden: torch.Tensor) -> torch.Tensor:
        """The fixed steering target c·u, drawn once."""
        if self._target is None:
            seed = self.args.seed if self.args.steering_seed is None else self.args.steering_seed
            self._target = steering_vector(hidden.size(-1), self.args.steering_coeff, seed)
        return self._target.to(hidden.device)

    def modality_loss(self, model, inputs, modality):
        hidden, mask = self.activations(model, inputs, "forget", modality)
        forget = representation_mse(hidden, self.target(hidden), mask)
        terms = {"forget_rmu": forget}
        loss = forget
        if self.args.gamma > 0:
            hidden, mask = self.activations(model, inputs, "retain", modality)
            with torch.no_grad(), self.reference(model) as ref:
                ref_hidden, _ = self.activations(ref, inputs, "retain", modality)
            retain = representation_mse(hidden, ref_hidden, mask)
            loss = loss + self.args.gamma * retain
            terms["retain_mse"] = retain
        return {"loss": loss, **terms}
