"""Forget quality (TOFU-style): the truth ratio of every forget-set classification item, per modality, and the
two-sample Kolmogorov-Smirnov p-value between an unlearned model's truth ratios and a *retain model*'s.

**Truth ratio.** Each of an item's four options is scored as the model's answer to the item's evaluation prompt,
exactly as ``--classification-scoring loglik`` scores it (:func:`umu_hf.evaluation.loglik.option_logliks`: the
prompt and the option laid out by :meth:`ModelAdapter.task_example`; the score ``s`` is the *mean* log-probability
of the option's own tokens, the end-of-turn marker left out, so ``exp(s) = P(option)^(1/len)``, its
length-normalised likelihood). With ``r`` the right option and ``W`` the three wrong ones::

    R = mean_{w in W} P(w)^(1/len w) / P(r)^(1/len r) = mean_{w in W} exp(s_w) / exp(s_r)

(the TOFU paper's definition, with the arithmetic mean over the wrong options and the right option in place of
TOFU's paraphrased answer). ``R`` is below 1 when the model prefers the right answer and near or above 1 when it
cannot tell it from the wrong ones. TOFU's reference code takes the geometric mean instead; a KS test compares
ranks, so any transform applied to both samples alike (``1/R``, ``log R``) gives the same p-value, but the
geometric and arithmetic means are not such a transform: here it is the arithmetic one.

``R`` is computed in log space (log-sum-exp), so a diverged model's ratios never overflow: one beyond the float
range (``log R > 709.78``) is stored as the largest float, which keeps results.json strict JSON and leaves the KS
test, which only compares ranks across the two samples, unchanged (:func:`truth_ratio`).

**Forget quality** of a modality is the two-sided two-sample KS p-value between the unlearned model's truth
ratios and the retain model's (a model never trained on the forget profiles) on the forget set: near 1 when the
two are indistinguishable, small when the unlearned model still behaves differently from one that never saw the
forget profiles. The p-value is ``scipy.stats.ks_2samp``'s with its default method, the call TOFU's
``forget_quality`` and open-unlearning's (``src/evals/metrics/privacy.py``) make: exact for samples of up to
10,000 values, asymptotic beyond (:func:`ks_2samp_pvalue`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from umu_hf.data.schema import MODALITIES
from umu_hf.errors import UmuError

#: classification questions per forward pass when scoring options (4 sequences each)
DEFAULT_BATCH_SIZE = 8
#: a truth ratio beyond the float range is stored as the largest float (:func:`truth_ratio`) ...
MAX_RATIO = sys.float_info.max
#: ... which is what a log ratio above this gives
LOG_MAX_RATIO = math.log(MAX_RATIO)


def log_truth_ratio(logliks: Sequence[float], right: int) -> float:
    """``log R`` (:func:`truth_ratio`) of any size, by log-sum-exp relative to the largest wrong option: never
    overflows. ``-inf`` when no wrong option has any likelihood; 0 (R = 1, cannot tell them apart) when no option
    has any. A NaN or +inf log-likelihood (not a log-probability) is refused.

    >>> round(log_truth_ratio([-1.0, -720.0, -1.0, -1.0], 1), 6)   # R = e^719, beyond float range
    719.0
    """
    scores = [float(s) for s in logliks]
    if not 0 <= right < len(scores) or len(scores) < 2:
        raise UmuError(f"truth_ratio needs the right option's index among >= 2 options; got {right} of {len(scores)}")
    for i, score in enumerate(scores):
        if math.isnan(score) or score == math.inf:
            raise UmuError(f"option {i}'s mean log-likelihood is {score}; the model's outputs are not finite "
                           "log-probabilities (a diverged model?)")
    wrong = [s for i, s in enumerate(scores) if i != right]
    top = max(wrong)
    if top == -math.inf:
        return 0.0 if scores[right] == -math.inf else -math.inf
    log_mean = top + math.log(math.fsum(math.exp(s - top) for s in wrong) / len(wrong))
    return log_mean - scores[right]  # +inf when only the right option has no likelihood


def truth_ratio(logliks: Sequence[float], right: int) -> float:
    """``mean_{wrong} exp(s_wrong) / exp(s_right)`` from the options' mean per-token log-likelihoods ``s``
    (``logliks``) and the index of the right option, computed in log space (:func:`log_truth_ratio`).

    A ratio beyond the float range (``log R`` above :data:`LOG_MAX_RATIO`, e.g. a diverged model) is stored as
    :data:`MAX_RATIO`, the largest float: it stays a number in strict JSON (``inf`` would be written as null), and
    the KS test, which only sees how the two samples' values interleave, is unchanged unless both models have
    ratios beyond float range (they then tie). A ratio below the smallest float is 0.0.

    >>> import math
    >>> round(truth_ratio([math.log(0.5), math.log(0.25), math.log(0.125), math.log(0.125)], 0), 6)
    0.333333
    >>> truth_ratio([-1.0, -1.0, -1.0, -1.0], 2)   # cannot tell them apart
    1.0
    >>> round(truth_ratio([-3.0, -1.0, -1.0, -1.0], 0), 4)  # prefers the wrong ones: e^2
    7.3891
    >>> truth_ratio([-1.0, -720.0, -1.0, -1.0], 1) == MAX_RATIO   # e^719: huge, reported, no OverflowError
    True
    """
    log_ratio = log_truth_ratio(logliks, right)
    return MAX_RATIO if log_ratio > LOG_MAX_RATIO else math.exp(log_ratio)


# -- the two-sample Kolmogorov-Smirnov test ------------------------------------------------------------------


def _clean(sample: Iterable[float], name: str) -> list[float]:
    values = [float(v) for v in sample]
    if not values:
        raise UmuError(f"the KS test needs a non-empty {name} sample")
    if any(math.isnan(v) for v in values):
        raise UmuError(f"the {name} sample of the KS test holds NaN")
    return values


def ks_statistic(x: Iterable[float], y: Iterable[float]) -> float:
    """The two-sample KS statistic ``D = sup |F_x − F_y|`` (``scipy.stats.ks_2samp``'s).

    >>> ks_statistic([1, 2, 3], [1, 2, 3]), ks_statistic([1, 2], [3, 4]), ks_statistic([1, 3], [2, 4])
    (0.0, 1.0, 0.5)
    """
    from scipy.stats import ks_2samp

    return float(ks_2samp(_clean(x, "first"), _clean(y, "second")).statistic)


def ks_2samp_pvalue(x: Iterable[float], y: Iterable[float]) -> float:
    """Two-sided p-value of the two-sample KS test: ``scipy.stats.ks_2samp(x, y).pvalue``, the default method
    (exact while both samples hold at most 10,000 values, else asymptotic), as TOFU and open-unlearning call it.

    >>> ks_2samp_pvalue([0.1, 0.5, 0.9], [0.9, 0.1, 0.5])   # a sample against itself
    1.0
    >>> p = ks_2samp_pvalue(range(10), range(10, 20))     # well separated: 2 / C(20, 10)
    >>> round(p * 184756, 9)
    2.0
    >>> round(ks_2samp_pvalue([1, 2, 3, 4, 5], [3.5, 6, 7, 8, 9]), 6)
    0.079365
    """
    from scipy.stats import ks_2samp

    return float(ks_2samp(_clean(x, "first"), _clean(y, "second")).pvalue)


def forget_quality(unlearned: Iterable[float], retain: Iterable[float]) -> float:
    """Forget quality of one modality: the KS p-value between the unlearned model's and the retain model's truth
    ratios on the forget set (:func:`ks_2samp_pvalue`; 1 = indistinguishable).

    >>> forget_quality([0.2, 0.9, 1.1], [0.2, 0.9, 1.1])
    1.0
    """
    return ks_2samp_pvalue(unlearned, retain)


def forget_quality_by_modality(
    unlearned: Mapping[str, Sequence[float]], retain: Mapping[str, Sequence[float]]
) -> dict[str, dict[str, Any]]:
    """``{modality: {"forget_quality", "ks_statistic", "n_unlearned", "n_retain", "median_truth_ratio_unlearned",
    "median_truth_ratio_retain"}}`` from two ``{modality: truth ratios}`` mappings (the modalities both have).

    >>> out = forget_quality_by_modality({"unimodal": [1.0, 2.0]}, {"unimodal": [1.0, 2.0], "multimodal": [1.0]})
    >>> list(out), out["unimodal"]["forget_quality"], out["unimodal"]["median_truth_ratio_retain"]
    (['unimodal'], 1.0, 1.5)
    """
    import statistics

    out: dict[str, dict[str, Any]] = {}
    for modality in (m for m in MODALITIES if m in unlearned and m in retain):
        a, b = list(unlearned[modality]), list(retain[modality])
        out[modality] = {
            "forget_quality": forget_quality(a, b),
            "ks_statistic": ks_statistic(a, b),
            "n_unlearned": len(a),
            "n_retain": len(b),
            "median_truth_ratio_unlearned": statistics.median(a),
            "median_truth_ratio_retain": statistics.median(b),
        }
    return out


# -- truth ratios of a model ---------------------------------------------------------------------------------


def question_truth_ratios(
    model: Any,
    adapter: Any,
    questions: Sequence[Any],
    portrait: Callable[[int], Any],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, float]:
    """``{question uid: truth ratio}`` of classification ``questions`` (any modalities; ``portrait(row)`` gives a
    multimodal question's image), scored ``batch_size`` questions per forward pass in eval mode."""
    from umu_hf.evaluation.loglik import option_logliks

    if batch_size < 1:
        raise UmuError(f"batch_size must be >= 1, got {batch_size}")
    ratios: dict[str, float] = {}
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        for modality in MODALITIES:
            group = [q for q in questions if q.modality == modality and q.task == "classification"]
            for start in range(0, len(group), batch_size):
                batch = group[start : start + batch_size]
                images = [portrait(q.row) for q in batch] if batch[0].with_image else None
                for question, scores in zip(batch, option_logliks(model, adapter, batch, images), strict=True):
                    options = list(question.options or ())
                    ratios[question.uid()] = truth_ratio(scores, options.index(question.reference))
    finally:
        model.train(was_training)
    return ratios


def split_truth_ratios(
    model: Any, adapter: Any, split: Any, *, limit: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> dict[str, list[float]]:
    """``{modality: truth ratios}`` of the classification items of a forget ``split`` (already loaded), in
    canonical order (profile, index); ``limit``: the first ``limit`` question pairs."""
    from umu_hf.data.decode import Portraits
    from umu_hf.evaluation.items import iter_items

    questions = list(iter_items(split, "forget", tasks=("classification",), limit=limit))
    ratios = question_truth_ratios(model, adapter, questions, Portraits(split), batch_size)
    return {m: [ratios[q.uid()] for q in questions if q.modality == m] for m in MODALITIES}


def model_truth_ratios(
    loaded: tuple[Any, Any, Any],
    data: str,
    forget_ratio: int | str,
    *,
    limit: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict[str, list[float]]:
    """``{modality: truth ratios}`` of a loaded model (``(model, processor, adapter)``) on the forget set's
    classification items, in canonical order (profile, index)."""
    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import forget_config

    split = load_umu_split(data, forget_config(forget_ratio), as_dataset=False)
    return split_truth_ratios(loaded[0], loaded[2], split, limit=limit, batch_size=batch_size)


def model_forget_quality(
    unlearned: str | tuple[Any, Any, Any],
    retain: str | tuple[Any, Any, Any],
    data: str,
    forget_ratio: int | str,
    *,
    limit: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str = "auto",
    dtype: str = "auto",
) -> dict[str, Any]:
    """Forget quality of ``unlearned`` against ``retain`` (each a model folder / Hub id, or already loaded
    ``(model, processor, adapter)``) on the forget set at ``forget_ratio``: ``{"by_modality":``
    :func:`forget_quality_by_modality` ``, "truth_ratios": {"unlearned": {modality: [...]}, "retain": {...}},
    "formula": ...}``. One model is loaded at a time."""
    from umu_hf.models.loading import load_model

    ratios = {}
    for name, source in (("unlearned", unlearned), ("retain", retain)):
        loaded = load_model(source, device, dtype) if isinstance(source, str) else source
        ratios[name] = model_truth_ratios(loaded, data, forget_ratio, limit=limit, batch_size=batch_size)
        del loaded
    return {
        "formula": "R = mean_wrong exp(s_wrong) / exp(s_right), s = mean log-probability per option token; "
        "forget quality = two-sided two-sample KS p-value (unlearned vs retain model truth ratios)",
        "by_modality": forget_quality_by_modality(ratios["unlearned"], ratios["retain"]),
        "truth_ratios": ratios,
    }
