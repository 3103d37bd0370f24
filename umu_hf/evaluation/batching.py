"""How many questions one ``generate`` call asks: the evaluation's batch size, ``"auto"`` resolved by the model's
size. Below the runner and the privacy attacks, which both size their batches with it."""

from __future__ import annotations

from typing import Any

from umu_hf.errors import UmuError

#: ``batch_size="auto"``: questions per ``generate`` call for a model of fewer than ``AUTO_SMALL_PARAMETERS``
#: parameters (the embedded tiny LLaVA: its time goes to the per-call overhead of ``generate``, and 64 prompts
#: need little memory) ...
AUTO_BATCH_SMALL = 64
AUTO_SMALL_PARAMETERS = 100_000_000
#: ... and for anything larger (the original default: sensible for a 7B model on one GPU)
AUTO_BATCH_DEFAULT = 8


def check_positive(value: Any, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UmuError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_batch_size(batch_size: Any) -> int | str:
    """``"auto"`` or a positive integer."""
    if batch_size == "auto":
        return batch_size
    return check_positive(batch_size, "batch_size (a positive integer or 'auto')")


def resolve_batch_size(batch_size: int | str, model: Any) -> int:
    """The questions per ``generate`` call: ``batch_size`` itself, or for ``"auto"``
    :data:`AUTO_BATCH_SMALL` for a model of fewer than :data:`AUTO_SMALL_PARAMETERS` parameters, else
    :data:`AUTO_BATCH_DEFAULT`. Batching never changes a reply (greedy decoding, left padding)."""
    if check_batch_size(batch_size) != "auto":
        return int(batch_size)
    parameters = sum(p.numel() for p in model.parameters())
    return AUTO_BATCH_SMALL if parameters < AUTO_SMALL_PARAMETERS else AUTO_BATCH_DEFAULT
