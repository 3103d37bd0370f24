"""The Space's text safety: visitors see model names, never paths of the bench folder, and their input is
checked (names from lists, numbers, free text cut to :data:`MAX_INPUT_CHARS` characters)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.bench.manifest import ModelEntry
from umu_hf.errors import UmuError

if TYPE_CHECKING:

    pass



#: longest free-text question the Space accepts, in characters; longer input is cut to this length
MAX_INPUT_CHARS = 1000


def path_aliases(bench_dir: str | Path, models: Sequence[ModelEntry] = ()) -> dict[str, str]:
    """What :func:`hide_paths` shows instead of each path of a bench folder: the folder's own name for the
    folder (as given, absolute, resolved), the model's name for its files (``bench.json``'s relative path and
    the absolute one, model folder and ``results.json``)."""
    root = Path(bench_dir)
    aliases: dict[str, str] = {}
    for entry in models:
        for relative in (entry.path, entry.results):
            if relative:
                for base in (None, root, root.absolute(), root.resolve()):
                    aliases[str(relative if base is None else base / relative)] = entry.name
    name = root.resolve().name or "bench"
    for spelling in (root, root.absolute(), root.resolve()):
        aliases[str(spelling)] = name
    # a bare relative name ("vanilla") is a name already, and the root "/" no path to hide
    seps = {"/", os.sep}
    return {k: alias for k, alias in aliases.items() if seps & set(k) and k.strip("".join(seps))}


def hide_paths(text: str, aliases: Mapping[str, str]) -> str:
    """``text`` with each path of ``aliases`` (longest first, whole paths only) replaced by its alias.

    >>> hide_paths("cannot load /srv/b/models/ga-1: …", {"/srv/b/models/ga-1": "ga", "/srv/b": "b"})
    'cannot load ga: …'
    """
    for key in sorted(aliases, key=len, reverse=True):
        pattern = rf"(?<![\w.-]){re.escape(key)}(?![\w-])"
        text = re.sub(pattern, lambda _match, alias=aliases[key]: alias, text)
    return text


def clip_text(text: str | None, limit: int = MAX_INPUT_CHARS) -> tuple[str, bool]:
    """``(text stripped and cut to limit characters, whether it was cut)``."""
    text = (text or "").strip()
    return (text[:limit], True) if len(text) > limit else (text, False)


def check_choice(value: Any, allowed: Sequence[str], what: str) -> str:
    """``value`` when it is one of ``allowed``, else a :class:`UmuError` listing them."""
    if value not in allowed:
        raise UmuError(f"unknown {what} {value!r}; choose one of {', '.join(map(str, allowed))}")
    return value


def as_int(value: Any, what: str) -> int:
    """A dropdown value as an int (a typed custom value arrives as a string)."""
    try:
        return int(str(value).strip())
    except ValueError:
        raise UmuError(f"{what} must be a whole number, got {value!r}") from None
