"""What every UMU-Bench trainer shares: the config fields, the forget/retain streams, the reference model, term
logging and the divergence guard. A method only says which streams it needs and its per-modality loss.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from umu_hf.data.collate import LABEL_MODES, UMUCollator
from umu_hf.errors import UmuError


class TrainingDivergedError(UmuError):
    """The loss became non-finite; training stopped before the bad step touched the weights."""


@dataclass
class UnlearnConfig(TrainingArguments):
    """Training arguments shared by every UMU-Bench method; defaults are the original scripts' (SPEC 5)."""

    alpha: float = field(default=1.0, metadata={"help": "Weight of the unimodal (text-only) term."})
    gamma: float = field(default=1.0, metadata={"help": "Weight of the retain term (methods that use it)."})
    label_mode: str = field(
        default="answer",
        metadata={"help": "'answer': score the answer tokens only; 'full': the original's whole-sequence labels."},
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "The initial learning rate for AdamW."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Total number of training epochs."})
    per_device_train_batch_size: int = field(default=6, metadata={"help": "Batch size per device."})
    logging_steps: float = field(default=1, metadata={"help": "Log every X update steps."})
    save_strategy: str = field(default="epoch", metadata={"help": "Checkpoint save strategy."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep at most this many checkpoints."})
    remove_unused_columns: bool = field(default=False, metadata={"help": "Must stay False: batches are custom."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.label_mode not in LABEL_MODES:
            raise UmuError(f"--label_mode must be one of {', '.join(LABEL_MODES)}, got {self.label_mode!r}")
        for name in ("alpha", "gamma"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise UmuError(f"--{name} must be a finite number >= 0, got {value}")
        beta = getattr(self, "beta", None)  # NPO, SimNPO, IDK-DPO
        if beta is not None and not (math.isfinite(beta) and beta > 0):
            raise UmuError(f"--beta must be > 0 for {type(self).__name__.removesuffix('Config')}, got {beta}")
        if self.remove_unused_columns:
            raise UmuError("--remove_unused_columns must be False for UMU-Bench trainers (batches are custom dicts)")


class DivergenceGuard(TrainerCallback):
    """Stop as soon as a step leaves non-finite trainable weights, before that state is checkpointed.

    Gradient ascent diverges by nature; without this a NaN model would be saved over the last good one.
    """

    def __init__(self) -> None:
        self.diverged_at: int | None = None

    def on_step_end(self, args, state, control, model=None, **kwargs):
        params = [p for p in model.parameters() if p.requires_grad] if model is not None else []
        if params and not all(torch.isfinite(p).all() for p in params):
            self.diverged_at = state.global_step
            control.should_training_stop = True
            control.should_save = False
            control.should_log = False
        return control


def last_checkpoint_note(output_dir: str) -> str:
    """``"; the last good checkpoint is …"`` (or that there is none) for divergence messages."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(output_dir) if output_dir and Path(output_dir).is_dir() else None
    return f"; the last good checkpoint is {last}" if last else "; no checkpoint was saved before that step"


def is_peft_model(model: Any) -> bool:
    """True for a peft model with an adapter that can be switched off."""
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


class UnlearnTrainer(Trainer):
    """Base of every method: sums ``modality_loss`` over (multimodal, weight 1) and (unimodal, weight alpha).

    Subclasses set ``streams`` (which batches the collator builds), ``needs_reference`` and implement
    :meth:`modality_loss`. The reference p_ref is the same network with the LoRA adapter switched off, or an
    explicit frozen ``ref_model`` when the model has no adapter.
    """

    method: ClassVar[str] = "base"
    streams: ClassVar[Mapping[str, tuple[str, str]]] = {"forget": ("forget", "answer")}
    needs_reference: ClassVar[bool] = False

    def __init__(
        self,
        model: Any,
        args: UnlearnConfig,
        train_dataset: Any,
        adapter: Any,
        ref_model: Any | None = None,
        data_collator: Any | None = None,
        refusals: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if data_collator is None:
            data_collator = UMUCollator(
                adapter, train_dataset.images, self.streams, label_mode=args.label_mode, refusals=refusals
            )
        if self.needs_reference and ref_model is None and not is_peft_model(model):
            raise UmuError(
                f"method '{self.method}' needs the model before unlearning as a reference: train with LoRA "
                "(the reference is the adapter switched off) or pass ref_model=<a frozen copy>"
            )
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            data_collator=data_collator,
            processing_class=adapter.processor,
            **kwargs,
        )
        self.adapter = adapter
        self.loss_is_scaled_for_ga = False  # our loss is a per-batch mean
        self.ref_model = None
        if ref_model is not None:
            ref_model.eval().requires_grad_(False)
            self.ref_model = ref_model.to(self.args.device)
        self._terms: dict[str, list[float]] = defaultdict(list)
        self.divergence_guard = DivergenceGuard()
        self.add_callback(self.divergence_guard)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``, raising :class:`TrainingDivergedError` when a step left non-finite weights."""
        output = super().train(*args, **kwargs)
        if self.divergence_guard.diverged_at is not None:
            raise TrainingDivergedError(
                f"{self.method}: step {self.divergence_guard.diverged_at} left non-finite weights; training "
                f"stopped without saving them{last_checkpoint_note(self.args.output_dir)}. Lower --learning_rate "
                "or keep --max_grad_norm"
            )
        return output

    # ---- pieces methods use -------------------------------------------------------------------------------
    @staticmethod
    def stream_inputs(inputs: Mapping[str, Any], stream: str, modality: str) -> tuple[dict[str, Any], torch.Tensor]:
        """The model inputs and labels of one ``{stream}_{modality}_`` batch."""
        prefix = f"{stream}_{modality}_"
        sub = {k[len(prefix) :]: v for k, v in inputs.items() if k.startswith(prefix)}
        if "labels" not in sub:
            raise KeyError(f"batch has no '{prefix}labels'; the collator streams are {list(inputs)[:6]}...")
        labels = sub.pop("labels")
        return sub, labels

    def stream_logits(self, model: Any, inputs: Mapping[str, Any], stream: str, modality: str):
        """Forward one stream; returns ``(logits, labels)``."""
        sub, labels = self.stream_inputs(inputs, stream, modality)
        return model(**sub).logits, labels

    @contextlib.contextmanager
    def reference(self, model: Any) -> Iterator[Any]:
        """The reference network p_ref: the frozen ``ref_model`` or the same weights with the adapter off."""
        if self.ref_model is not None:
            yield self.ref_model
            return
        unwrapped = self.accelerator.unwrap_model(model)  # DDP hides disable_adapter
        with unwrapped.disable_adapter():
            yield unwrapped

    @torch.no_grad()
    def reference_logits(self, model: Any, inputs: Mapping[str, Any], stream: str, modality: str) -> torch.Tensor:
        """Logits of p_ref on one stream (no gradient)."""
        sub, _ = self.stream_inputs(inputs, stream, modality)
        with self.reference(model) as ref:
            return ref(**sub).logits

    # ---- the loss ------------------------------------------------------------------------------------------
    def modality_loss(self, model: Any, inputs: Mapping[str, Any], modality: str) -> dict[str, torch.Tensor]:
        """``{"loss": ..., <term>: ...}`` for one modality (``"mm"`` or ``"um"``); terms are logged."""
        raise NotImplementedError

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """``L = L_mm + alpha · L_um``; every term is logged per modality; a non-finite loss stops training."""
        total = None
        for modality, weight in (("mm", 1.0), ("um", self.args.alpha)):
            terms = self.modality_loss(model, inputs, modality)
            for name, value in terms.items():
                self._terms[f"{name}_{modality}"].append(float(value.detach()))
            total = weight * terms["loss"] if total is None else total + weight * terms["loss"]
        if not torch.isfinite(total):
            raise TrainingDivergedError(
                f"{self.method}: the loss became {float(total)} at step {self.state.global_step + 1}; training "
                f"stopped before that step changed the weights{last_checkpoint_note(self.args.output_dir)}. Lower "
                "--learning_rate, fewer epochs, or keep --max_grad_norm"
            )
        return (total, None) if return_outputs else total

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the mean of each loss term since the last log (training logs only)."""
        if "loss" in logs and self._terms:
            logs = {**logs, **{k: sum(v) / len(v) for k, v in self._terms.items()}}
            self._terms.clear()
        super().log(logs, start_time)
