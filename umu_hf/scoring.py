"""The UMU-Bench metric math (docs/protocol.md, Evaluation), written once.

Everything that scores replies — the evaluation runner, the ``evaluate`` module ``metrics/umu_bench``, the Space —
calls these functions, so the rules cannot drift apart. All metrics are in percent (0-100).

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

import difflib
import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from umu_hf.errors import UmuError

OPTION_MATCHING_MODES: tuple[str, ...] = ("exact", "closest")
N_OPTIONS = 4
DEFAULT_SEED = 42
DEFAULT_N_RESAMPLES = 1000
#: the 2x2 alignment table of :func:`binary_pair_metrics` (percent of the question pairs): right in both
#: modalities, only in the unimodal one, only in the multimodal one, in neither (see :func:`alignment_key`)
ALIGNMENT_KEYS: tuple[str, ...] = ("both_correct", "only_unimodal", "only_multimodal", "both_wrong")
#: keys of :func:`binary_pair_metrics` (classification and cloze), in report order
BINARY_KEYS: tuple[str, ...] = ("AccF", "AccR", "unimodal_acc", "multimodal_acc", *ALIGNMENT_KEYS, "n")
#: keys of :func:`generation_pair_metrics`, in report order
GENERATION_KEYS: tuple[str, ...] = ("RLF", "RLR", "unimodal_rougeL", "multimodal_rougeL", "n")
#: the secondary generation numbers of the original (per question in [0, 1]; means per modality in percent)
SECONDARY_KEYS: tuple[str, ...] = ("bleu", "rouge1", "rouge2")
#: name of the block that holds the per-modality means of :data:`SECONDARY_KEYS` (not headline metrics)
SECONDARY_BLOCK = "secondary"
#: headline metric per task and evaluation set (docs/protocol.md, Metrics)
HEADLINE_METRICS: dict[str, dict[str, str]] = {
    "classification": {"forget": "AccF", "retain": "AccR", "real": "AccR"},
    "cloze": {"forget": "AccF", "retain": "AccR", "real": "AccR"},
    "generation": {"forget": "RLF", "retain": "RLR", "real": "RLR"},
}
#: headline metrics where a lower value is better (forgetting); the others are better when higher
LOWER_IS_BETTER: frozenset[str] = frozenset({"AccF", "RLF"})
# bootstrap resamples are drawn in chunks of at most this many indices, to bound memory
_BOOTSTRAP_CHUNK_CELLS = 2_000_000


class EmptyInputWarning(UserWarning):
    """Scores were asked for zero questions; the metrics are NaN."""


# ---------------------------------------------------------------------------------------------------------------
# per question rules


def check_option_matching(mode: Any) -> str:
    """Return ``mode`` if it is a known option-matching mode, else raise :class:`UmuError`."""
    if mode not in OPTION_MATCHING_MODES:
        raise UmuError(f"option_matching must be one of {list(OPTION_MATCHING_MODES)}, got {mode!r}")
    return mode


def match_option(reply: str, options: Sequence[str], mode: str = "exact") -> str:
    """The answer a reply stands for: the stripped reply (``exact``) or the most similar option text (``closest``).

    ``closest`` uses ``difflib.SequenceMatcher(None, reply, option).ratio()``, as the original benchmark does on
    the real-person set; ties go to the earliest option.
    """
    check_option_matching(mode)
    reply = reply.strip()
    if mode == "exact":
        return reply
    if not options:
        raise UmuError("options is empty: closest matching needs the option texts to choose from")
    ratios = [difflib.SequenceMatcher(None, reply, option).ratio() for option in options]
    return options[ratios.index(max(ratios))]


def classification_correct(reply: str, answer: str, options: Sequence[str], mode: str = "exact") -> bool:
    """Whether a multiple-choice reply is right: the matched answer equals the correct option text (stripped)."""
    return match_option(reply, options, mode).strip() == answer.strip()


def cloze_needle(answer: str) -> str:
    """What a cloze reply must contain: the answer up to its first period, lower-cased."""
    return answer.split(".")[0].lower()


def cloze_correct(reply: str, answer: str) -> bool:
    """Whether a fill-in-the-blank reply is right: ``answer.split('.')[0].lower() in reply.lower()``."""
    return cloze_needle(answer) in reply.lower()


@functools.cache
def _rouge_l_scorer():  # -> rouge_score.rouge_scorer.RougeScorer
    """One ROUGE-L scorer with the Porter stemmer, built on first use (rouge_score imports nltk: not at import)."""
    try:
        from rouge_score import rouge_scorer
    except ModuleNotFoundError as exc:  # pragma: no cover - rouge-score is a dependency of umu-hf
        raise ModuleNotFoundError("ROUGE-L needs the rouge-score package: pip install rouge-score") from exc
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(reply: str, reference: str) -> float:
    """ROUGE-L F1 of ``reply`` against ``reference`` in [0, 1] (``rouge_score``, stemmer on, as the original does, docs/protocol.md)."""
    return float(_rouge_l_scorer().score(reference, reply)["rougeL"].fmeasure)


@functools.cache
def _rouge_scorer():  # -> rouge_score.rouge_scorer.RougeScorer
    """ROUGE-1, ROUGE-2 and ROUGE-L with the Porter stemmer, as the original's generation scorer."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


@functools.cache
def _bleu_functions():  # -> (sentence_bleu, smoothing function)
    """nltk's sentence BLEU and smoothing method 1, imported on first use (nltk is slow to import)."""
    try:
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    except ModuleNotFoundError as exc:  # pragma: no cover - nltk is a dependency of umu-hf
        raise ModuleNotFoundError("BLEU needs the nltk package: pip install nltk") from exc
    return sentence_bleu, SmoothingFunction().method1


def bleu(reply: str, reference: str) -> float:
    """Sentence BLEU of ``reply`` against ``reference`` in [0, 1], as the original computes it: whitespace
    tokens, one reference, default 4-gram weights, ``SmoothingFunction().method1``."""
    sentence_bleu, smoothing = _bleu_functions()
    return float(sentence_bleu([reference.split()], reply.split(), smoothing_function=smoothing))


def generation_question_scores(reply: str, reference: str) -> dict[str, float]:
    """Every generation number of one reply, each in [0, 1]: ``rougeL`` (the headline's), and the secondary
    ``bleu``, ``rouge1``, ``rouge2`` (F1, stemmer on)."""
    rouge = _rouge_scorer().score(reference, reply)
    return {
        "rougeL": float(rouge["rougeL"].fmeasure),
        "bleu": bleu(reply, reference),
        "rouge1": float(rouge["rouge1"].fmeasure),
        "rouge2": float(rouge["rouge2"].fmeasure),
    }


def generation_secondary(
    unimodal: Sequence[Mapping[str, float]], multimodal: Sequence[Mapping[str, float]]
) -> dict[str, dict[str, float]]:
    """Per-modality means, in percent, of the secondary numbers (:data:`SECONDARY_KEYS`) of per-question
    score dicts (:func:`generation_question_scores`): ``{"unimodal": {"bleu": …, "rouge1": …, "rouge2": …},
    "multimodal": {…}}``; NaN for a modality without questions."""
    return {
        modality: {
            key: _percent(np.asarray([float(s[key]) for s in scores], dtype=float)) for key in SECONDARY_KEYS
        }
        for modality, scores in (("unimodal", unimodal), ("multimodal", multimodal))
    }


# ---------------------------------------------------------------------------------------------------------------
# validation (shared by the library functions and the evaluate module)


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
    lists = {
        "unimodal_predictions": _as_list(unimodal_predictions, "unimodal_predictions"),
        "multimodal_predictions": _as_list(multimodal_predictions, "multimodal_predictions"),
        "references": _as_list(references, "references"),
    }
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
    _check_strings(lists["unimodal_predictions"], "unimodal_predictions", "the model's reply")
    _check_strings(lists["multimodal_predictions"], "multimodal_predictions", "the model's reply")
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


# ---------------------------------------------------------------------------------------------------------------
# pair metrics


def _percent(values: np.ndarray) -> float:
    return 100.0 * float(np.mean(values)) if len(values) else math.nan


def _bootstrap_cis(
    columns: dict[str, np.ndarray], confidence_level: float, seed: int, n_resamples: int
) -> dict[str, list[float]]:
    """Percentile bootstrap interval (in percent) of the mean of each per-question column, resampling questions.

    All columns share the same resamples (questions are drawn once), seeded by ``seed``.
    """
    n = len(next(iter(columns.values())))
    if n == 0:
        return {f"{name}_ci": [math.nan, math.nan] for name in columns}
    rng = np.random.default_rng(seed)
    means = {name: np.empty(n_resamples) for name in columns}
    chunk = max(1, _BOOTSTRAP_CHUNK_CELLS // n)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        index = rng.integers(0, n, size=(stop - start, n))
        for name, values in columns.items():
            means[name][start:stop] = values[index].mean(axis=1)
    tail = (1.0 - confidence_level) / 2.0
    return {
        f"{name}_ci": [100.0 * float(np.quantile(m, tail)), 100.0 * float(np.quantile(m, 1.0 - tail))]
        for name, m in means.items()
    }


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
