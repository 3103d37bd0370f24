"""ROC AUC of member against non-member scores (the Mann–Whitney U statistic), ties counted one half.

The one place umu-hf computes it: ``umu-hf eval --privacy`` and the ``umu_privacy`` evaluate module both call
:func:`auc`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from umu_hf.errors import UmuError


def _scores(values: Sequence[float], name: str) -> list[float]:
    """``values`` as floats; a non-number, NaN or infinity is refused naming ``name`` and the index."""
    if isinstance(values, (str, bytes)):
        raise UmuError(f"{name} must be a list of numbers, got a string")
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise UmuError(f"{name}[{i}] must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise UmuError(f"{name}[{i}] is {number}; every score must be finite")
        out.append(number)
    if not out:
        raise UmuError(f"{name} is empty; an AUC needs at least one member and one non-member score")
    return out


def auc(member_scores: Sequence[float], nonmember_scores: Sequence[float]) -> float:
    """P(member score > non-member score) + ½ P(equal): the area under the ROC curve of the rule "member when
    the score is high", over every (member, non-member) pair (the Mann–Whitney U over n·m).

    1.0: every member scores above every non-member; 0.5: no better than chance (or all scores equal);
    0.0: every member scores below.

    >>> auc([3, 4], [1, 2])
    1.0
    >>> auc([1, 2], [1, 2])
    0.5
    >>> auc([1, 2], [3, 4])
    0.0

    Ties count one half: of the four pairs below, (2 > 1) and (2 > 0) win, (0 vs 0) ties, (0 < 1) loses.

    >>> auc([2, 0], [1, 0])
    0.625

    Computed from ranks (average ranks for ties), so it is exact for any sizes in n log n time:

    >>> auc([0.9, 0.8, 0.4], [0.7, 0.4, 0.1, 0.0])
    0.875
    """
    members = _scores(member_scores, "member_scores")
    others = _scores(nonmember_scores, "nonmember_scores")
    values = sorted([(v, 0) for v in members] + [(v, 1) for v in others])
    rank_sum = 0.0  # of the members, 1-based, ties at their group's average rank
    start = 0
    while start < len(values):
        end = start
        while end < len(values) and values[end][0] == values[start][0]:
            end += 1
        average = (start + 1 + end) / 2
        rank_sum += average * sum(1 for _, group in values[start:end] if group == 0)
        start = end
    n, m = len(members), len(others)
    u = rank_sum - n * (n + 1) / 2
    return u / (n * m)


def modality_aucs(
    member_scores: dict[str, Sequence[float]], nonmember_scores: dict[str, Sequence[float]]
) -> dict[str, float]:
    """``{"unimodal": auc, "multimodal": auc, "gap": multimodal − unimodal}`` from per-modality scores.

    >>> modality_aucs({"unimodal": [1, 2], "multimodal": [3, 4]}, {"unimodal": [1, 2], "multimodal": [1, 2]})
    {'unimodal': 0.5, 'multimodal': 1.0, 'gap': 0.5}
    """
    out = {m: auc(member_scores[m], nonmember_scores[m]) for m in ("unimodal", "multimodal")}
    out["gap"] = out["multimodal"] - out["unimodal"]
    return out


#: the false-positive rates at which the true-positive rate is reported beside the AUC (low-FPR operating points:
#: an attack that is right about a few people with confidence matters more than its average)
FPR_LEVELS: tuple[float, ...] = (0.01, 0.05)


def tpr_at_fpr(member_scores: Sequence[float], nonmember_scores: Sequence[float], fpr: float) -> float:
    """The true-positive rate of the rule "member when the score is at least t" at the threshold t that flags
    the most members while flagging at most a ``fpr`` fraction of the non-members (the ROC curve's highest TPR at
    FPR ≤ ``fpr``; no interpolation). With fewer than ``1 / fpr`` non-members that is the TPR at FPR 0.

    >>> tpr_at_fpr([5, 4, 3, 0], [2, 1, 0, -1], 0.0)  # three members above every non-member
    0.75
    >>> tpr_at_fpr([5, 4, 3, 0], [2, 1, 0, -1], 0.5)  # flagging the member at 0 flags 3 of 4 non-members
    0.75
    >>> tpr_at_fpr([1, 1], [1, 1], 0.5), tpr_at_fpr([3, 2], [1, 0], 0.0)
    (0.0, 1.0)
    """
    if not 0 <= fpr < 1:
        raise UmuError(f"fpr must be in [0, 1), got {fpr}")
    members = sorted(_scores(member_scores, "member_scores"), reverse=True)
    others = sorted(_scores(nonmember_scores, "nonmember_scores"), reverse=True)
    allowed = math.floor(fpr * len(others) + 1e-9)  # non-members that may score at or above the threshold
    flagged = flagged_others = 0
    for threshold in sorted(set(members) | set(others), reverse=True):  # lower the threshold step by step
        while flagged_others < len(others) and others[flagged_others] >= threshold:
            flagged_others += 1
        if flagged_others > allowed:
            break
        while flagged < len(members) and members[flagged] >= threshold:
            flagged += 1
    return flagged / len(members)


def modality_tprs(member_scores: dict[str, Sequence[float]], nonmember_scores: dict[str, Sequence[float]],
                  levels: Sequence[float] = FPR_LEVELS) -> dict[str, dict[str, float]]:
    """``{modality: {"1%": tpr, "5%": tpr}}`` at each FPR level (:func:`tpr_at_fpr`).

    >>> modality_tprs({"unimodal": [3, 2], "multimodal": [1, 0]}, {"unimodal": [1, 0], "multimodal": [3, 2]})
    {'unimodal': {'1%': 1.0, '5%': 1.0}, 'multimodal': {'1%': 0.0, '5%': 0.0}}
    """
    return {m: {f"{level:.0%}": tpr_at_fpr(member_scores[m], nonmember_scores[m], level) for level in levels}
            for m in ("unimodal", "multimodal")}
