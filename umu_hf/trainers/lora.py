"""LoRA on the language model of a vision-language model (SPEC 5: all linear layers of the LM)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from umu_hf.errors import ModelError


@dataclass
class LoraSettings:
    """The original scripts' LoRA: r=64, alpha=32, dropout=0.05 on every linear layer of the language model."""

    r: int = 64
    alpha: int = 32
    dropout: float = 0.05


def language_model_linear_names(model: Any) -> list[str]:
    """Qualified names of the ``nn.Linear`` layers inside the language model (the LM head excluded)."""
    from torch import nn

    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and ".language_model." in f".{name}." and "lm_head" not in name
    ]
    if not names:
        raise ModelError(
            f"{type(model).__name__} has no linear layers under a 'language_model' module for LoRA to target; "
            "train without LoRA (--no-lora) or use a vision-language model such as LLaVA or Qwen2-VL"
        )
    return names


def apply_lora(model: Any, settings: LoraSettings) -> Any:
    """Wrap ``model`` in a peft LoRA adapter; the base weights are frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=language_model_linear_names(model),
        bias="none",
    )
    return get_peft_model(model, config)
