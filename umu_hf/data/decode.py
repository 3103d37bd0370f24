"""Portraits of a split, decoded once: the one place a split's ``image`` column becomes RGB images.

:class:`Portraits` decodes lazily by row (the evaluation, the truth ratios: a question asks for its profile's
row); :func:`decode_images` decodes eagerly by profile ID (training: every step draws from the same people).
"""

from __future__ import annotations

from typing import Any

from umu_hf.errors import DataError


def _rgb(image: Any, where: str) -> Any:
    if image is None:
        raise DataError(f"{where}: field 'image' is empty; every profile needs its portrait")
    return image.convert("RGB")


class Portraits:
    """``portraits(row)``: the split's portrait at ``row`` in RGB, decoded the first time it is asked for."""

    def __init__(self, split: Any) -> None:
        self._column = split.select_columns(["image"])
        self._cache: dict[int, Any] = {}

    def __call__(self, row: int) -> Any:
        if row not in self._cache:
            self._cache[row] = _rgb(self._column[row]["image"], f"row {row}")
        return self._cache[row]


def decode_images(split: Any, ids: set[int] | None = None) -> dict[int, Any]:
    """``{ID: RGB PIL image}`` of a split (only the profiles in ``ids`` when given), each decoded exactly once."""
    if ids is not None:
        split = split.select([i for i, pid in enumerate(split["ID"]) if int(pid) in ids])
    return {int(row["ID"]): _rgb(row["image"], f"profile ID {row['ID']}") for row in split}
