"""What a run is made of, said once: how a source (a local path or a Hub id) is named, what a Hub id looks like,
and how settings are normalised and shown when a folder turns out to hold another run's output. The runner's
results folders, the trainers' output folders, the privacy reference and the bench's stage folders all use these.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: one part of a Hub repo id: starts with a letter or digit, then letters, digits, ``_``, ``.``, ``-``
_PART = r"[A-Za-z0-9][\w.-]*"
_NAMESPACED = re.compile(rf"{_PART}/{_PART}")
_MAYBE_NAMESPACED = re.compile(rf"{_PART}(/{_PART})?")


def is_hub_id(text: str, namespaced: bool = True) -> bool:
    """Whether ``text`` reads as a Hub repo id: ``owner/name`` (``namespaced=False``: a bare ``name`` too, as some
    model ids are); never with ``..`` in it.

    >>> is_hub_id("llava-hf/llava-1.5-7b-hf"), is_hub_id("gpt2"), is_hub_id("gpt2", namespaced=False)
    (True, False, True)
    >>> is_hub_id("../x/y"), is_hub_id("a/../b"), is_hub_id("org/name/extra")
    (False, False, False)
    """
    pattern = _NAMESPACED if namespaced else _MAYBE_NAMESPACED
    return bool(pattern.fullmatch(str(text))) and ".." not in str(text)


def source_id(source: str | os.PathLike) -> str:
    """A local path as its absolute form (so ``./m`` and ``/abs/m`` are one model); a Hub id as given."""
    path = Path(str(source)).expanduser()
    return str(path.resolve()) if path.exists() else str(source)


def normalised(identity: Mapping[str, Any]) -> dict[str, Any]:
    """``identity`` as it reads back from JSON (tuples become lists, paths strings), keys in their order."""
    return json.loads(json.dumps(identity, default=str))


def describe(value: Any) -> str:
    """A setting as an error message shows it: JSON for mappings and lists, ``repr`` otherwise."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else repr(value)
