"""The training output folder: which run it belongs to, and which of its checkpoints can be resumed.

When training starts, :data:`RUN_RECORD` records the method, model, data and settings; a later run into the
same folder resumes its checkpoints only when all of them match, and is refused otherwise (``--overwrite``
discards the folder).

A checkpoint ``checkpoint-N`` is complete when its ``trainer_state.json`` (the last file the Trainer writes into
it, after the weights, optimiser, scheduler and RNG states) parses and says step ``N``, and a weights file is
there. A run killed mid-save leaves an incomplete one, which is skipped for the previous complete checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError
from umu_hf.identity import RecordError, conflict, first_difference, normalised, read_record
from umu_hf.utils import write_json

logger = logging.getLogger(__name__)

#: written next to every trained model: method, protocol features, hyper-parameters, LoRA (here, where a folder's
#: identity is checked; :mod:`umu_hf.trainers.jobs` writes it)
TRAINING_RECORD = "umu_training.json"
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


# -- which run the folder belongs to -------------------------------------------------------------------------

#: written into the output folder when training starts: the method, model, data and settings of the run
RUN_RECORD = "umu_run.json"
_HINT = "pass --overwrite to discard it, or choose another --output_dir"


def _remove_tree(path: Path) -> None:
    """Delete ``path`` by renaming it aside first, so a crash never leaves a half-deleted output folder."""
    aside = path.with_name(f".{path.name}.deleting-{os.getpid()}")
    os.replace(path, aside)
    shutil.rmtree(aside, ignore_errors=True)


def prepare_output(
    out_dir: Path,
    identity: Mapping[str, Any],
    *,
    overwrite: bool = False,
    resume: bool = True,
    main_process: bool = True,
    inputs: Iterable[tuple[str, Any]] = (),
) -> Path | None:
    """Make ``out_dir`` this run's folder; return the checkpoint to resume from (None: start afresh).

    A folder of another run (its :data:`RUN_RECORD` differs from ``identity``), or with checkpoints or a trained
    model but no record, is refused unless ``overwrite``, which deletes a folder umu-hf training wrote. Of this
    run's checkpoints the newest complete one is resumed; newer half-written ones are deleted. Only the
    ``main_process`` writes or deletes; ``inputs`` (``(label, path)``) must lie outside ``out_dir``.
    """
    from umu_hf.outputs import check_out_apart

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UmuError(f"--output_dir {out} is a file; give a folder for the checkpoints and the trained model")
    check_out_apart(out, inputs, flag="--output_dir")
    identity = normalised(identity)
    record_file = out / RUN_RECORD
    if overwrite:
        if not main_process:  # the main process checks and deletes; a refusal there stops the whole launch
            return None
        if out.is_dir() and any(out.iterdir()):
            if not (record_file.is_file() or (out / TRAINING_RECORD).is_file()):
                raise UmuError(
                    f"--output_dir {out} was not written by umu-hf training (no {RUN_RECORD}), so --overwrite will "
                    "not delete it; remove it yourself or choose another --output_dir"
                )
            _remove_tree(out)
        out.mkdir(parents=True, exist_ok=True)
        _write_record(record_file, identity)
        return None
    try:
        stored = read_record(record_file)
    except RecordError:
        raise UmuError(f"{record_file} is not a record written by umu-hf training; {_HINT}") from None
    if stored is not None:
        key = first_difference(stored, identity)  # the method first
        if key is not None:
            raise UmuError(f"--output_dir {out} holds another training run ({conflict(key, stored, identity)}), whose "
                           f"checkpoints this run must not resume; {_HINT}")
    else:
        found = [p.name for _, p in checkpoints(out)] + [n for n in (TRAINING_RECORD,) if (out / n).is_file()]
        if found:
            raise UmuError(
                f"--output_dir {out} holds {', '.join(found[:3])} but no {RUN_RECORD}, so its settings are unknown "
                f"and it may be another run's; {_HINT}"
            )
        if main_process:
            out.mkdir(parents=True, exist_ok=True)
            _write_record(record_file, identity)
    if not resume:
        return None
    last = last_complete_checkpoint(out)
    newer = [path for step, path in checkpoints(out) if last is None or step > int(last.name.split("-")[1])]
    for path in newer:  # half-written by a killed run; the Trainer will write them again
        logger.warning("%s was not finished (the run was interrupted while saving it); deleting it", path)
        if main_process:
            shutil.rmtree(path, ignore_errors=True)
    if last is not None:
        logger.info("resuming from %s", last)
    return last


def _write_record(path: Path, identity: Mapping[str, Any]) -> None:
    from umu_hf import __version__

    write_json(path, {"umu_hf_version": __version__, "identity": normalised(identity)})
