"""Uncertainty of leaderboard numbers over seeds and questions, and which gaps are real.

A bench cell is measured on Q questions for each of S seeds (each seed a whole chain: vanilla fine-tuning, then
unlearning). Its per-question contributions form an S × Q array whose mean is the cell's value (AccF, RLR, …).
Two sources of noise matter: the seeds (a slightly different vanilla model changes everything on a tiny model)
and the questions (a forget set of a few people). The intervals here resample **both** — a hierarchical
bootstrap: draw S seeds with replacement, then Q questions with replacement (the same questions for every drawn
seed, since every seed answers the same questions), and take the mean.

Two models are compared *paired*: a method and vanilla on the same seed share that seed's vanilla model, and
both answer the same questions, so the bootstrap runs on their per-seed, per-question differences. A gap is
called significant when the 95 % interval of the mean difference excludes 0.

>>> import numpy as np
>>> summary = seed_summary([10.0, 20.0, 30.0])
>>> summary["mean"], summary["sd"], summary["n"]
(20.0, 10.0, 3)
>>> a = np.ones((3, 50)) * 100.0
>>> b = np.zeros((3, 50))
>>> compare(a, b)["significant"]
True
>>> compare(a, a.copy())["significant"]
False
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from umu_hf.errors import UmuError

CONFIDENCE = 0.95
N_RESAMPLES = 2000
SEED = 0
_CHUNK_CELLS = 2_000_000


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


def _check(array: Any, name: str) -> np.ndarray:
    arr = np.asarray(array, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise UmuError(f"{name} must be a non-empty seeds x questions array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise UmuError(f"{name} holds non-finite per-question values; every question needs a score")
    return arr


def bootstrap_means(
    values: Any, n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """Means of ``n_resamples`` hierarchical resamples (seeds, then the same questions for each) of an S × Q array."""
    arr = _check(values, "values")
    s, q = arr.shape
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, _CHUNK_CELLS // (s * q))
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        seeds = rng.integers(0, s, size=(stop - start, s))
        questions = rng.integers(0, q, size=(stop - start, q))
        picked = arr[seeds[:, :, None], questions[:, None, :]]  # (r, s, q)
        means[start:stop] = picked.mean(axis=(1, 2))
    return means


def mean_ci(values: Any, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = SEED) -> list:
    """Percentile interval of the mean of an S × Q array under the hierarchical bootstrap."""
    means = bootstrap_means(values, n_resamples, seed)
    tail = (1 - confidence) / 2
    return [float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))]


def compare(
    a: Any, b: Any, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES, seed: int = SEED
) -> dict[str, Any]:
    """Paired comparison of two S × Q arrays (same seeds, same questions): mean difference ``a − b``, its
    interval, and ``significant`` when the interval excludes 0."""
    a, b = _check(a, "a"), _check(b, "b")
    if a.shape != b.shape:
        raise UmuError(f"paired comparison needs the same seeds and questions, got shapes {a.shape} and {b.shape}")
    diff = a - b
    lo, hi = mean_ci(diff, confidence, n_resamples, seed)
    return {"diff": float(diff.mean()), "ci": [lo, hi], "significant": bool(lo > 0 or hi < 0)}
