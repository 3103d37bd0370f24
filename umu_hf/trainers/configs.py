"""The Configs every UMU-Bench trainer shares: :class:`UMUConfig` (``TrainingArguments`` plus the protocol's
fields and the training record) and :class:`UnlearnConfig` (the options any unlearning method can switch on)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from transformers import TrainingArguments

from umu_hf.errors import UmuError
from umu_hf.trainers.protocol import (
    DEFAULT_PROTOCOL,
    FEATURES,
    PAPER_PROTOCOL,
    protocol_name,
    resolve_features,
)
from umu_hf.utils import accelerator_available, check_dtype


@dataclass
class UMUConfig(TrainingArguments):
    """Training arguments of fine-tuning and every unlearning method; the defaults are the original scripts'.

    ``protocol`` picks the features (labels, EOS, data streams, …; :mod:`umu_hf.trainers.protocol`); under
    ``original`` a method's :attr:`paper_features` replace the preset's, and a feature set explicitly wins over
    both. After construction every feature field holds its resolved value. Hyper-parameters (learning rate,
    epochs, clipping, AdamW settings) are the method's, not the protocol's: each method's Config sets the original
    values as its defaults.
    """

    #: the features in which a method beyond the original benchmark's five follows its paper under ``--protocol
    #: original`` (e.g. ``{"label_mode": "answer"}``); empty for the five, whose ``original`` is the scripts'
    paper_features: ClassVar[Mapping[str, Any]] = {}

    protocol: str = field(
        default=DEFAULT_PROTOCOL,
        metadata={"help": "'original' (default: GA, GD, KL, PO, NPO as the benchmark's scripts, every other method "
                  "as its paper, e.g. answer-only labels) or 'umu-hf' (answer-only labels, EOS, paired streams, "
                  "per-sequence NPO, true KL); single features can be set on their own."},
    )
    label_mode: str | None = field(
        default=None,
        metadata={"help": "'full': labels on every non-pad token (original scripts); 'answer': the answer tokens "
                  "only (umu-hf, and the papers of the methods beyond the original five)."},
    )
    eos: bool | None = field(
        default=None, metadata={"help": "Append the end-of-sequence token to the training text (original: no)."}
    )
    streams: str | None = field(
        default=None,
        metadata={"help": "'independent': multimodal and unimodal pairs shuffled on their own (original); "
                  "'paired': a profile's i-th MM_QA pair with its i-th UM_QA pair."},
    )
    alpha: float = field(default=1.0, metadata={"help": "Weight of the unimodal (text-only) term."})
    gamma: float = field(default=1.0, metadata={"help": "Weight of the retain NLL term."})
    multimodal_max_grad_norm: float = field(
        default=0.0,
        metadata={"help": "Clip the multimodal gradient alone to this norm before the unimodal backward "
                  "(the original NPO); 0 = off. max_grad_norm clips the summed gradient."},
    )
    model_dtype: str = field(
        default="auto",
        metadata={"help": "dtype of the base weights: float32, float16, bfloat16, or auto (the original's "
                  "float16 on CUDA under a LoRA adapter; float32 on CPU and for full-weight training)."},
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "The initial learning rate for AdamW."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Total number of training epochs."})
    per_device_train_batch_size: int = field(default=6, metadata={"help": "Batch size per device."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (torch's default, 0.01)."})
    max_grad_norm: float = field(default=0.0, metadata={"help": "Gradient clipping of the step (0 = none)."})
    logging_steps: float = field(default=1, metadata={"help": "Log every X update steps."})
    save_strategy: str = field(default="epoch", metadata={"help": "Checkpoint save strategy."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False: batches are custom."})

    def __post_init__(self) -> None:
        super().__post_init__()
        explicit = {name: getattr(self, name) for name in FEATURES if hasattr(self, name)}
        for name, value in resolve_features(self.protocol, explicit, self.paper_features).items():
            if name in explicit:
                setattr(self, name, value)
        for name in ("alpha", "gamma", "multimodal_max_grad_norm"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise UmuError(f"--{name} must be a finite number >= 0, got {value}")
        beta = getattr(self, "beta", None)  # NPO, SimNPO, IDK-DPO
        if beta is not None and not (math.isfinite(beta) and beta > 0):
            raise UmuError(f"--beta must be > 0 for {type(self).__name__.removesuffix('Config')}, got {beta}")
        check_dtype(self.model_dtype, "--model_dtype")
        if self.multimodal_max_grad_norm > 0 and self.gradient_accumulation_steps != 1:
            raise UmuError("--multimodal_max_grad_norm needs --gradient_accumulation_steps 1 (it clips inside a step)")
        if self.remove_unused_columns:
            raise UmuError("--remove_unused_columns must be False for UMU-Bench trainers (batches are custom dicts)")
        if self.dataloader_pin_memory and not accelerator_available():
            # nothing to pin for: torch's DataLoader would only warn, once per epoch (a default bench: 159 times)
            self.dataloader_pin_memory = False

    def features(self) -> dict[str, Any]:
        """The resolved protocol features of this config (only those the method has)."""
        return {name: getattr(self, name) for name in FEATURES if hasattr(self, name)}

    def protocol_record(self) -> dict[str, Any]:
        """What a reader of the results needs to know about how the model was trained. Under ``original`` a
        method with paper features also records them (``paper_features``): which of its features are its paper's
        rather than the original scripts'."""
        features = self.features()
        protocol = protocol_name(features, self.paper_features)
        paper = dict(self.paper_features) if protocol == PAPER_PROTOCOL else {}
        return {
            "protocol": protocol,
            **({"paper_features": paper} if paper else {}),
            "features": features,
            "learning_rate": self.learning_rate,
            "num_train_epochs": self.num_train_epochs,
            "max_steps": self.max_steps,
            "per_device_train_batch_size": self.per_device_train_batch_size,
            "lr_scheduler_type": str(getattr(self.lr_scheduler_type, "value", self.lr_scheduler_type)),
            "warmup_steps": self.warmup_steps,
            "optimizer": str(getattr(self.optim, "value", self.optim)),
            "weight_decay": self.weight_decay,
            "adam_epsilon": self.adam_epsilon,
            "max_grad_norm": self.max_grad_norm,
            "multimodal_max_grad_norm": self.multimodal_max_grad_norm,
            "alpha": self.alpha,
            "gamma": self.gamma,
            **({"beta": self.beta} if hasattr(self, "beta") else {}),
            "model_dtype": self.model_dtype,
            "seed": self.seed,
        }


#: ``--modality_weighting`` values: fixed (1, alpha), the default, or weights from the forget-answer NLL of each modality
MODALITY_WEIGHTINGS = ("fixed", "adaptive")


@dataclass
class UnlearnConfig(UMUConfig):
    """The base of every unlearning method's Config, with the options any method can switch on (docs/protocol.md,
    "umu-hf options"); their defaults change nothing."""

    modality_weighting: str = field(
        default="fixed",
        metadata={"help": "'fixed': L_mm + alpha*L_um (default); 'adaptive': (1+alpha)*(w_mm*L_mm + w_um*L_um) with "
                  "w = softmax(-forget-answer NLL) over the modalities, so the one that still remembers more gets "
                  "more of the push (one extra no-grad forward per modality)."},
    )
    lora_l1: float = field(
        default=0.0, metadata={"help": "Add lora_l1 * sum|theta| over the trainable LoRA parameters (0 = off)."}
    )
    eval_every: str = field(
        default="",
        metadata={"help": "Probe forget and retain accuracy of classification and cloze in both modalities (the "
                  "evaluation's prompts and rules on short greedy replies) at step 0, every N steps ('N') or "
                  "epoch ('epoch'), and at the end, into umu_trajectory.json; empty or 'off': none. Changes no "
                  "weight."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        from umu_hf.trainers.trajectory import parse_eval_every

        parse_eval_every(self.eval_every)
        if self.modality_weighting not in MODALITY_WEIGHTINGS:
            raise UmuError(f"--modality_weighting must be one of {', '.join(MODALITY_WEIGHTINGS)}, got "
                           f"{self.modality_weighting!r}")
        if not math.isfinite(self.lora_l1) or self.lora_l1 < 0:
            raise UmuError(f"--lora_l1 must be a finite number >= 0, got {self.lora_l1}")

    def protocol_record(self) -> dict[str, Any]:
        """The base record plus the options every unlearning run has."""
        return {**super().protocol_record(), "modality_weighting": self.modality_weighting, "lora_l1": self.lora_l1}
