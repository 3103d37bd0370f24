"""Small pieces several test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

from transformers import TrainerCallback


class BlowUpAtStep(TrainerCallback):
    """Simulates an exploding step: from optimiser step ``step`` on, the learning rate is infinite, so the
    weights become non-finite."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        if state.global_step + 1 >= self.step:
            for group in optimizer.param_groups:
                group["lr"] = float("inf")
