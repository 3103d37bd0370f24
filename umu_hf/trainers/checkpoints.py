"""The Trainer's checkpoints in a training output folder: which ones are complete and can be resumed.

A checkpoint ``checkpoint-N`` is complete when its ``trainer_state.json`` (the last file the Trainer writes into
it, after the weights, optimiser, scheduler and RNG states) parses and says step ``N``, and a weights file is
there. A run killed mid-save leaves an incomplete one, which is skipped for the previous complete checkpoint.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHTS = (
    "adapter_model.safetensors",
    "adapter_model.bin",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    """Every ``checkpoint-N`` folder of ``out_dir`` as ``(N, path)``, oldest step first."""
    if not Path(out_dir).is_dir():
        return []
    found = []
    for path in Path(out_dir).iterdir():
        match = _CHECKPOINT.match(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return sorted(found)


def is_complete(checkpoint: Path, step: int | None = None) -> bool:
    """Whether the Trainer finished writing ``checkpoint`` (its state parses, names ``step``, has weights)."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(state, dict) or (step is not None and state.get("global_step") != step):
        return False
    return any((checkpoint / name).is_file() for name in _WEIGHTS)


def last_complete_checkpoint(out_dir: Path) -> Path | None:
    """The newest complete checkpoint of ``out_dir`` (None when there is none)."""
    for step, path in reversed(checkpoints(out_dir)):
        if is_complete(path, step):
            return path
    return None
