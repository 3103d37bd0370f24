"""The benchmark's verdicts on a question pair as the Space shows them: each reply judged by the benchmark's
rule, the pair's outcome (which modality still knows), and two models compared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from umu_hf.scoring import ALIGNMENT_KEYS, alignment_key

if TYPE_CHECKING:

    from umu_hf.evaluation.items import Question



#: the 2x2 alignment table's cells (:data:`umu_hf.scoring.ALIGNMENT_KEYS`) in words: the table's column
#: header, and what a model that lands there did with the question
ALIGNMENT_LABELS: dict[str, str] = dict(
    zip(ALIGNMENT_KEYS, ("both right", "only unimodal", "only multimodal", "both wrong"), strict=True)
)


OUTCOMES: dict[str, str] = dict(
    zip(
        ALIGNMENT_KEYS,
        ("still knows in both", "forgot with the image only", "forgot in text only", "forgot in both"),
        strict=True,
    )
)


#: the modalities in words, as the Compare grid's columns
MODALITY_LABELS: dict[str, str] = {
    "unimodal": "unimodal: text only",
    "multimodal": "multimodal: with the portrait",
}


@dataclass(frozen=True)
class Verdict:
    """How the benchmark judges one reply: ``correct`` (classification, cloze) or ``score`` (generation)."""

    text: str
    correct: bool | None = None
    score: float | None = None


def judge(question: Question, reply: str) -> Verdict:
    """The benchmark's verdict on ``reply`` (docs/protocol.md, via :meth:`Question.score`), with the rule in words."""
    from umu_hf.scoring import cloze_needle, match_option

    result = question.score(reply)
    if "score" in result:
        score = float(result["score"])
        return Verdict(
            f"ROUGE-L F1 **{score:.3f}** against the reference (generation is scored, not marked)",
            score=score,
        )
    correct = bool(result["correct"])
    mark = "✓ correct" if correct else "✗ wrong"
    if question.task == "classification":
        mode = question.option_matching
        rule = f"the reply must equal the correct option text ({mode} matching)"
        if mode == "closest":
            rule += f"; it is closest to option “{match_option(reply, question.options or (), mode)}”"
    else:
        rule = f"the reply must contain “{cloze_needle(question.reference)}”"
    return Verdict(f"**{mark}**: {rule}", correct=correct)


def _options(options: Sequence[str]) -> str:
    return " · ".join(f"{letter}. {text}" for letter, text in zip("ABCD", options, strict=False))


def describe_pair(pair: Mapping[str, Question]) -> str:
    """Markdown of a question pair (by modality): what is asked in text only and with the portrait, and the
    options (once when both modalities share them)."""
    uni, multi = pair["unimodal"], pair["multimodal"]
    lines = [
        f"**{uni.task}** question pair on the **{uni.set_name}** set (profile ID {uni.profile_id}, "
        f"“{uni.key}”):",
        "",
        f"- **{MODALITY_LABELS['unimodal']}**: {uni.question}",
        f"- **{MODALITY_LABELS['multimodal']}**: {multi.question}",
    ]
    if uni.options and uni.options == multi.options:
        lines += ["", f"Options: {_options(uni.options)}"]
    elif uni.options or multi.options:
        lines += [
            "",
            *(f"Options ({q.modality}): {_options(q.options or ())}" for q in (uni, multi)),
        ]
    return "\n".join(lines)


def reference_text(pair: Mapping[str, Question]) -> str:
    """The reference answer of a pair: once, or per modality when they differ."""
    uni, multi = pair["unimodal"], pair["multimodal"]
    if uni.reference == multi.reference:
        return uni.reference
    return f"text only: {uni.reference} | with the portrait: {multi.reference}"


def outcome(by_modality: Mapping[str, Verdict]) -> str:
    """What one model did with a question pair, in words: its cell of the 2x2 alignment table
    (:data:`OUTCOMES`) for classification and cloze; for generation, which is not marked, both ROUGE-L
    scores."""
    uni, multi = by_modality["unimodal"], by_modality["multimodal"]
    if uni.correct is None or multi.correct is None:
        return (
            f"ROUGE-L {uni.score or 0.0:.3f} in text only, {multi.score or 0.0:.3f} with the image "
            "(generation is scored, not marked right or wrong)"
        )
    return OUTCOMES[alignment_key(uni.correct, multi.correct)]


@dataclass
class Comparison:
    """One question put to several models: their replies and verdicts, by model name."""

    question: Question
    replies: dict[str, str]
    verdicts: dict[str, Verdict]


@dataclass
class PairComparison:
    """One question pair put to several models: a :class:`Comparison` per modality (``unimodal``,
    ``multimodal``)."""

    by_modality: dict[str, Comparison]

    @property
    def pair(self) -> dict[str, Question]:
        return {modality: c.question for modality, c in self.by_modality.items()}

    def verdicts(self, name: str) -> dict[str, Verdict]:
        """Model ``name``'s verdict in each modality."""
        return {modality: c.verdicts[name] for modality, c in self.by_modality.items()}

    def outcome(self, name: str) -> str:
        """:func:`outcome` of model ``name``."""
        return outcome(self.verdicts(name))
