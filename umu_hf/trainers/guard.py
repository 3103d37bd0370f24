"""The divergence guard: gradient ascent diverges by nature, so training stops at the first step that leaves
non-finite weights, before that state is checkpointed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from umu_hf.errors import UmuError


class TrainingDivergedError(UmuError):
    """The loss became non-finite; training stopped before the bad step touched the weights."""


def non_finite_weights(model: Any) -> bool:
    """True when any trainable parameter of ``model`` holds NaN or inf."""
    params = [p for p in model.parameters() if p.requires_grad] if model is not None else []
    return any(not bool(torch.isfinite(p).all()) for p in params)


class DivergenceGuard(TrainerCallback):
    """Stop as soon as a step leaves non-finite trainable weights, before that state is checkpointed.

    Gradient ascent diverges by nature; without this a NaN model would be saved over the last good one. The
    flags stop the step-end and epoch-end saves; :meth:`UMUTrainer._save_checkpoint` refuses any other.
    """

    def __init__(self) -> None:
        self.diverged_at: int | None = None

    def _stop(self, control: Any) -> Any:
        control.should_training_stop = True
        control.should_save = False
        control.should_log = False
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if self.diverged_at is None and non_finite_weights(model):
            self.diverged_at = state.global_step
        return self._stop(control) if self.diverged_at is not None else control

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        # runs after the Trainer's own flow callback, which asks for a save at every epoch end
        return self._stop(control) if self.diverged_at is not None else control


def last_checkpoint_note(output_dir: str) -> str:
    """``"; the last good checkpoint is …"`` (or that there is none) for divergence messages."""
    from umu_hf.trainers.checkpoints import last_complete_checkpoint

    last = last_complete_checkpoint(Path(output_dir)) if output_dir else None
    return f"; the last good checkpoint is {last}" if last else "; no checkpoint was saved before that step"
