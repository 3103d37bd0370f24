"""Output folders that ``--overwrite`` may replace: only ones umu-hf wrote, never an input or a folder around one.

Every folder umu-hf writes whole (``data synth``, ``data convert``, ``model tiny``) carries a small marker file,
:data:`MARKER`. ``--overwrite`` deletes an existing folder only when it holds the marker (or is empty), and an
output that is, contains or lies inside an input folder is refused outright.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from umu_hf.errors import UmuError

#: written into every folder umu-hf creates; its presence lets ``--overwrite`` delete the folder
MARKER = ".umu-hf-output"


def write_marker(folder: str | os.PathLike, command: str) -> None:
    """Mark ``folder`` as written by umu-hf (``command`` says by what, for a curious reader)."""
    from umu_hf import __version__

    text = json.dumps({"written_by": "umu-hf", "command": command, "umu_hf_version": __version__}) + "\n"
    Path(folder, MARKER).write_text(text, encoding="utf-8")


def is_umu_output(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` carries the umu-hf marker."""
    return Path(folder, MARKER).is_file()


def _resolved(path: str | os.PathLike) -> Path:
    return Path(path).expanduser().resolve()


def check_out_apart(
    out: str | os.PathLike, inputs: Iterable[tuple[str, str | os.PathLike | None]], flag: str = "--out"
) -> None:
    """Refuse an output folder (the command's ``flag``) that is, contains or lies inside one of the local
    ``inputs`` (``(label, path)``).

    Inputs that are not local folders or files (a Hub id, ``None``) are skipped.
    """
    target = _resolved(out)
    for label, source in inputs:
        if source is None or not Path(source).expanduser().exists():
            continue
        src = _resolved(source)
        if target == src:
            relation = "is"
        elif src.is_relative_to(target):
            relation = "contains"
        elif target.is_relative_to(src):
            relation = "lies inside"
        else:
            continue
        raise UmuError(f"{flag} {out} {relation} the {label} {source}; choose an output folder apart from it")


def check_replaceable(out: str | os.PathLike, overwrite: bool) -> None:
    """Refuse to replace an existing ``out`` unless ``overwrite`` and it is an (empty or) umu-hf folder."""
    path = Path(out)
    if not path.exists() and not path.is_symlink():
        return
    if not overwrite:
        raise UmuError(f"{out} already exists; pass --overwrite (overwrite=True) or choose another output folder")
    if path.is_symlink() or not path.is_dir():
        raise UmuError(f"--out {out} is not a folder; --overwrite replaces only folders umu-hf wrote")
    if any(path.iterdir()) and not is_umu_output(path):
        raise UmuError(
            f"--out {out} was not written by umu-hf (no {MARKER} in it), so --overwrite will not delete it; "
            "remove it yourself or choose another output folder"
        )
