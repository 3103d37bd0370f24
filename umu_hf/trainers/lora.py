"""LoRA as the original scripts apply it: r 64, alpha 32, dropout 0.05, gaussian init, on every linear layer whose
name ends like a language-model projection (docs/protocol.md, "Training").

:class:`LoraArguments` is the one home of the LoRA defaults: the training front end (``umu-hf unlearn`` /
``trainers/*.py``) and the bench build it, recipes list only what differs from it, and the original fine-tuning's
LoRA is an instance of it (:data:`FINETUNE_LORA`). :class:`LoraSettings` is what it
resolves to.

peft matches ``target_modules`` names as suffixes anywhere in the model, so in LLaVA the vision tower's
``q_proj``/``k_proj``/``v_proj`` get adapters too: the original can forget through the vision encoder. The special
target ``lm`` restricts the adapters to the language model's linear layers instead, ``all-linear`` puts them on
every linear layer but the output layer (the original fine-tuning script).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from umu_hf.errors import ModelError

#: the original scripts' LoRA targets (GA names them; KL, PO and NPO find exactly these in LLaVA's LM)
ORIGINAL_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: target meaning "every linear layer of the language model" (the LM head excluded)
LANGUAGE_MODEL = "lm"
#: peft's target meaning "every linear layer but the output layer" (the original fine-tuning script's choice)
ALL_LINEAR = "all-linear"
INITS = ("gaussian", "default")


@dataclass
class LoraArguments:
    """LoRA options of every training run; the defaults are the original unlearning scripts' (docs/protocol.md, Training)."""

    _argument_group_name = "LoRA"

    lora: bool = field(default=True, metadata={"help": "train a LoRA adapter (the reference is the adapter switched "
                                                       "off); --no_lora trains every weight"})
    lora_r: int = field(default=64, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout"})
    lora_target_modules: str | None = field(
        default=None,
        metadata={"help": "comma-separated layer names LoRA wraps anywhere in the model (default: the method's "
                  "original targets); 'lm' = the language model's linear layers, 'all-linear' = every one"},
    )
    lora_init: str = field(default="gaussian", metadata={"help": "LoRA A init: gaussian (original) or default"})
    merge: bool = field(default=False, metadata={"help": "LoRA: also save the adapter merged into the model "
                                                         "under output_dir/merged (what `umu-hf eval` loads)"})

    def settings(self) -> LoraSettings | None:
        """The LoRA settings, or None to train every weight."""
        if not self.lora:
            return None
        targets = parse_targets(self.lora_target_modules)
        return LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout, targets, self.lora_init)


@dataclass
class LoraSettings:
    """Resolved LoRA hyper-parameters (:meth:`LoraArguments.settings`); ``target_modules=None`` takes the method's
    default (the original's)."""

    r: int
    alpha: int
    dropout: float
    target_modules: tuple[str, ...] | None
    init: str

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise ModelError(
                f"LoRA needs r >= 1, alpha > 0 and 0 <= dropout < 1; got r={self.r}, alpha={self.alpha}, "
                f"dropout={self.dropout}"
            )
        if self.init not in INITS:
            raise ModelError(f"--lora_init must be one of {', '.join(INITS)}, got {self.init!r}")
        if isinstance(self.target_modules, str):
            self.target_modules = parse_targets(self.target_modules)

    def resolved(self, default_targets: Sequence[str]) -> LoraSettings:
        """A copy whose ``target_modules`` is set (the given default when unset)."""
        targets = tuple(self.target_modules or default_targets)
        return LoraSettings(self.r, self.alpha, self.dropout, targets, self.init)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules) if self.target_modules else None
        return data


def parse_targets(text: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """``"q_proj,v_proj"`` → ``("q_proj", "v_proj")``; empty → None (the method's default).

    >>> parse_targets("q_proj, v_proj")
    ('q_proj', 'v_proj')
    """
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    targets = tuple(t.strip() for t in items if t and t.strip())
    return targets or None


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
            "train without LoRA (--no_lora) or use a vision-language model such as LLaVA or Qwen2-VL"
        )
    return names


def apply_lora(model: Any, settings: LoraSettings) -> Any:
    """Wrap ``model`` in a peft LoRA adapter on ``settings.target_modules``; the base weights are frozen."""
    from peft import LoraConfig, get_peft_model
    from torch import nn

    targets = settings.target_modules or ORIGINAL_TARGETS
    target_modules: list[str] | str
    if tuple(targets) == (LANGUAGE_MODEL,):
        target_modules = language_model_linear_names(model)
    elif tuple(targets) == (ALL_LINEAR,):
        target_modules = ALL_LINEAR
    else:
        target_modules = list(targets)
        linear = {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, nn.Linear)}
        if not linear & set(target_modules):
            raise ModelError(
                f"{type(model).__name__} has no linear layer named {', '.join(target_modules)} for LoRA to target "
                f"(its linear layers: {', '.join(sorted(linear)[:12])}); set --lora_target_modules, or "
                f"'{LANGUAGE_MODEL}' for every language-model linear layer"
            )
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target_modules,
        init_lora_weights="gaussian" if settings.init == "gaussian" else True,
        bias="none",
    )
    with warnings.catch_warnings():
        # peft reads transformers' deprecated ``is_gradient_checkpointing`` alias: one FutureWarning per adapter,
        # about peft's code, not the user's (a default bench printed it 15 times)
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(model, config)


#: LoRA of the original fine-tuning script, where it differs from the unlearning defaults: r 8, alpha 16, merged
#: at the end (on every linear layer, vision tower and projector too:
#: :attr:`umu_hf.trainers.finetune.FinetuneTrainer.lora_target_modules`)
FINETUNE_LORA = LoraArguments(lora_r=8, lora_alpha=16, merge=True)
