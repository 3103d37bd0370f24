"""Pair metrics (AccF/AccR, RLF/RLR, the alignment shares) with their bootstrap intervals, and replies to
metrics."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from umu_hf.errors import UmuError
from umu_hf.scoring.inputs import (
    _check_flags,
    _check_same_length,
    _check_unit_scores,
    check_confidence_level,
    check_text_inputs,
)
from umu_hf.scoring.rules import (
    ALIGNMENT_KEYS,
    DEFAULT_N_RESAMPLES,
    DEFAULT_SEED,
    HEADLINE_METRICS,
    LOWER_IS_BETTER,
    SECONDARY_BLOCK,
    EmptyInputWarning,
    _percent,
    classification_correct,
    cloze_correct,
    generation_question_scores,
    generation_secondary,
)

# bootstrap resamples are drawn in batches of at most this many indices, to bound memory
_BOOTSTRAP_CHUNK_CELLS = 2_000_000


def _bootstrap_cis(
    columns: dict[str, np.ndarray], confidence_level: float, seed: int, n_resamples: int
) -> dict[str, list[float]]:
    """Percentile bootstrap interval (in percent) of the mean of each per-question column, resampling questions:
    :func:`scipy.stats.bootstrap` on the question indices, so every column shares the same resamples (both
    modalities of a question and both metrics drawn together), seeded by ``seed``.
    """
    from scipy.stats import bootstrap

    n = len(next(iter(columns.values())))
    if n == 0:
        return {f"{name}_ci": [math.nan, math.nan] for name in columns}
    if n == 1:  # every resample is the one question (scipy refuses a sample of one)
        return {f"{name}_ci": [100.0 * float(v[0])] * 2 for name, v in columns.items()}
    table = np.stack([np.asarray(v, dtype=float) for v in columns.values()])

    def means(index: np.ndarray, axis: int = -1) -> np.ndarray:
        return table[:, index.astype(np.intp)].mean(axis=-1)

    result = bootstrap(
        (np.arange(n),), means, n_resamples=n_resamples, batch=max(1, _BOOTSTRAP_CHUNK_CELLS // n),
        vectorized=True, method="percentile", confidence_level=confidence_level,
        rng=np.random.default_rng(seed),
    )
    low, high = np.atleast_1d(result.confidence_interval.low), np.atleast_1d(result.confidence_interval.high)
    return {f"{name}_ci": [100.0 * float(low[i]), 100.0 * float(high[i])] for i, name in enumerate(columns)}


def _check_resamples(n_resamples: Any) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise UmuError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    return int(n_resamples)


def _warn_empty(what: str) -> None:
    warnings.warn(f"no {what} to score (n = 0): the metrics are NaN", EmptyInputWarning, stacklevel=3)


def _binary_columns(u: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per question: right in at least one modality (AccF's term, 1 − (1−u)(1−m)) and in both (AccR's, u·m)."""
    return u | m, u & m


def _generation_columns(b: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per question: the contraharmonic (RLF's term) and harmonic (RLR's) mean of unimodal b and multimodal a,
    both 0 when a + b = 0; the min() calls only absorb float rounding of harmonic <= contraharmonic <= max."""
    total = a + b
    safe = np.where(total > 0, total, 1.0)
    forget = np.where(total > 0, np.minimum((a * a + b * b) / safe, np.maximum(a, b)), 0.0)
    retain = np.where(total > 0, np.minimum(2.0 * a * b / safe, forget), 0.0)
    return forget, retain


def alignment_key(unimodal: bool, multimodal: bool) -> str:
    """The cell of the 2x2 alignment table (:data:`ALIGNMENT_KEYS`) that one question pair falls in, given
    whether its unimodal and its multimodal question were answered right.

    >>> alignment_key(True, False), alignment_key(False, False)
    ('only_unimodal', 'both_wrong')
    """
    return ALIGNMENT_KEYS[2 * (not unimodal) + (not multimodal)]


def headline_contributions(task: str, set_name: str, unimodal: Sequence, multimodal: Sequence) -> np.ndarray:
    """Per-question terms (percent) whose mean is the headline metric of ``(task, set_name)`` — what the
    leaderboard's uncertainty and significance resample.

    >>> headline_contributions("cloze", "forget", [True, False], [False, False]).tolist()
    [100.0, 0.0]
    """
    metric = headline_metric(task, set_name)
    if task == "generation":
        b = _check_unit_scores(unimodal, "unimodal")
        a = _check_unit_scores(multimodal, "multimodal")
        _check_same_length({"unimodal": list(b), "multimodal": list(a)})
        forget, retain = _generation_columns(b, a)
    else:
        u = _check_flags(unimodal, "unimodal")
        m = _check_flags(multimodal, "multimodal")
        _check_same_length({"unimodal": list(u), "multimodal": list(m)})
        forget, retain = _binary_columns(u, m)
    return 100.0 * (forget if metric in LOWER_IS_BETTER else retain).astype(float)


def binary_pair_metrics(
    unimodal: Sequence[bool],
    multimodal: Sequence[bool],
    confidence_level: float | None = None,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_N_RESAMPLES,
) -> dict:
    """AccF, AccR, per-modality accuracy and the 2x2 table (all percent of n) from per-question correctness.

    ``unimodal[k]``/``multimodal[k]`` say whether question k was answered right in each modality.
    With ``confidence_level`` (e.g. 0.95) adds ``AccF_ci``/``AccR_ci``: ``[lo, hi]`` percentile bootstrap
    intervals over questions (``n_resamples`` resamples, ``seed``). Empty input warns and returns NaN, n = 0.
    """
    confidence_level = check_confidence_level(confidence_level)
    n_resamples = _check_resamples(n_resamples)
    u = _check_flags(unimodal, "unimodal")
    m = _check_flags(multimodal, "multimodal")
    n = _check_same_length({"unimodal": list(u), "multimodal": list(m)})
    if n == 0:
        _warn_empty("classification/cloze questions")
    forget, retain = _binary_columns(u, m)
    result = {
        "AccF": _percent(forget),
        "AccR": _percent(retain),
        "unimodal_acc": _percent(u),
        "multimodal_acc": _percent(m),
        "both_correct": _percent(retain),
        "only_unimodal": _percent(u & ~m),
        "only_multimodal": _percent(~u & m),
        "both_wrong": _percent(~forget),
        "n": n,
    }
    if confidence_level is not None:
        columns = {"AccF": forget.astype(float), "AccR": retain.astype(float)}
        result.update(_bootstrap_cis(columns, confidence_level, seed, n_resamples))
    return result


def generation_pair_metrics(
    unimodal: Sequence[float],
    multimodal: Sequence[float],
    confidence_level: float | None = None,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_N_RESAMPLES,
) -> dict:
    """RLF, RLR and per-modality mean ROUGE-L (percent) from per-question ROUGE-L F1 scores in [0, 1].

    Per question: RLF_k = (a²+b²)/(a+b), RLR_k = 2ab/(a+b), both 0 when a+b = 0 (b unimodal, a multimodal).
    ``confidence_level`` adds ``RLF_ci``/``RLR_ci`` as in :func:`binary_pair_metrics`.
    """
    confidence_level = check_confidence_level(confidence_level)
    n_resamples = _check_resamples(n_resamples)
    b = _check_unit_scores(unimodal, "unimodal")
    a = _check_unit_scores(multimodal, "multimodal")
    n = _check_same_length({"unimodal": list(b), "multimodal": list(a)})
    if n == 0:
        _warn_empty("generation questions")
    forget, retain = _generation_columns(b, a)
    result = {
        "RLF": _percent(forget),
        "RLR": _percent(retain),
        "unimodal_rougeL": _percent(b),
        "multimodal_rougeL": _percent(a),
        "n": n,
    }
    if confidence_level is not None:
        result.update(_bootstrap_cis({"RLF": forget, "RLR": retain}, confidence_level, seed, n_resamples))
    return result


# ---------------------------------------------------------------------------------------------------------------
# replies -> metrics


def classification_scores(
    unimodal_predictions: Sequence[str],
    multimodal_predictions: Sequence[str],
    references: Sequence[str],
    options: Sequence[Sequence[str]],
    option_matching: str = "exact",
    confidence_level: float | None = None,
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_N_RESAMPLES,
) -> dict:
    """Multiple-choice replies of both modalities -> :func:`binary_pair_metrics` (AccF, AccR, 2x2 table).

    ``references[k]`` is the correct option *text* of question k and ``options[k]`` its 4 option texts (A-D);
    the same options serve both modalities.
    """
    check_text_inputs(
        "classification",
        unimodal_predictions,
        multimodal_predictions,
        references,
        options,
        option_matching,
        confidence_level,
    )
    unimodal = [
        classification_correct(p, r, o, option_matching)
        for p, r, o in zip(unimodal_predictions, references, options, strict=True)
    ]
    multimodal = [
        classification_correct(p, r, o, option_matching)
        for p, r, o in zip(multimodal_predictions, references, options, strict=True)
    ]
    return binary_pair_metrics(unimodal, multimodal, confidence_level, seed, n_resamples)


def cloze_scores(
    unimodal_predictions: Sequence[str],
    multimodal_predictions: Sequence[str],
    references: Sequence[str],
    confidence_level: float | None = None,
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_N_RESAMPLES,
) -> dict:
    """Fill-in-the-blank replies of both modalities -> :func:`binary_pair_metrics` (cloze containment rule)."""
    check_text_inputs(
        "cloze", unimodal_predictions, multimodal_predictions, references, confidence_level=confidence_level
    )
    unimodal = [cloze_correct(p, r) for p, r in zip(unimodal_predictions, references, strict=True)]
    multimodal = [cloze_correct(p, r) for p, r in zip(multimodal_predictions, references, strict=True)]
    return binary_pair_metrics(unimodal, multimodal, confidence_level, seed, n_resamples)


def generation_scores(
    unimodal_predictions: Sequence[str],
    multimodal_predictions: Sequence[str],
    references: Sequence[str],
    confidence_level: float | None = None,
    *,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_N_RESAMPLES,
) -> dict:
    """Open answers of both modalities -> ROUGE-L F1 per reply -> :func:`generation_pair_metrics` (RLF, RLR),
    plus the ``secondary`` block (:func:`generation_secondary`: BLEU, ROUGE-1, ROUGE-2 per modality)."""
    check_text_inputs(
        "generation",
        unimodal_predictions,
        multimodal_predictions,
        references,
        confidence_level=confidence_level,
    )
    unimodal = [
        generation_question_scores(p, r) for p, r in zip(unimodal_predictions, references, strict=True)
    ]
    multimodal = [
        generation_question_scores(p, r) for p, r in zip(multimodal_predictions, references, strict=True)
    ]
    result = generation_pair_metrics(
        [s["rougeL"] for s in unimodal],
        [s["rougeL"] for s in multimodal],
        confidence_level,
        seed,
        n_resamples,
    )
    result[SECONDARY_BLOCK] = generation_secondary(unimodal, multimodal)
    return result


def headline_metric(task: str, set_name: str) -> str:
    """The headline metric of a task on an evaluation set: ``("cloze", "forget") -> "AccF"``."""
    try:
        return HEADLINE_METRICS[task][set_name]
    except KeyError:
        raise UmuError(
            f"no headline metric for task {task!r} and set {set_name!r}; tasks {list(HEADLINE_METRICS)}, "
            f"sets ['forget', 'retain', 'real']"
        ) from None
