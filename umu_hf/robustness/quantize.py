"""Quantizing the evaluated model's weights (torchao), for the robustness block's ``quantization`` part.

Unlearning that only nudges weights a little can be undone by rounding them: quantizing an unlearned LLM to 4
bits brought most of the forgotten knowledge back in Zhang et al., "Catastrophic Failure of LLM Unlearning via
Quantization" (ICLR 2025). Weight-only quantization with torchao: 8 bits (``Int8WeightOnlyConfig``, per-channel
symmetric int8) on CPU and GPU; 4 bits (``Int4WeightOnlyConfig``, group size 32) where torchao has a kernel for the
device — on CPU, torchao 0.18 has none (its int4 layouts need CUDA or the ``mslk`` package), and the block then
says so instead of giving a number.
"""

from __future__ import annotations

import copy
from typing import Any

#: the bit widths measured, in order
BITS = (8, 4)
#: 4-bit weight groups (every linear layer of the tiny model and of LLaVA-1.5 has a multiple of 32 inputs)
INT4_GROUP_SIZE = 32


class QuantizationUnavailable(RuntimeError):
    """The device or the installed packages cannot quantize to this width; the message says why."""


def quantized_copy(model: Any, bits: int) -> Any:
    """A copy of ``model`` with the weights of its linear layers quantized to ``bits`` (the model itself is left
    as it is; the copy costs one model's memory until it is quantized)."""
    try:
        from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, quantize_
    except ImportError as exc:
        raise QuantizationUnavailable(f"torchao is not installed (pip install torchao): {exc}") from None
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits}")
    device = next(model.parameters()).device
    if bits == 4 and device.type != "cuda":
        raise QuantizationUnavailable("4-bit weights: torchao has no int4 weight-only kernel for the CPU here (its "
                                      "layouts need CUDA or the mslk package); measured on a GPU only")
    quantized = copy.deepcopy(model)
    if bits == 8:
        config = Int8WeightOnlyConfig()
    else:
        import torch

        quantized = quantized.to(torch.bfloat16)  # torchao's CUDA int4 layout takes bfloat16 activations
        config = Int4WeightOnlyConfig(group_size=INT4_GROUP_SIZE, int4_packing_format="tile_packed_to_4d")
    try:
        quantize_(quantized, config)
    except (ImportError, NotImplementedError, AssertionError, RuntimeError) as exc:
        raise QuantizationUnavailable(f"{bits}-bit weights on {device}: torchao refused: "
                                      f"{type(exc).__name__}: {exc}") from None
    return quantized
