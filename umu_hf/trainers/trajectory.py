"""Trajectories: the accuracy probe (:mod:`umu_hf.evaluation.probe`) run every few steps of an unlearning run
(``--eval_every N`` steps, or ``epoch``), written to ``<output_dir>/umu_trajectory.json``.

The file holds one point per probe, ``{"step", "epoch", "values": {"set/task/modality": accuracy %}}``, from step 0
(the model before unlearning) to the last step; it is rewritten atomically after every point, so a killed run
keeps what it measured, and a resumed run keeps the points up to the checkpoint it resumes from and goes on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from umu_hf.errors import UmuError
from umu_hf.utils import write_json

logger = logging.getLogger(__name__)

#: the trajectory file in a training output folder
TRAJECTORY_FILE = "umu_trajectory.json"


def parse_eval_every(value: str | int | None) -> int | str | None:
    """``--eval_every``: None, "" or ``"off"`` (off), a positive number of steps, or ``"epoch"``.

    >>> parse_eval_every("5"), parse_eval_every("epoch"), parse_eval_every(""), parse_eval_every("off")
    (5, 'epoch', None, None)
    """
    if value is None or value == 0 or str(value).strip().lower() in ("", "off"):
        return None
    if str(value).strip().lower() == "epoch":
        return "epoch"
    try:
        steps = int(str(value))
    except ValueError:
        steps = 0
    if steps < 1:
        raise UmuError(f"--eval_every must be a positive number of steps or 'epoch', got {value!r}")
    return steps


class TrajectoryCallback(TrainerCallback):
    """Probe the model at step 0, every ``every`` steps (or at each epoch end) and at the last step."""

    def __init__(self, probe: Callable[[Any], dict[str, float]], every: int | str, output_dir: str | Path,
                 scoring: str, main_process: bool = True) -> None:
        self.probe = probe
        self.every = every
        self.path = Path(output_dir) / TRAJECTORY_FILE
        self.scoring = scoring
        self.main_process = main_process
        self.points: list[dict[str, Any]] = []

    def _measure(self, state: Any, model: Any) -> None:
        if any(p["step"] == state.global_step for p in self.points):
            return
        values = self.probe(model)
        self.points.append({"step": int(state.global_step), "epoch": round(float(state.epoch or 0.0), 4),
                            "values": {k: round(v, 4) for k, v in values.items()}})
        if self.main_process:
            write_json(self.path, {"scoring": self.scoring, "every": self.every, "points": self.points})

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        """Keep the points of a resumed run up to its checkpoint, then measure the starting point."""
        self.points = []
        if self.path.is_file() and state.global_step > 0:
            try:
                saved = json.loads(self.path.read_text(encoding="utf-8"))
                self.points = [p for p in saved.get("points", []) if p["step"] <= state.global_step]
            except (ValueError, KeyError, TypeError):
                logger.warning("%s is unreadable; the trajectory starts again at step %d", self.path,
                               state.global_step)
        self._measure(state, model)
        return control

    def on_step_end(self, args, state, control, model=None, **kwargs):
        last = state.max_steps and state.global_step >= state.max_steps
        if last or (isinstance(self.every, int) and state.global_step % self.every == 0):
            self._measure(state, model)
        return control

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if self.every == "epoch":
            self._measure(state, model)
        return control


def read_trajectory(folder: str | Path) -> dict[str, Any] | None:
    """The trajectory a training run wrote into ``folder`` (or its parent, for a ``merged/`` folder), or None."""
    for candidate in (Path(folder), Path(folder).parent):
        path = candidate / TRAJECTORY_FILE
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return None
