"""Exact memorization and extraction strength, as open-unlearning computes them
(``src/evals/metrics/memorization.py``: ``exact_memorization``, ``extraction_strength``).

Both read one teacher-forced pass over an answer: at each answer token, whether the model's most likely next token
(argmax) is the answer's token.

- **Exact memorization** (EM): the fraction of answer tokens predicted right.
- **Extraction strength** (ES): ``1 − k / L`` for the smallest ``k`` such that every prediction from token ``k``
  on is right (``L`` answer tokens): how short a prefix an attacker must give for the rest to follow. As in
  open-unlearning's loop, when not even the last token alone is right, ``k`` stops at ``L − 1`` and ES is
  ``1 / L`` rather than 0; an answer with no tokens has no EM (None) and ES 0.

>>> exact_memorization([True, False, True, True])
0.75
>>> extraction_strength([False, True, True, True]), extraction_strength([True, True, True, True])
(0.75, 1.0)
>>> extraction_strength([True, True, False, False])  # no suffix right: open-unlearning's 1 / L
0.25
>>> exact_memorization([]), extraction_strength([])
(None, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence


def exact_memorization(hits: Sequence[bool]) -> float | None:
    """EM of one answer: the fraction of its tokens whose argmax prediction is the token (None without tokens)."""
    if not hits:
        return None
    return sum(bool(h) for h in hits) / len(hits)


def extraction_strength(hits: Sequence[bool]) -> float:
    """ES of one answer: ``1 − k / L``, ``k`` the first position from which every prediction is right."""
    length = len(hits)
    if length == 0:
        return 0.0
    k = 0
    for k in range(length):
        if all(hits[k:]):
            break
    return 1 - k / length
