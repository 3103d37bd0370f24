"""The UMU-Bench metric math (docs/protocol.md, Evaluation), written once.

Everything that scores replies — the evaluation runner, the ``evaluate`` module ``metrics/umu_bench``, the Space —
calls these functions, so the rules cannot drift apart. All metrics are in percent (0-100). They live in
:mod:`.rules` (per question, and the names the others share), :mod:`.inputs` (input checks) and :mod:`.pairs`
(pair metrics and their intervals) and are imported from here.

Per question rules (docs/protocol.md, Evaluation), following the original ``eval.py``:

* classification ``exact``: the stripped reply must equal the correct option text (stripped) — case, punctuation
  and a leading letter all matter, so ``"B"`` or ``"B. Paris"`` is wrong when the option text is ``"Paris"``.
  ``closest`` first snaps the reply to the option with the highest ``difflib.SequenceMatcher`` ratio (the first
  option wins ties, so an empty reply becomes option A), then compares.
* cloze: ``answer.split('.')[0].lower()`` must be a substring of ``reply.lower()``.
* generation: ROUGE-L F1 (``rouge_score``, Porter stemmer on) of the reply against the answer.

Secondary generation numbers (reported per modality by the original, never in the headline): BLEU —
``nltk`` ``sentence_bleu([reference.split()], reply.split(), smoothing_function=SmoothingFunction().method1)`` —
and ROUGE-1 / ROUGE-2 F1 (``rouge_score``, stemmer on), per question in [0, 1]
(:func:`generation_question_scores`), averaged per modality in percent (:func:`generation_secondary`).

Pair metrics (docs/protocol.md, Metrics), per question k with unimodal/multimodal correctness (u, m) or ROUGE-L (b, a):
AccF = 100·mean(1-(1-u)(1-m)) (lower is better), AccR = 100·mean(u·m) (higher is better),
RLF = 100·mean((a²+b²)/(a+b)) (lower is better), RLR = 100·mean(2ab/(a+b)) (higher is better), 0 when a+b = 0.

>>> match_option("Paris.", ["London", "Paris", "Rome", "Oslo"], mode="closest")
'Paris'
>>> classification_correct("B. Paris", "Paris", ["London", "Paris", "Rome", "Oslo"], mode="exact")
False
>>> cloze_correct("She was born in Lyon, France", "Lyon. A city in France.")
True
>>> r = binary_pair_metrics([True, True, False, False], [True, False, True, False])
>>> r["AccF"], r["AccR"], r["only_unimodal"], r["n"]
(75.0, 25.0, 25.0, 4)
>>> g = generation_pair_metrics([1.0, 0.0], [0.5, 0.0])
>>> round(g["RLF"], 4), round(g["RLR"], 4)
(41.6667, 33.3333)
>>> generation_question_scores("Alice lives in Paris", "Alice lives in Paris")
{'rougeL': 1.0, 'bleu': 1.0, 'rouge1': 1.0, 'rouge2': 1.0}
"""

from __future__ import annotations

from umu_hf.scoring.inputs import (  # noqa: F401
    check_confidence_level,
    check_replies,
    check_text_inputs,
)
from umu_hf.scoring.pairs import (  # noqa: F401
    alignment_key,
    binary_pair_metrics,
    classification_scores,
    cloze_scores,
    generation_pair_metrics,
    generation_scores,
    headline_contributions,
    headline_metric,
)
from umu_hf.scoring.rules import (  # noqa: F401
    ALIGNMENT_KEYS,
    BINARY_KEYS,
    DEFAULT_N_RESAMPLES,
    DEFAULT_SEED,
    GENERATION_KEYS,
    HEADLINE_METRICS,
    LOWER_IS_BETTER,
    N_OPTIONS,
    OPTION_MATCHING_MODES,
    SECONDARY_BLOCK,
    SECONDARY_KEYS,
    EmptyInputWarning,
    bleu,
    check_option_matching,
    classification_correct,
    cloze_correct,
    cloze_needle,
    generation_question_scores,
    generation_secondary,
    match_option,
    reply_score,
    rouge_l,
)
