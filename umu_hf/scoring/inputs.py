"""Input checks, shared by the library functions and the ``evaluate`` module: each error names the argument
and the index."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from umu_hf.errors import UmuError
from umu_hf.scoring.rules import N_OPTIONS, check_option_matching, cloze_needle


def _as_list(values: Any, argument: str) -> list:
    """``values`` as a list; a string, mapping or non-sequence is refused (a classic mistake: one string)."""
    if values is None:
        raise UmuError(f"{argument} is missing: pass one entry per question")
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        raise UmuError(f"{argument} must be a list with one entry per question, got {type(values).__name__}")
    return list(values)


def _check_same_length(lists: dict[str, list]) -> int:
    """All lists have the first one's length; else name the shorter/longer argument and the unpaired index."""
    (first_name, first), *rest = lists.items()
    for name, values in rest:
        if len(values) != len(first):
            index = min(len(values), len(first))
            raise UmuError(
                f"{name} has {len(values)} entries but {first_name} has {len(first)}: index {index} has no "
                f"partner; pass one entry per question in each list, paired by position"
            )
    return len(first)


def _check_strings(values: list, argument: str, what: str) -> None:
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise UmuError(f"{argument}[{i}] must be a string ({what}), got {type(value).__name__} {value!r}")


def check_confidence_level(confidence_level: Any) -> float | None:
    """``None`` or a float strictly between 0 and 1; anything else raises :class:`UmuError`."""
    if confidence_level is None:
        return None
    if isinstance(confidence_level, bool) or not isinstance(confidence_level, (int, float, np.floating)):
        raise UmuError(
            f"confidence_level must be a number between 0 and 1 (e.g. 0.95), got {confidence_level!r}"
        )
    if not 0.0 < float(confidence_level) < 1.0:
        raise UmuError(
            f"confidence_level must be strictly between 0 and 1 (e.g. 0.95), got {confidence_level!r}"
        )
    return float(confidence_level)


def check_text_inputs(
    task: str,
    unimodal_predictions: Any,
    multimodal_predictions: Any,
    references: Any,
    options: Any = None,
    option_matching: Any = "exact",
    confidence_level: Any = None,
) -> int:
    """Validate the inputs of a ``*_scores`` call (or of the evaluate module) and return the number of questions.

    Raises :class:`UmuError` (a ``ValueError``) naming the argument and the index: unequal lengths, a
    non-string entry, options missing or not 4 strings (classification), a reference that is not one of its
    options, options given for cloze/generation, an unknown ``option_matching``, a bad ``confidence_level``.
    """
    predictions = {"unimodal_predictions": unimodal_predictions, "multimodal_predictions": multimodal_predictions}
    return check_replies(task, predictions, references, options, option_matching, confidence_level)


def check_replies(
    task: str,
    predictions: Mapping[str, Any],
    references: Any,
    options: Any = None,
    option_matching: Any = "exact",
    confidence_level: Any = None,
) -> int:
    """:func:`check_text_inputs` for any lists of replies to the same questions, each named by its argument
    (``{"predictions": [...]}`` for one list): the number of questions, or one :class:`UmuError` naming the
    argument and the index.

    >>> check_replies("cloze", {"predictions": ["Lyon", "no idea"]}, ["Lyon.", "Nurse"])
    2
    >>> check_replies("cloze", {"predictions": ["Lyon", 7]}, ["Lyon.", "Nurse"])
    Traceback (most recent call last):
    ...
    umu_hf.errors.UmuError: predictions[1] must be a string (the model's reply), got int 7
    """
    lists = {name: _as_list(values, name) for name, values in predictions.items()}
    lists["references"] = _as_list(references, "references")
    if task == "classification":
        if options is None:
            raise UmuError(
                "options is required for classification: one list of the 4 option texts (A-D) per question"
            )
        lists["options"] = _as_list(options, "options")
        check_option_matching(option_matching)
    elif task in ("cloze", "generation"):
        if options is not None:
            raise UmuError(f"options is only for classification; the {task} metrics take no options")
    else:
        raise UmuError(f"unknown task {task!r}; expected classification, cloze or generation")
    check_confidence_level(confidence_level)
    n = _check_same_length(lists)
    for name in predictions:
        _check_strings(lists[name], name, "the model's reply")
    _check_strings(lists["references"], "references", "the correct answer text")
    if task == "classification":
        for i, (item_options, reference) in enumerate(
            zip(lists["options"], lists["references"], strict=True)
        ):
            item_options = _as_list(item_options, f"options[{i}]")
            if len(item_options) != N_OPTIONS:
                raise UmuError(
                    f"options[{i}] must hold the {N_OPTIONS} option texts (A-D), got {len(item_options)}"
                )
            _check_strings(item_options, f"options[{i}]", "an option text")
            if reference.strip() not in (option.strip() for option in item_options):
                raise UmuError(
                    f"references[{i}] {reference!r} is not one of options[{i}] {item_options}: pass the correct "
                    f"option's text (not its letter or 'B. text')"
                )
    elif task == "cloze":
        for i, reference in enumerate(lists["references"]):
            if not cloze_needle(reference).strip():
                warnings.warn(
                    f"references[{i}] {reference!r} has nothing before its first '.', so every reply counts as "
                    f"correct under the cloze rule",
                    UserWarning,
                    stacklevel=3,
                )
    return n


def _check_flags(values: Any, argument: str) -> np.ndarray:
    values = _as_list(values, argument)
    for i, value in enumerate(values):
        if not (
            isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1))
        ):
            raise UmuError(f"{argument}[{i}] must be True/False (or 1/0), got {value!r}")
    return np.asarray(values, dtype=bool)


def _check_unit_scores(values: Any, argument: str) -> np.ndarray:
    values = _as_list(values, argument)
    for i, value in enumerate(values):
        if not isinstance(value, (int, float, np.integer, np.floating)) or not 0.0 <= float(value) <= 1.0:
            raise UmuError(f"{argument}[{i}] must be a ROUGE-L F1 score in [0, 1], got {value!r}")
    return np.asarray(values, dtype=float)
