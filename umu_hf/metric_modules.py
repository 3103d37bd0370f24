"""What the ``evaluate`` modules of ``metrics/`` share beyond the math: argument checks and the clean-up of a failed
``_compute``.

Each module overrides only what ``evaluate``'s own modules override (``_info`` and ``_compute``), so every check
of an argument runs inside ``_compute``. ``evaluate.EvaluationModule.compute`` (checked in evaluate 0.4.6) first
writes the inputs to an Arrow cache file under a file lock, then calls ``_compute``, and deletes the file and
releases the lock only when ``_compute`` returns: an error raised inside ``_compute`` would leave the file on disk
and the lock held as long as the module object lives, so each later ``compute`` of it would wait a second for the
lock before picking another file. :func:`released_on_error` does the clean-up evaluate skips.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Iterator
from typing import Any

from umu_hf.errors import UmuError


@contextlib.contextmanager
def released_on_error(module: Any) -> Iterator[None]:
    """Wrap the body of an evaluate module's ``_compute``: if it raises, delete this computation's cache files and
    release their locks, as evaluate's ``compute`` does after a ``_compute`` that returns, then re-raise."""
    try:
        yield
    except BaseException:
        _drop_cache_files(module)
        raise


def _drop_cache_files(module: Any) -> None:
    """The end of ``evaluate.EvaluationModule.compute``, for a ``_compute`` that raised."""
    if getattr(module, "buf_writer", None) is not None:  # keep_in_memory: nothing on disk
        module.buf_writer = None
        module.data = None
        return
    paths = getattr(module, "file_paths", None) or []
    locks = getattr(module, "filelocks", None) or []
    module.data = None  # the inputs' table is memory-mapped from the files removed below
    for lock, path in reversed(list(zip(locks, paths, strict=False))):
        if lock is None or not lock.is_locked:  # a previous compute's, already released and its file removed
            continue
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        lock.release()
    module.file_paths = None
    module.filelocks = None


def number_list(values: Any, name: str, what: str) -> list[float]:
    """``values``, an argument of an evaluate module's ``compute``, as a list of floats; ``None``, a string or a
    non-list, or an entry that is not a real number or is NaN, raises :class:`UmuError` naming ``name`` (and the
    index) and saying what it should hold (``what``).

    >>> number_list([1, 0.5], "retain_truth_ratios", "one truth ratio per item")
    [1.0, 0.5]
    >>> number_list("0.5", "retain_truth_ratios", "one truth ratio per item")
    Traceback (most recent call last):
    ...
    umu_hf.errors.UmuError: retain_truth_ratios must be a list of numbers (one truth ratio per item), got str
    """
    if values is None:
        raise UmuError(f"{name} is missing: pass compute({name}=[...]), {what}")
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise UmuError(f"{name} must be a list of numbers ({what}), got {type(values).__name__}")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
            raise UmuError(f"{name}[{i}] must be a number ({what}), got {value!r}")
        out.append(float(value))
    return out


def check_unit_interval(value: Any, name: str, what: str) -> float | None:
    """``None``, or ``value`` as a float in [0, 1); anything else raises :class:`UmuError` naming ``name``.

    >>> check_unit_interval(0.5, "retain_auc", "the retain model's AUC")
    0.5
    >>> check_unit_interval(1.5, "retain_auc", "the retain model's AUC")
    Traceback (most recent call last):
    ...
    umu_hf.errors.UmuError: retain_auc must be a number in [0, 1), got 1.5: the retain model's AUC
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
        raise UmuError(f"{name} must be a number in [0, 1), got {value!r}: {what}")
    return float(value)


def numbers_from_text(text: str | None, name: str) -> list[float]:
    """The numbers typed into a metric Space's text box: a JSON list or numbers separated by commas, semicolons or
    whitespace (brackets are ignored); a word that is not a number raises :class:`UmuError` naming ``name`` and the word.

    >>> numbers_from_text("-0.1, -0.3 -2", "member_scores"), numbers_from_text("[0.5, 1e-3]", "x")
    ([-0.1, -0.3, -2.0], [0.5, 0.001])
    >>> numbers_from_text("0.1, abc", "member_scores")
    Traceback (most recent call last):
    ...
    umu_hf.errors.UmuError: member_scores: 'abc' is not a number; type numbers separated by commas
    """
    words = (text or "").translate(str.maketrans("[],;", "    ")).split()
    out = []
    for word in words:
        try:
            out.append(float(word))
        except ValueError:
            raise UmuError(f"{name}: {word!r} is not a number; type numbers separated by commas") from None
    return out


def refuse_unknown(unknown: dict[str, Any], module: str, arguments: tuple[str, ...]) -> None:
    """Refuse the arguments an evaluate module's ``_compute`` collected in ``**unknown`` (a misspelt keyword
    reaches ``_compute``, after evaluate wrote its cache file): one :class:`UmuError` naming the first and listing
    the module's ``arguments``.

    >>> refuse_unknown({}, "umu_privacy", ("member_scores", "nonmember_scores"))
    >>> refuse_unknown({"labels": [1]}, "umu_privacy", ("member_scores", "nonmember_scores"))
    Traceback (most recent call last):
    ...
    umu_hf.errors.UmuError: umu_privacy takes no argument 'labels'; its arguments are member_scores, nonmember_scores
    """
    if unknown:
        name = next(iter(unknown))
        raise UmuError(f"{module} takes no argument {name!r}; its arguments are {', '.join(arguments)}")
