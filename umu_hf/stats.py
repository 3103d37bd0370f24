"""Uncertainty of leaderboard numbers over seeds and people, and which gaps are real.

A bench cell is measured on Q questions for each of S seeds (each seed a whole chain: tiny-model init, vanilla
fine-tuning, unlearning). Its per-question terms form an S × Q array whose mean is the cell's value (AccF, RLR,
…). Two sources of noise matter, and both are few: the **seeds** (2–5: a slightly different vanilla model
changes everything on a tiny model) and the **people** (a forget set is about 5 profiles, and the questions about
one person rise and fall together). Resampling single questions, or a percentile bootstrap over 3 seeds,
pretends there is far more information than that (simulated under a true null: 26 % false positives at 3 seeds,
43 % with person effects).

So every interval here is a **t interval with two-way cluster-robust variance** (Cameron, Gelbach & Miller 2011):
the estimate's influence is summed per seed, per person and per (seed, person) cell, and

    V = V_seeds + V_people − V_seeds×people    (each G/(G−1) · Σ_cluster (summed influence)²)

falling back to ``max(V_seeds, V_people)`` when that difference is not positive; the interval is
``estimate ± t_{df} · sqrt(V)`` with ``df = min(S, P) − 1`` (the fewer clusters of the two dimensions; P of the
component with the fewest people, at least 1 df). With 3 seeds
that is t with 2 degrees of freedom (4.30 instead of 1.96): wide, and honest. A simulation under nulls with seed
and person effects keeps the false-positive rate at or below 5 % at 3 seeds (``tests/test_stats.py``).

The same estimator serves every number: a cell's mean (one component), a paired comparison (a method and
vanilla on the same seed share that seed's vanilla model and answer the same questions: the component is their
difference), and contrasts across sets (selectivity = retain − forget: two components, different people, the
same seeds). A single seed cannot say anything about seed-to-seed variation: then there is no interval and no
mark ("not enough seeds"), never a number that looks like one.

>>> import numpy as np
>>> summary = seed_summary([10.0, 20.0, 30.0])
>>> summary["mean"], summary["sd"], summary["n"]
(20.0, 10.0, 3)
>>> people = [0, 0, 1, 1, 2, 2]
>>> a = np.array([[100.0, 100, 100, 0, 100, 100], [100, 100, 0, 100, 100, 100], [100, 0, 100, 100, 100, 100]])
>>> compare(a, np.zeros((3, 6)), people)["significant"]
True
>>> compare(a, a.copy(), people)["significant"]
False
>>> compare(a[:1], np.zeros((1, 6)), people)["reason"]
'not enough seeds: 1 (an interval needs at least 2)'
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from umu_hf.errors import UmuError

CONFIDENCE = 0.95
#: fewer seeds than this give no interval and no significance mark
MIN_SEEDS = 2
METHOD = (
    "t interval with two-way cluster-robust variance over seeds and people (Cameron-Gelbach-Miller), "
    "df = min(seeds, people) - 1; at least 2 seeds"
)


def seed_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """``{"mean", "sd", "values", "n"}`` over seeds; ``sd`` is the sample standard deviation (0 for one seed).

    A value that could not be computed (``None``/NaN) makes the summary ``None`` (shown as "–"), never a number.
    """
    vals = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values]
    if not vals or any(v is None for v in vals):
        return {"mean": None, "sd": None, "values": vals, "n": len(vals)}
    arr = np.asarray(vals, dtype=float)
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "sd": sd, "values": vals, "n": len(vals)}


def t_quantile(confidence: float, df: int) -> float:
    """The two-sided ``confidence`` quantile of Student's t with ``df`` degrees of freedom (scipy).

    >>> round(t_quantile(0.95, 2), 3), round(t_quantile(0.95, 1000), 2)
    (4.303, 1.96)
    """
    from scipy.stats import t

    if not 0 < confidence < 1:
        raise UmuError(f"confidence must be in (0, 1), got {confidence}")
    if df < 1:
        raise UmuError(f"a t interval needs at least 1 degree of freedom, got {df}")
    return float(t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class Component:
    """One term of an estimate: ``weight × mean(values)``, ``values`` an S × Q array (seeds × questions) and
    ``people[q]`` the person question q is about (questions of one person are one cluster; use labels that
    differ between sets of different people, e.g. ``("forget", 12)``)."""

    weight: float
    values: Any
    people: Sequence[Hashable]


def _array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise UmuError(f"{name} must be a non-empty seeds x questions array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise UmuError(f"{name} holds non-finite per-question values; every question needs a score")
    return arr


def _cluster_variance(totals: Sequence[float]) -> float:
    """``G/(G−1) · Σ t²`` of the per-cluster summed influences (0 for a single cluster)."""
    t = np.asarray(totals, dtype=float)
    g = len(t)
    return float(g / (g - 1) * np.sum(t * t)) if g > 1 else 0.0


def estimate(components: Sequence[Component], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """``Σ weight · mean(values)`` with its interval (module docstring): ``{"estimate", "ci", "se", "df",
    "n_seeds", "n_people"}``; ``ci`` and ``se`` are None (with a ``reason``) below :data:`MIN_SEEDS` seeds.

    >>> est = estimate([Component(1.0, [[1.0, 3.0], [3.0, 5.0]], ["p", "q"])])
    >>> est["estimate"], est["df"], est["n_people"]
    (3.0, 1, 2)
    """
    if not components:
        raise UmuError("an estimate needs at least one component")
    arrays = [_array(c.values, f"component {i}") for i, c in enumerate(components)]
    seeds = {a.shape[0] for a in arrays}
    if len(seeds) != 1:
        raise UmuError(f"every component needs the same seeds, got {sorted(seeds)} seed rows")
    s = seeds.pop()
    value = 0.0
    seed_totals = np.zeros(s)
    person_totals: dict[Hashable, float] = {}
    cell_totals: dict[tuple[int, Hashable], float] = {}
    fewest_people = math.inf
    for component, arr in zip(components, arrays, strict=True):
        people = list(component.people)
        if len(people) != arr.shape[1]:
            raise UmuError(f"people has {len(people)} labels for {arr.shape[1]} questions")
        mean = float(arr.mean())
        value += component.weight * mean
        influence = component.weight * (arr - mean) / arr.size  # d estimate / d value, centred
        seed_totals += influence.sum(axis=1)
        codes = {person: i for i, person in enumerate(dict.fromkeys(people))}
        fewest_people = min(fewest_people, len(codes))
        labels = np.asarray([codes[p] for p in people])
        for person, code in codes.items():
            columns = influence[:, labels == code]
            person_totals[person] = person_totals.get(person, 0.0) + float(columns.sum())
            for seed, total in enumerate(columns.sum(axis=1)):
                cell_totals[(seed, person)] = cell_totals.get((seed, person), 0.0) + float(total)
    n_people = len(person_totals)
    out: dict[str, Any] = {"estimate": value, "ci": None, "se": None, "df": None, "n_seeds": s,
                           "n_people": n_people}
    if s < MIN_SEEDS:
        out["reason"] = f"not enough seeds: {s} (an interval needs at least {MIN_SEEDS})"
        return out
    v_seeds, v_people = _cluster_variance(seed_totals), _cluster_variance(list(person_totals.values()))
    variance = v_seeds + v_people - _cluster_variance(list(cell_totals.values()))
    if variance <= 0:
        variance = max(v_seeds, v_people)
    df = max(1, min(s, fewest_people) - 1)
    se = math.sqrt(max(variance, 0.0))
    half = t_quantile(confidence, df) * se
    out.update(ci=[value - half, value + half], se=se, df=df)
    return out


def mean_ci(values: Any, people: Sequence[Hashable], confidence: float = CONFIDENCE) -> list[float] | None:
    """The interval of the mean of an S × Q array (None below :data:`MIN_SEEDS` seeds)."""
    return estimate([Component(1.0, values, people)], confidence)["ci"]


def _verdict(est: dict[str, Any]) -> dict[str, Any]:
    """``{"diff", "ci", "significant", "df", …}`` from an :func:`estimate`: significant when the interval
    excludes 0 (a gap with no variation at all is significant when it is not 0); None without an interval."""
    ci = est["ci"]
    if ci is None:
        significant = None
    elif est["se"] == 0:
        significant = est["estimate"] != 0
    else:
        significant = bool(ci[0] > 0 or ci[1] < 0)
    out = {"diff": est["estimate"], "ci": ci, "significant": significant, "df": est["df"],
           "n_seeds": est["n_seeds"], "n_people": est["n_people"]}
    if "reason" in est:
        out["reason"] = est["reason"]
    return out


def compare(a: Any, b: Any, people: Sequence[Hashable], confidence: float = CONFIDENCE) -> dict[str, Any]:
    """Paired comparison of two S × Q arrays (same seeds, same questions about ``people``): the mean difference
    ``a − b``, its interval, and ``significant`` when the interval excludes 0 (None: not enough seeds)."""
    a, b = _array(a, "a"), _array(b, "b")
    if a.shape != b.shape:
        raise UmuError(f"paired comparison needs the same seeds and questions, got shapes {a.shape} and {b.shape}")
    return _verdict(estimate([Component(1.0, a - b, people)], confidence))


def contrast(
    plus: tuple[Any, Sequence[Hashable]], minus: tuple[Any, Sequence[Hashable]], confidence: float = CONFIDENCE
) -> dict[str, Any]:
    """``mean(plus) − mean(minus)`` for two S × Q arrays on the same seeds but possibly different questions and
    people (e.g. retain − forget), with its interval; each argument is ``(values, people)``."""
    return _verdict(estimate([Component(1.0, *plus), Component(-1.0, *minus)], confidence))


def clipped(ci: Sequence[float] | None, low: float, high: float) -> list[float] | None:
    """An interval intersected with the range its quantity lives in (a percentage: 0–100; a difference of two:
    −100–100). The true value lies in that range, so the intersection keeps the interval's coverage.

    >>> clipped([-12.5, 40.0], 0.0, 100.0), clipped(None, 0.0, 100.0)
    ([0.0, 40.0], None)
    """
    if ci is None:
        return None
    return [max(float(ci[0]), low), min(float(ci[1]), high)]


def seed_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> list[float] | None:
    """A t interval of the mean of one number per seed (``mean ± t_{S−1} · sd / √S``); None below
    :data:`MIN_SEEDS` seeds or when a value is missing.

    >>> [round(v, 2) for v in seed_interval([80.0, 81.0])]
    [74.15, 86.85]
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if len(vals) < MIN_SEEDS or len(vals) != len(values):
        return None
    arr = np.asarray(vals)
    half = t_quantile(confidence, len(arr) - 1) * float(arr.std(ddof=1)) / math.sqrt(len(arr))
    return [float(arr.mean()) - half, float(arr.mean()) + half]
