"""Training examples and batches for fine-tuning and unlearning (SPEC 2.3 and 5).

An *example* is one QA pair of a profile in both modalities: the image + multimodal question (``MM_QA``) and the
text-only question (``UM_QA``), optionally joined by a retain example. The collator turns a list of examples into
one flat dict of tensors, ``{stream}_{mm|um}_{field}`` (e.g. ``forget_mm_input_ids``, ``retain_um_labels``), which
the trainers split again by prefix. Labels cover the answer tokens only (prompt, padding and image tokens are
``-100``); ``label_mode="full"`` reproduces the original scripts' whole-sequence labels.

Portraits are decoded once when the dataset is built and shared by every batch.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from umu_hf.errors import DataError

IGNORE_INDEX = -100
MODALITIES = ("mm", "um")  # multimodal (with image), unimodal (text only)
LABEL_MODES = ("answer", "full")


@dataclass(frozen=True)
class QAPair:
    """One training question of a profile; ``with_image`` for the multimodal side."""

    profile_id: int
    question: str
    answer: str
    with_image: bool


def load_refusals() -> list[str]:
    """The refusal answers shipped with the package (``umu_hf/resources/refusals.txt``), one per line."""
    text = resources.files("umu_hf").joinpath("resources/refusals.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def decode_images(split: Any) -> dict[int, Any]:
    """``{ID: RGB PIL image}`` of a split, each portrait decoded exactly once."""
    images = {}
    for row in split:
        image = row["image"]
        if image is None:
            raise DataError(f"profile ID {row['ID']}: field 'image' is empty; every profile needs its portrait")
        images[int(row["ID"])] = image.convert("RGB")
    return images


def paired_qa(split: Any, name: str = "split") -> list[tuple[QAPair, QAPair]]:
    """Flatten a split into (multimodal, unimodal) pairs: the i-th MM_QA and UM_QA pair of each profile.

    When a profile has more pairs in one modality, the shorter list is cycled so every pair is seen.
    """
    pairs: list[tuple[QAPair, QAPair]] = []
    for row in split.select_columns(["ID", "MM_QA", "UM_QA"]):
        pid, mm, um = int(row["ID"]), row["MM_QA"], row["UM_QA"]
        if not mm or not um:
            missing = "MM_QA" if not mm else "UM_QA"
            raise DataError(f"{name}: profile ID {pid} has no {missing} pairs; both modalities are needed for training")
        for i in range(max(len(mm), len(um))):
            m, u = mm[i % len(mm)], um[i % len(um)]
            pairs.append(
                (
                    QAPair(pid, m["question"], m["answer"], True),
                    QAPair(pid, u["question"], u["answer"], False),
                )
            )
    return pairs


def subsample_retain(pairs: Sequence[Any], retain_fraction: float, seed: int = 42) -> list[Any]:
    """The original scripts' retain sub-sampling: ``int(len * (1 - p) / p)`` pairs, ``p = retain_fraction``.

    >>> len(subsample_retain(list(range(950)), 0.95))
    50
    """
    if not 0 < retain_fraction < 1:
        raise ValueError(f"retain_fraction must be in (0, 1), got {retain_fraction}")
    k = min(len(pairs), int(len(pairs) * (1 - retain_fraction) / retain_fraction))
    return random.Random(seed).sample(list(pairs), k)


class QADataset:
    """Examples ``{"index", "<key>": (mm_pair, um_pair), ...}`` with images decoded once.

    ``primary`` is iterated (one example per pair); ``secondary`` streams (the retain set) are cycled alongside,
    so every step sees a forget batch and a retain batch.
    """

    def __init__(
        self,
        primary: tuple[str, Sequence[tuple[QAPair, QAPair]]],
        images: Mapping[int, Any],
        secondary: Mapping[str, Sequence[tuple[QAPair, QAPair]]] | None = None,
    ) -> None:
        self.key, self.pairs = primary
        if not self.pairs:
            raise DataError(f"no '{self.key}' training pairs: the split is empty")
        self.secondary = {k: list(v) for k, v in (secondary or {}).items()}
        for key, value in self.secondary.items():
            if not value:
                raise DataError(f"no '{key}' training pairs: the split is empty")
        self.images = images

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        example: dict[str, Any] = {"index": index, self.key: self.pairs[index]}
        for key, value in self.secondary.items():
            example[key] = value[index % len(value)]
        return example


class UMUCollator:
    """Batch examples into ``{stream}_{mm|um}_{field}`` tensors through a model adapter.

    ``streams`` maps an output stream to ``(example key, target)``, target ``"answer"`` (the pair's answer) or
    ``"refusal"`` (a refusal from ``refusals``, chosen by example index so runs are reproducible).
    """

    def __init__(
        self,
        adapter: Any,
        images: Mapping[int, Any],
        streams: Mapping[str, tuple[str, str]],
        label_mode: str = "answer",
        refusals: Sequence[str] | None = None,
    ) -> None:
        if label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
        self.adapter = adapter
        self.images = images
        self.streams = dict(streams)
        self.label_mode = label_mode
        self.refusals = list(refusals) if refusals is not None else load_refusals()

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        batch: dict[str, Any] = {}
        for stream, (key, target) in self.streams.items():
            for m, modality in enumerate(MODALITIES):
                pairs = [ex[key][m] for ex in examples]
                answers = [
                    self.refusals[ex["index"] % len(self.refusals)] if target == "refusal" else p.answer
                    for ex, p in zip(examples, pairs, strict=True)
                ]
                encoded = self.encode(pairs, answers)
                batch.update({f"{stream}_{modality}_{k}": v for k, v in encoded.items()})
        return batch

    def encode(self, pairs: Sequence[QAPair], answers: Sequence[str]) -> dict[str, Any]:
        """Tokenise prompt + answer (right padding) and mask everything but the scored tokens."""
        with_image = pairs[0].with_image
        texts = [self.adapter.train_example(p.question, a, with_image) for p, a in zip(pairs, answers, strict=True)]
        images = [self.images[p.profile_id] for p in pairs] if with_image else None
        full = dict(self.adapter.encode([t[1] for t in texts], images, padding_side="right"))
        input_ids, attention = full["input_ids"], full["attention_mask"]
        labels = input_ids.masked_fill(attention == 0, IGNORE_INDEX)
        image_token = getattr(self.adapter.processor, "image_token_id", None)
        if image_token is not None:
            labels = labels.masked_fill(input_ids == image_token, IGNORE_INDEX)
        if self.label_mode == "answer":
            prompt = self.adapter.encode([t[0] for t in texts], images, padding_side="right")
            prompt_len = prompt["attention_mask"].sum(-1)
            positions = self._arange_like(input_ids)
            labels = labels.masked_fill(positions < prompt_len.unsqueeze(-1), IGNORE_INDEX)
        full["labels"] = labels
        return full

    @staticmethod
    def _arange_like(ids: Any) -> Any:
        import torch

        return torch.arange(ids.size(1), device=ids.device).unsqueeze(0).expand_as(ids)
