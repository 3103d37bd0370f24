"""Accuracy probes during training (``--eval_every``): forget and retain accuracy in both modalities, as the
evaluation scores it, cheaply enough to run every few steps.

Why: one learning rate gives one point; the path a method takes from "knows everything" to "forgot the forget
set" — and what it takes of the retain set on the way — is what tells methods apart. A probe asks the
classification and cloze questions of the forget and retain sets, unimodal and multimodal, with the evaluation's
own prompts and rules (:meth:`umu_hf.evaluation.items.Question.score`: the greedy reply must *be* the right option,
or *contain* the cloze answer), only with shorter generation budgets: a classification reply gets the longest
option's tokens plus :data:`SLACK_TOKENS` (a longer reply cannot equal an option), a cloze reply
:data:`CLOZE_TOKENS` (the vanilla's right replies, a sentence naming the person, take about 15; the evaluation
allows 50, so the probe can only be stricter). No log-likelihood shortcut: option likelihoods rank the right
option first long after the model stopped *saying* it, which is not what the benchmark counts.

Prompts, tokens and portraits are prepared once (:class:`AccuracyProbe`); each call is batched greedy generation
in eval mode under ``torch.no_grad``, and leaves the model in the mode it found it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from umu_hf.data.schema import MODALITIES
from umu_hf.errors import UmuError

#: what the probe scores, in report order
PROBE_SETS: tuple[str, ...] = ("forget", "retain")
PROBE_TASKS: tuple[str, ...] = ("classification", "cloze")
#: new tokens of a cloze reply
CLOZE_TOKENS = 24
#: new tokens of a classification reply beyond its longest option's
SLACK_TOKENS = 2
#: prompts per generation: 32, not 64: the probe runs inside training, where its generation's transient memory
#: adds to the training's (a one-seed KL bench stage: peak 722,576 KiB instead of 757,064, as fast, every trajectory
#: point the same)
PROBE_BATCH = 32
SCORING = (
    "the evaluation's prompts and rules on greedy replies (classification: the reply is the right option; cloze: "
    f"the reply contains the answer), budgets: the longest option + {SLACK_TOKENS} tokens, cloze {CLOZE_TOKENS}"
)


def probe_keys() -> list[str]:
    """``set/task/modality`` of every probed accuracy, in report order."""
    return [f"{s}/{t}/{m}" for s in PROBE_SETS for t in PROBE_TASKS for m in MODALITIES]


@dataclass
class _Batch:
    """One batched generation: the left-padded prompts, their questions and the token budget."""

    key: str
    inputs: dict[str, Any]
    questions: list[Any]
    max_new_tokens: int


class AccuracyProbe:
    """The probe of one model on fixed forget and retain splits (module docstring).

    ``splits``: ``{"forget": split, "retain": split}`` (loaded splits in the Hub schema); ``people``: probe only the
    first ``people`` profiles of each split (None: all); ``batch_size``: prompts per generation; ``max_new_tokens``:
    a fixed budget per task instead of the probe's (e.g. the evaluation's, to reproduce it exactly).
    """

    def __init__(self, adapter: Any, splits: Mapping[str, Any], *, people: int | None = None,
                 batch_size: int = PROBE_BATCH, max_new_tokens: Mapping[str, int] | None = None) -> None:
        from umu_hf.data.decode import decode_images
        from umu_hf.evaluation.items import iter_items

        if batch_size < 1:
            raise UmuError(f"the probe's batch_size must be >= 1, got {batch_size}")
        self.adapter = adapter
        self.fixed_budgets = dict(max_new_tokens or {})
        self.batches: list[_Batch] = []
        self.counts: dict[str, int] = {}
        for set_name in PROBE_SETS:
            if set_name not in splits:
                raise UmuError(f"the accuracy probe needs a {set_name!r} split, got {sorted(splits)}")
            split = splits[set_name]
            images = decode_images(split)
            ids = [int(pid) for pid in split["ID"]]
            questions = [q for q in iter_items(split, set_name, tasks=PROBE_TASKS) if people is None or q.row < people]
            for task in PROBE_TASKS:
                for modality in MODALITIES:
                    chosen = [q for q in questions if q.task == task and q.modality == modality]
                    key = f"{set_name}/{task}/{modality}"
                    self.counts[key] = len(chosen)
                    for start in range(0, len(chosen), batch_size):
                        chunk = chosen[start : start + batch_size]
                        portraits = [images[ids[q.row]] for q in chunk] if modality == "multimodal" else None
                        prompts = [adapter.prompt(task, q.question, q.with_image, q.options) for q in chunk]
                        inputs = dict(adapter.encode(prompts, portraits, padding_side="left"))
                        self.batches.append(_Batch(key, inputs, chunk, self._budget(task, chunk)))

    def _budget(self, task: str, questions: Sequence[Any]) -> int:
        if task in self.fixed_budgets:
            return int(self.fixed_budgets[task])
        if task != "classification":
            return CLOZE_TOKENS
        tokenizer = self.adapter.tokenizer
        longest = max(len(tokenizer(" " + option, add_special_tokens=False)["input_ids"])
                      for q in questions for option in (q.options or ("",)))
        return longest + SLACK_TOKENS

    def __call__(self, model: Any) -> dict[str, float]:
        """``{"set/task/modality": accuracy in %}`` of ``model`` now (module docstring)."""
        import torch

        was_training = model.training
        device = next(model.parameters()).device
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
        right = dict.fromkeys(self.counts, 0)
        model.eval()
        try:
            with torch.no_grad():
                for batch in self.batches:
                    inputs = {k: v.to(device) for k, v in batch.inputs.items()}
                    if "pixel_values" in inputs and dtype is not None:
                        inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
                    kwargs = self.adapter.generation_kwargs(model, batch.max_new_tokens)
                    sequences = model.generate(**inputs, **kwargs)
                    replies = self.adapter.decode_replies(sequences, inputs["input_ids"].shape[1])
                    right[batch.key] += sum(bool(q.score(r)["correct"]) for q, r in zip(batch.questions, replies,
                                                                                        strict=True))
        finally:
            model.train(was_training)
        return {k: 100.0 * right[k] / self.counts[k] if self.counts[k] else float("nan") for k in probe_keys()
                if k in self.counts}
