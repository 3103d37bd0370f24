"""Forget quality: truth ratios from option log-likelihoods and the two-sample KS p-value."""

from __future__ import annotations

import math

import pytest

from umu_hf.errors import UmuError
from umu_hf.privacy.truth_ratio import (
    forget_quality,
    forget_quality_by_modality,
    ks_2samp_pvalue,
    ks_statistic,
    model_forget_quality,
    truth_ratio,
)


def test_truth_ratio_on_hand_made_logliks():
    log = math.log
    # right option 1 with length-normalised likelihood 0.8; wrong ones 0.4, 0.2, 0.2: mean 0.8/3, / 0.8 = 1/3
    assert truth_ratio([log(0.4), log(0.8), log(0.2), log(0.2)], 1) == pytest.approx(1 / 3)
    assert truth_ratio([-2.0, -2.0, -2.0, -2.0], 3) == pytest.approx(1.0)
    # very long answers: mean log-probabilities far below exp's range still give the ratio
    assert truth_ratio([-900.0, -901.0, -901.0, -901.0], 0) == pytest.approx(math.exp(-1))
    with pytest.raises(UmuError):
        truth_ratio([-1.0, -2.0], 2)


def test_truth_ratio_never_overflows_and_stays_strict_json():
    """A diverged model's options (right option e^-720, wrong ones e^-1) give R = e^719, beyond float range: it is
    reported as the largest float, a number in strict JSON, and the KS test sees the same ranks."""
    import json
    import sys

    from umu_hf.utils import finite_json

    huge = truth_ratio([-1.0, -720.0, -1.0, -1.0], 1)  # OverflowError before log space
    assert huge == sys.float_info.max
    from umu_hf.privacy.truth_ratio import log_truth_ratio

    assert log_truth_ratio([-1.0, -720.0, -1.0, -1.0], 1) == pytest.approx(719.0)
    assert truth_ratio([-1.0, -1e6, -1e6, -1e6], 0) == 0.0  # the other way: below the smallest float
    assert truth_ratio([-1.0, -math.inf, -1.0, -1.0], 1) == sys.float_info.max  # the right option impossible
    assert truth_ratio([-math.inf] * 4, 0) == 1.0  # no option has any likelihood: cannot tell them apart
    assert json.loads(json.dumps(finite_json([huge]), allow_nan=False)) == [huge]
    retain = [0.4, 0.6, 1.0, 2.0]
    assert forget_quality([huge, 0.5, 3.0], retain) == forget_quality([1e300, 0.5, 3.0], retain)
    with pytest.raises(UmuError, match="not finite"):
        truth_ratio([math.nan, -1.0, -1.0, -1.0], 0)


def test_ks_p_value_of_an_array_against_itself_is_one():
    sample = [0.3, 1.2, 0.7, 0.7, 2.5, 0.1]
    assert ks_statistic(sample, list(reversed(sample))) == 0.0
    assert ks_2samp_pvalue(sample, sample) == 1.0
    assert forget_quality(sample, sample) == 1.0


def test_ks_p_value_of_well_separated_arrays_is_small():
    low = [0.01 * i for i in range(30)]
    high = [10 + 0.01 * i for i in range(30)]
    p = ks_2samp_pvalue(low, high)
    assert ks_statistic(low, high) == 1.0
    assert p == pytest.approx(2 / math.comb(60, 30))
    assert p < 1e-10


def test_ks_exact_matches_known_values_and_asymptotic_is_close():
    # 20 of the C(10, 5) = 252 splits reach the observed D
    assert ks_2samp_pvalue([1, 2, 3, 4, 5], [3.5, 6, 7, 8, 9]) == pytest.approx(20 / 252)
    # unequal sizes: the exact p-value is the share of the C(8, 5) splits of the pooled values whose D is at
    # least the observed one (no ties: every split is one lattice path)
    import itertools

    x, y = [0, 1, 2, 3, 4], [2.5, 5, 6]
    d = ks_statistic(x, y)
    values = x + y
    hits = total = 0
    for chosen in itertools.combinations(range(len(values)), len(x)):
        a = [values[i] for i in chosen]
        b = [values[i] for i in range(len(values)) if i not in chosen]
        total += 1
        hits += ks_statistic(a, b) >= d - 1e-12
    assert ks_2samp_pvalue(x, y) == pytest.approx(hits / total)


def test_forget_quality_is_the_p_value_tofu_and_open_unlearning_compute():
    """Their forget quality is ``scipy.stats.ks_2samp(unlearned, retain).pvalue`` with the default method: exact up
    to 10,000 values per sample (a hand-written version switched to the asymptotic one at a million lattice cells,
    0.000318 where scipy gives 0.000299 on the samples below), with ties."""
    import random

    from scipy.stats import ks_2samp

    rng = random.Random(0)
    x = [rng.random() for _ in range(1500)]
    y = [rng.random() + 0.05 for _ in range(1200)]
    ties = [round(v, 1) for v in x[:40]], [round(v, 1) for v in y[:25]]
    for a, b in ((x, y), ties):
        assert forget_quality(a, b) == ks_2samp(a, b).pvalue
        assert ks_statistic(a, b) == ks_2samp(a, b).statistic


def test_forget_quality_by_modality_reports_each_modality():
    out = forget_quality_by_modality(
        {"unimodal": [0.1, 0.2, 0.3], "multimodal": [0.1, 0.2, 0.3]},
        {"unimodal": [0.1, 0.2, 0.3], "multimodal": [5.0, 6.0, 7.0]},
    )
    assert out["unimodal"]["forget_quality"] == 1.0
    assert out["multimodal"]["forget_quality"] == pytest.approx(2 / math.comb(6, 3))
    assert out["multimodal"]["ks_statistic"] == 1.0


def test_forget_quality_of_a_model_against_itself_is_one(tiny_model_dir, synth_dir):
    from umu_hf.models.loading import load_model

    loaded = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    out = model_forget_quality(loaded, loaded, str(synth_dir), 5, limit=3, batch_size=4)
    for modality in ("unimodal", "multimodal"):
        ratios = out["truth_ratios"]["unlearned"][modality]
        assert len(ratios) == out["by_modality"][modality]["n_retain"] > 0
        assert all(math.isfinite(r) and r > 0 for r in ratios)
        assert out["by_modality"][modality]["forget_quality"] == 1.0
