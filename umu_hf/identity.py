"""What a run is made of, said once: how a source (a local path or a Hub id) is named, what a Hub id looks like,
and how settings are normalised and shown when a folder turns out to hold another run's output. The runner's
results folders, the trainers' output folders, the privacy reference and the bench's stage folders all use these.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
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


def normalised(identity: Any) -> Any:
    """``identity`` as it reads back from JSON (tuples become lists, paths strings), keys in their order."""
    return json.loads(json.dumps(identity, default=str))


class RecordError(ValueError):
    """A run record that exists but cannot be read as one."""


def read_record(path: Path, field: str | None = "identity") -> Any:
    """The JSON run record at ``path`` (its ``field`` entry; the whole record for None); None when there is no
    such file, :class:`RecordError` when it is not a JSON record with that entry."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return record if field is None else record[field]
    except (ValueError, KeyError, TypeError) as exc:
        raise RecordError(f"{path} is not a run record") from exc


def first_difference(stored: Mapping[str, Any], identity: Mapping[str, Any],
                     keys: Iterable[str] | None = None) -> str | None:
    """The first of ``keys`` (default: ``identity``'s, then any only ``stored`` has) whose values differ between a
    folder's recorded identity and this run's, or None when the folder belongs to this run.

    >>> first_difference({"model": "a", "lr": 1}, {"model": "a", "lr": 2}), first_difference({"x": 1}, {"x": 1})
    ('lr', None)
    """
    if keys is None:
        keys = [*identity, *(k for k in stored if k not in identity)]
    return next((key for key in keys if stored.get(key) != identity.get(key)), None)


def conflict(key: str, stored: Mapping[str, Any], identity: Mapping[str, Any]) -> str:
    """``"lr 1 there, 2 now"``: how a refusal names the first setting that differs."""
    return f"{key} {describe(stored.get(key))} there, {describe(identity.get(key))} now"


def same_settings(recorded: Any, expected: Any) -> bool:
    """Whether a cache's recorded settings are ``expected`` (compared as JSON reads them back)."""
    return recorded == normalised(expected)


def describe(value: Any) -> str:
    """A setting as an error message shows it: JSON for mappings and lists, ``repr`` otherwise."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else repr(value)
