"""Multiple choice by option log-likelihood (``--classification-scoring loglik``; not the original protocol).

Why: the original protocol generates a reply and compares strings, so a model that knows the answer but words
it differently ("B", "B. Paris", "Paris.") scores as wrong. Here each of the four options is scored as the
model's answer to the same classification prompt, and the option with the highest *length-normalised*
log-likelihood (mean log-probability per answer token) is the choice. One forward pass per batch (4 sequences
per question), no generation. Each option follows the question's evaluation prompt laid out as in training
(:meth:`ModelAdapter.task_example`: the prompt, then the option), and only the **option's own tokens** are
averaged — the end-of-turn marker (EOS, a chat template's end of turn) that training may append is not scored.

Why: this is the definition the docs give (the mean log-probability per option token), and the truth ratio
(:mod:`umu_hf.privacy.truth_ratio`) uses the same scores, so one code path serves both. Original-protocol models
never trained an end marker (no EOS in the training text), so for a short option ("1990": two or three tokens)
one untrained token would dominate the mean and blur the comparison between options. The cost: an option that is
a prefix of a longer one is not penalised for the text that would follow it (the options of one item rarely are).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from umu_hf.evaluation.items import Question


def continuation_length(tokenizer: Any, prompt: str, full: str, add_special_tokens: bool) -> int:
    """Number of tokens of ``full`` after ``prompt`` (image placeholders stay single tokens here; their
    expansion happens inside the prompt, so the count is the same after the processor)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=add_special_tokens)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=add_special_tokens)["input_ids"]
    common = 0
    for a, b in zip(
        prompt_ids, full_ids, strict=False
    ):  # a merge across the boundary shortens the shared prefix
        if a != b:
            break
        common += 1
    return max(1, min(len(full_ids) - common, len(full_ids) - 1))  # at least one token, and one before it


def option_logliks(
    model: Any, adapter: Any, questions: Sequence[Question], images: Sequence[Any] | None
) -> list[list[float]]:
    """Mean log-probability of each option's answer tokens, per question (one forward for the whole batch).

    ``questions`` are classification questions of one modality; ``images`` one portrait per question for
    multimodal ones, else None.
    """
    import torch

    texts: list[str] = []
    lengths: list[int] = []
    for question in questions:
        for option in question.options or ():
            prompt, full = adapter.task_example(
                "classification", question.question, option, question.with_image, question.options
            )
            texts.append(full)
            lengths.append(continuation_length(adapter.tokenizer, prompt, full, adapter.add_special_tokens))
    n_options = len(texts) // max(1, len(questions))
    batch_images = None if images is None else [image for image in images for _ in range(n_options)]
    inputs = adapter.encode(texts, batch_images, padding_side="right").to(model.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
    ends = inputs["attention_mask"].sum(-1).tolist()  # right padding: real tokens are [0, end)
    # logits at position t predict token t+1: the answer tokens [end-c, end) need logits [end-c-1, end-1)
    first = min(end - c - 1 for end, c in zip(ends, lengths, strict=True))
    last = max(ends) - 1
    kwargs: dict[str, Any] = {}
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        kwargs["logits_to_keep"] = torch.arange(first, last, device=model.device)
        offset = first
    else:
        offset = 0
    with torch.inference_mode():
        logits = model(**inputs, **kwargs).logits
    scores: list[float] = []
    for row, (end, count) in enumerate(zip(ends, lengths, strict=True)):
        start = end - count - 1
        window = logits[row, start - offset : end - 1 - offset].float().log_softmax(-1)
        targets = inputs["input_ids"][row, start + 1 : end].to(window.device)
        scores.append(float(window.gather(-1, targets.unsqueeze(-1)).mean()))
    return [scores[i : i + n_options] for i in range(0, len(scores), n_options)]


def choose(scores: Sequence[float], options: Sequence[str]) -> str:
    """The option with the highest score (the first one on ties)."""
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    return options[best]
