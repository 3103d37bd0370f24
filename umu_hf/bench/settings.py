"""Settings of a bench run and the two default profiles: the embedded tiny run and the original LLaVA run.

The embedded profile is tuned so the whole run (synthetic data, tiny LLaVA, vanilla fine-tuning, five methods,
six evaluations) fits in 15 minutes on two CPU cores while the vanilla model demonstrably knows the profiles.
The original profile is SPEC 5's defaults for a real checkpoint on a GPU.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from umu_hf.trainers.registry import ORIGINAL_METHODS


@dataclass
class TrainSettings:
    """One training job's knobs (fine-tuning or unlearning)."""

    epochs: float
    lr: float
    batch_size: int
    lora: bool
    lora_r: int = 64
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    scheduler: str = "linear"
    warmup: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # method-specific config fields (beta, gamma, ...)


@dataclass
class BenchSettings:
    """Everything that changes a bench's numbers (hashed into each stage's folder name)."""

    methods: tuple[str, ...] = ORIGINAL_METHODS
    forget_ratio: int = 5
    model: str | None = None  # None: build the embedded tiny LLaVA
    data: str | None = None  # None: generate the synthetic dataset
    n_fictitious: int = 30
    n_real: int = 6
    data_seed: int = 0
    tiny_size: str = "small"
    seed: int = 0
    finetune: bool = True
    vanilla: TrainSettings = field(
        default_factory=lambda: TrainSettings(
            epochs=30, lr=8e-3, batch_size=16, lora=False, scheduler="cosine", warmup=0.03
        )
    )
    unlearn: TrainSettings = field(
        default_factory=lambda: TrainSettings(epochs=6, lr=2e-3, batch_size=6, lora=True, lora_r=16, lora_alpha=32)
    )
    method_extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_batch_size: int = 32
    eval_limit: int | None = None
    min_vanilla_retain_acc: float = 60.0
    device: str = "auto"


def original_profile(**overrides: Any) -> BenchSettings:
    """SPEC 5 defaults for a real checkpoint: LoRA r=64/alpha 32/dropout 0.05, lr 1e-5, 5 epochs, batch 6."""
    settings = BenchSettings(
        vanilla=TrainSettings(epochs=3, lr=2e-5, batch_size=6, lora=True),
        unlearn=TrainSettings(epochs=5, lr=1e-5, batch_size=6, lora=True),
        eval_batch_size=8,
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


def settings_hash(*parts: Any) -> str:
    """A short stable hash of JSON-able settings (names a stage's folder)."""
    blob = json.dumps(parts, sort_keys=True, default=_jsonable).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def train_fields(settings: TrainSettings) -> dict[str, Any]:
    """The ``UnlearnConfig`` fields a :class:`TrainSettings` sets."""
    return {
        "num_train_epochs": settings.epochs,
        "learning_rate": settings.lr,
        "per_device_train_batch_size": settings.batch_size,
        "lr_scheduler_type": settings.scheduler,
        "warmup_steps": settings.warmup,
        **settings.extra,
    }
