"""The robustness block's arithmetic on scored replies, written once: :mod:`umu_hf.robustness.block` (``umu-hf eval
--robustness``) and the ``robustness_*`` configs of the evaluate module ``metrics/umu_bench`` both reduce replies to
numbers here.

Each reply is scored by the evaluation's rule (:func:`umu_hf.scoring.reply_score`) and read as one value per
question (:func:`question_value`: 1 or 0 for classification and cloze, ROUGE-L F1 for generation); a group of
replies gives a score in percent (:func:`percent`), and a variant's group is compared with the replies to the same
questions asked plainly (:func:`difference`, :func:`change_cell`): ``change`` = variant − plain, in points. The
block's ``paraphrase`` cells are :func:`change_cell`; its ``image`` ``change`` and ``quantization`` ``recovery`` are
:func:`difference` of two :func:`percent`.

:func:`variant_scores` does it from predictions alone, for the evaluate module: one reply per row, with its
modality and the variant it was asked under (``"plain"``, ``"paraphrase"``, a transform name, ``"int8"``, ...).

>>> result = variant_scores(
...     "cloze",
...     predictions=["Lyon", "no idea", "in Lyon", "a teacher"],
...     references=["Lyon.", "Teacher", "Lyon.", "Teacher"],
...     modalities=["multimodal"] * 4,
...     variants=["plain", "plain", "blur", "blur"],
... )
>>> result["plain"], result["blur"]
({'multimodal': {'score': 50.0, 'n': 2}}, {'multimodal': {'score': 100.0, 'plain': 50.0, 'n': 2, 'change': 50.0}})
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from umu_hf.data.schema import MODALITIES
from umu_hf.errors import UmuError

#: the variant name of the replies every other variant is compared with (the block's ``none`` portrait, the
#: dataset's own wording, the unquantized weights)
PLAIN = "plain"


def question_value(task: str, scored: Mapping[str, Any]) -> float:
    """One question's value from its scored reply (:func:`umu_hf.scoring.reply_score`, a prediction record): the
    ROUGE-L F1 for generation, else 1.0 or 0.0 for right or wrong."""
    return float(scored["score"]) if task == "generation" else float(scored["correct"])


def percent(values: Sequence[Any]) -> float | None:
    """The mean of per-question values in percent; None for none.

    >>> percent([1.0, 0.0, 1.0, 1.0]), percent([])
    (75.0, None)
    """
    return 100.0 * sum(float(v) for v in values) / len(values) if values else None


def difference(value: float | None, base: float | None) -> float | None:
    """``value − base`` in points; None when either is missing."""
    return None if value is None or base is None else value - base


def change_cell(values: Sequence[float], plain: Sequence[float]) -> dict[str, Any]:
    """A variant's questions against the same questions asked plainly: ``score`` (% of ``values``), ``plain``
    (% of ``plain``), ``n`` (how many values) and ``change`` = score − plain (points).

    >>> change_cell([1.0, 1.0, 0.0, 1.0], [1.0, 0.0])
    {'score': 75.0, 'plain': 50.0, 'n': 4, 'change': 25.0}
    """
    score, base = percent(values), percent(plain)
    return {"score": score, "plain": base, "n": len(values), "change": difference(score, base)}


def variant_scores(
    task: str,
    predictions: Any,
    references: Any,
    modalities: Any,
    variants: Any,
    options: Any = None,
    option_matching: str = "exact",
) -> dict[str, dict[str, dict[str, Any]]]:
    """The robustness numbers of replies to ``task``'s questions: per variant and modality, ``{"score", "plain",
    "n", "change"}`` (:func:`change_cell`) against the replies whose variant is :data:`PLAIN`, which get ``{"score",
    "n"}``. ``"plain"`` comes first, then the variants in the order they first appear; within each, the modalities
    present, unimodal first.

    ``predictions[i]`` is a reply to the question whose answer is ``references[i]`` (classification: the correct
    option's text, with ``options[i]`` its 4 option texts and ``option_matching`` the rule), asked in
    ``modalities[i]`` (``"unimodal"`` or ``"multimodal"``) under ``variants[i]``. Every modality a variant has needs
    plain replies: the change is measured against them. Bad input raises one :class:`UmuError` naming the argument
    (and the index); no replies at all warn and give ``{}``.
    """
    from umu_hf.scoring import EmptyInputWarning, check_replies, reply_score

    n = check_replies(task, {"predictions": predictions}, references, options, option_matching)
    modalities = _labels(modalities, "modalities", n, "the modality each reply was asked in: 'unimodal' or "
                                                      "'multimodal'", MODALITIES)
    variants = _labels(variants, "variants", n, f"the variant each reply was asked under: {PLAIN!r} for the "
                                                "question as the evaluation asks it, else e.g. 'paraphrase', "
                                                "'blur', 'int8'")
    if n == 0:
        warnings.warn("no replies to score (n = 0): no robustness numbers", EmptyInputWarning, stacklevel=2)
        return {}
    options = list(options) if options is not None else [None] * n
    groups: dict[str, dict[str, list[float]]] = {PLAIN: {}}
    for reply, reference, item_options, modality, variant in zip(
        predictions, references, options, modalities, variants, strict=True
    ):
        value = question_value(task, reply_score(task, reply, reference, item_options, option_matching))
        groups.setdefault(variant, {}).setdefault(modality, []).append(value)
    plain = groups[PLAIN]
    for variant, cells in groups.items():
        for modality in cells:
            if modality not in plain:
                raise UmuError(
                    f"variants: no {PLAIN!r} reply in the {modality} modality, so the change of {variant!r} has "
                    f"nothing to be measured against; add the {modality} replies to the same questions asked "
                    f"plainly, with variant {PLAIN!r}"
                )
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for variant, cells in groups.items():
        ordered = [m for m in MODALITIES if m in cells]
        if variant == PLAIN:
            result[variant] = {m: {"score": percent(cells[m]), "n": len(cells[m])} for m in ordered}
        else:
            result[variant] = {m: change_cell(cells[m], plain[m]) for m in ordered}
    return result


def _labels(values: Any, name: str, n: int, what: str, allowed: Sequence[str] | None = None) -> list[str]:
    """``values`` as ``n`` non-empty strings (one of ``allowed`` when given), or one :class:`UmuError` naming
    ``name`` (and the index) and saying what it holds (``what``)."""
    if values is None:
        raise UmuError(f"{name} is missing: pass one per reply, {what}")
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        raise UmuError(f"{name} must be a list with one entry per reply ({what}), got {type(values).__name__}")
    values = list(values)
    if len(values) != n:
        raise UmuError(f"{name} has {len(values)} entries but predictions has {n}: pass one per reply, {what}")
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value or (allowed is not None and value not in allowed):
            raise UmuError(f"{name}[{i}] must be {what}, got {value!r}")
    return values
