"""A training question of a profile (:class:`QAPair`) and its conversational prompt–completion form, TRL's
format (:mod:`umu_hf.data.sft`): one place for both directions, read by the collator and the row builder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from umu_hf.errors import DataError


@dataclass(frozen=True)
class QAPair:
    """One training question of a profile; ``with_image`` for the multimodal side."""

    profile_id: int
    question: str
    answer: str
    with_image: bool


def conversation(pair: QAPair) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """TRL's conversational ``(prompt, completion)`` of one pair: the user turn (an image slot first when the pair
    is asked with the portrait, then the question) and the assistant turn (the answer)."""
    content: list[dict[str, Any]] = [{"type": "image"}] if pair.with_image else []
    content.append({"type": "text", "text": pair.question})
    prompt = [{"role": "user", "content": content}]
    completion = [{"role": "assistant", "content": [{"type": "text", "text": pair.answer}]}]
    return prompt, completion


def qa_pair(prompt: Sequence[Mapping[str, Any]], completion: Sequence[Mapping[str, Any]], profile_id: Any,
            where: str = "row") -> QAPair:
    """The :class:`QAPair` a conversational prompt–completion asks: the user turn's text, whether it holds an image
    slot, and the assistant turn's text. One clear error for anything else."""
    try:
        (user,), (assistant,) = prompt, completion
        parts = user["content"] if isinstance(user["content"], list) else [{"type": "text", "text": user["content"]}]
        texts = [p["text"] for p in parts if p.get("type") == "text"]
        with_image = any(p.get("type") == "image" for p in parts)
        answer = assistant["content"]
        answer = answer if isinstance(answer, str) else "".join(p["text"] for p in answer if p.get("type") == "text")
    except (TypeError, KeyError, ValueError) as exc:
        raise DataError(
            f"{where}: expected TRL's conversational prompt-completion (one user turn with an optional image slot "
            f"and the question, one assistant turn with the answer), got prompt={prompt!r}, completion={completion!r}"
        ) from exc
    if len(texts) != 1 or user.get("role") != "user" or assistant.get("role") != "assistant":
        raise DataError(f"{where}: the user turn must hold exactly one question text and the completion one "
                        f"assistant turn; got prompt={prompt!r}, completion={completion!r}")
    if profile_id is None:
        raise DataError(f"{where}: no 'profile_id'; each row names its profile (the portrait is encoded once per "
                        "profile and question)")
    return QAPair(int(profile_id), texts[0], answer, with_image)


def row_pairs(row: Mapping[str, Any], where: str = "row") -> list[QAPair]:
    """The pairs one row asks: its prompt–completion, then (paired rows) its unimodal one."""
    pairs = [qa_pair(row["prompt"], row["completion"], row.get("profile_id"), where)]
    if row.get("unimodal_prompt") is not None:
        pairs.append(qa_pair(row["unimodal_prompt"], row["unimodal_completion"], row.get("profile_id"), where))
    return pairs
