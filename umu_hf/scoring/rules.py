"""Per-question rules and the names every scoring module shares (see :mod:`umu_hf.scoring`)."""

from __future__ import annotations

import difflib
import functools
import math
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


def _percent(values: np.ndarray) -> float:
    """The mean of 0/1 (or [0, 1]) values in percent; NaN for none."""
    return 100.0 * float(np.mean(values)) if len(values) else math.nan


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
def _stemming_tokenizer():  # -> rouge_score.tokenizers.Tokenizer
    """rouge_score's own tokenizer with the Porter stemmer (``use_stemmer=True``: the same tokens), remembering each
    word's stem: an evaluation stems the same few thousand words tens of thousands of times, and the stem is a pure
    function of the word (a third of the scoring time at the benchmark's size)."""
    from types import SimpleNamespace

    from nltk.stem import porter
    from rouge_score import tokenize, tokenizers

    stemmer = SimpleNamespace(stem=functools.lru_cache(maxsize=1 << 16)(porter.PorterStemmer().stem))

    class _Tokenizer(tokenizers.Tokenizer):
        def tokenize(self, text: str) -> list[str]:
            return tokenize.tokenize(text, stemmer)

    return _Tokenizer()


@functools.cache
def _rouge_l_scorer():  # -> rouge_score.rouge_scorer.RougeScorer
    """One ROUGE-L scorer with the Porter stemmer, built on first use (rouge_score imports nltk: not at import)."""
    try:
        from rouge_score import rouge_scorer
    except ModuleNotFoundError as exc:  # pragma: no cover - rouge-score is a dependency of umu-hf
        raise ModuleNotFoundError("ROUGE-L needs the rouge-score package: pip install rouge-score") from exc
    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_stemming_tokenizer())


def rouge_l(reply: str, reference: str) -> float:
    """ROUGE-L F1 of ``reply`` against ``reference`` in [0, 1] (``rouge_score``, stemmer on, as the original does, docs/protocol.md)."""
    return float(_rouge_l_scorer().score(reference, reply)["rougeL"].fmeasure)


@functools.cache
def _rouge_scorer():  # -> rouge_score.rouge_scorer.RougeScorer
    """ROUGE-1, ROUGE-2 and ROUGE-L with the Porter stemmer, as the original's generation scorer."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], tokenizer=_stemming_tokenizer())


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


def reply_score(
    task: str,
    reply: str,
    reference: str,
    options: Sequence[str] | None = None,
    option_matching: str = "exact",
) -> dict[str, Any]:
    """One reply to a question of ``task`` scored by the benchmark's rule, as the evaluation's prediction records
    hold it: ``{"correct": bool}`` (classification: :func:`classification_correct` against ``options`` with
    ``option_matching``; cloze: :func:`cloze_correct`) or, for generation, ``{"score": ROUGE-L F1, "bleu": …,
    "rouge1": …, "rouge2": …}`` (:func:`generation_question_scores`, all in [0, 1]).

    >>> reply_score("cloze", "Lyon, France", "Lyon.")
    {'correct': True}
    >>> reply_score("classification", "B. Paris", "Paris", ["Rome", "Paris", "Oslo", "Bern"], "closest")
    {'correct': True}
    """
    if task == "classification":
        return {"correct": classification_correct(reply, reference, options or (), option_matching)}
    if task == "cloze":
        return {"correct": cloze_correct(reply, reference)}
    if task == "generation":
        scores = generation_question_scores(reply, reference)
        return {"score": scores["rougeL"], **{key: scores[key] for key in SECONDARY_KEYS}}
    raise UmuError(f"unknown task {task!r}; expected classification, cloze or generation")


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
