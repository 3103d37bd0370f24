"""Training examples and batches for fine-tuning and unlearning (docs/protocol.md, "Training").

Two ways to feed a method, chosen by the protocol's ``streams`` feature:

- ``independent`` (the original scripts): multimodal and unimodal pairs are two flat lists, each shuffled on its
  own every epoch (:class:`StreamDataset`, one item = one optimiser step of every stream it serves); the retain
  lists are sub-sampled with seed 42 each;
- ``paired`` (umu-hf): one example is a profile's i-th ``MM_QA`` pair joined with its i-th ``UM_QA`` pair, and a
  retain example cycles beside each forget example (:class:`QADataset`).

The collator turns either into one flat dict of tensors, ``{stream}_{mm|um}_{field}`` (e.g.
``forget_mm_input_ids``, ``retain_um_labels``), which the trainers split again by prefix. ``label_mode="full"``
(the original) labels every non-pad token; ``"answer"`` only the answer tokens. Image positions are never
labelled. Portraits are decoded once when the dataset is built and shared by every batch.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from umu_hf.data.pairs import QAPair, row_pairs
from umu_hf.errors import DataError

IGNORE_INDEX = -100
#: the modality tags of batch keys (``{stream}_{mm|um}_{field}``): ``"mm"`` multimodal (with image), ``"um"``
#: unimodal (text only); not :data:`umu_hf.data.schema.MODALITIES`, the dataset's names in the dataset's order
STREAM_MODALITIES: tuple[str, ...] = ("mm", "um")
LABEL_MODES = ("answer", "full")
#: processor outputs laid out along the token sequence (padded when batched); every other tensor is stacked
SEQUENCE_KEYS = frozenset({"input_ids", "attention_mask", "token_type_ids", "mm_token_type_ids"})
#: the stream key of fine-tuning rows in TRL's format (:mod:`umu_hf.data.sft`)
SFT_STREAM = "train"


def load_refusals(path: str | Path | None = None) -> list[str]:
    """Refusal answers, one per line (``#`` lines are comments): the file at ``path``, or the pool shipped with
    the package (``umu_hf/resources/refusals.txt``, written for umu-hf)."""
    if path is None:
        text = resources.files("umu_hf").joinpath("resources/refusals.txt").read_text(encoding="utf-8")
    else:
        file = Path(path)
        if not file.is_file():
            raise DataError(f"refusals file {path}: no such file; give a text file with one refusal per line")
        text = file.read_text(encoding="utf-8")
    refusals = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not refusals:
        raise DataError(f"refusals file {path}: no refusal in it; write one refusal per line")
    return refusals


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


def flat_qa(split: Any, column: str, with_image: bool, name: str = "split") -> list[QAPair]:
    """Every pair of ``column`` (``MM_QA`` or ``UM_QA``) of a split, profile by profile, in stored order — the
    original scripts' flattening. ``with_image`` attaches the portrait (the original vanilla fine-tuning also
    asks the ``UM_QA`` questions with it)."""
    pairs = []
    for row in split.select_columns(["ID", column]):
        pid, qa = int(row["ID"]), row[column]
        if not qa:
            raise DataError(f"{name}: profile ID {pid} has no {column} pairs; every profile needs them for training")
        pairs.extend(QAPair(pid, item["question"], item["answer"], with_image) for item in qa)
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


class StreamDataset:
    """The original scripts' data order: one item per optimiser step, holding that step's batch of each stream.

    ``streams`` maps ``(key, modality)`` (e.g. ``("forget", "mm")``) to a flat list of pairs. Every epoch each
    list is shuffled on its own (a permutation seeded by ``seed``, the epoch and the stream), cut into batches of
    ``batch_size`` (the last one may be smaller), and the streams are zipped: an epoch has as many steps as the
    stream with the fewest batches — as the original's ``zip`` of its DataLoaders. The Trainer reaches the epoch
    through :meth:`set_epoch` (see :class:`EpochSampler`).

    >>> pairs = [QAPair(i, "q", "a", False) for i in range(5)]
    >>> data = StreamDataset({("forget", "um"): pairs}, images={}, batch_size=2)
    >>> len(data), [len(data[i]["groups"][("forget", "um")]) for i in range(len(data))]
    (3, [2, 2, 1])
    """

    def __init__(
        self,
        streams: Mapping[tuple[str, str], Sequence[QAPair]],
        images: Mapping[int, Any],
        batch_size: int = 6,
        seed: int = 42,
    ) -> None:
        self.all_streams = {k: list(v) for k, v in streams.items()}
        if not any(self.all_streams.values()):
            raise DataError("no training pairs at all: the splits are empty")
        self.images = images
        self.keys = {key for key, _ in self.all_streams}
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0
        self._orders: dict[tuple[int, int, tuple[str, str]], list[int]] = {}

    def configure(self, batch_size: int, seed: int, keys: set[str] | None = None) -> StreamDataset:
        """Set the per-step batch size, the shuffling seed and which stream keys the method reads."""
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}")
        missing = set(keys or ()) - {key for key, _ in self.all_streams}
        if missing:
            raise DataError(f"the dataset has no '{sorted(missing)[0]}' stream; this method needs it")
        self.batch_size, self.seed = batch_size, seed
        self.keys = set(keys) if keys else {key for key, _ in self.all_streams}
        for (key, modality), pairs in self.streams.items():  # only the streams the method reads must have pairs
            if not pairs:
                raise DataError(
                    f"no '{key}' {'multimodal' if modality == 'mm' else 'unimodal'} training pairs: the split is "
                    "empty or its sub-sample has zero pairs (the original keeps int(n·(1−p)/p) retain pairs); use "
                    "more retain profiles or a method without a retain term"
                )
        return self

    @property
    def streams(self) -> dict[tuple[str, str], list[QAPair]]:
        return {k: v for k, v in self.all_streams.items() if k[0] in self.keys}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return min(-(-len(pairs) // self.batch_size) for pairs in self.streams.values())

    def _order(self, stream: tuple[str, str], n: int) -> list[int]:
        """The stream's permutation for this epoch and seed, drawn once and reused by every step."""
        key = (self.seed, self.epoch, stream)
        if key not in self._orders:
            order = list(range(n))
            random.Random(f"{self.seed}/{self.epoch}/{stream[0]}/{stream[1]}").shuffle(order)
            self._orders = {k: v for k, v in self._orders.items() if k[:2] == key[:2]}  # keep this epoch only
            self._orders[key] = order
        return self._orders[key]

    def __getitem__(self, step: int) -> dict[str, Any]:
        if not 0 <= step < len(self):
            raise IndexError(step)
        groups = {}
        for stream, pairs in self.streams.items():
            order = self._order(stream, len(pairs))[step * self.batch_size : (step + 1) * self.batch_size]
            groups[stream] = [pairs[i] for i in order]
        return {"step": step, "epoch": self.epoch, "groups": groups}


class EpochSampler:
    """Steps of a :class:`StreamDataset` in order, telling the dataset the epoch (the shuffling is its own)."""

    def __init__(self, dataset: StreamDataset) -> None:
        self.dataset = dataset

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        return iter(range(len(self.dataset)))


class UMUCollator:
    """Batch examples into ``{stream}_{mm|um}_{field}`` tensors through a model adapter.

    ``streams`` maps an output stream to ``(example key, target)``, target ``"answer"`` (the pair's answer) or
    ``"refusal"`` (a refusal drawn at random, per example and per modality, from ``refusals``; seeded by
    ``seed`` and the example's position, so a run is reproducible). The input is either a list of paired
    examples (:class:`QADataset`) or the one-item list of a :class:`StreamDataset` step.
    """

    def __init__(
        self,
        adapter: Any,
        images: Mapping[int, Any],
        streams: Mapping[str, tuple[str, str]],
        label_mode: str = "full",
        refusals: Sequence[str] | None = None,
        eos: bool = False,
        seed: int = 42,
    ) -> None:
        if label_mode not in LABEL_MODES:
            raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
        self.adapter = adapter
        self.images = dict(images)  # rows in TRL's format bring their portraits (:meth:`_groups` adds them)
        self.streams = dict(streams)
        self.label_mode = label_mode
        self.refusals = list(refusals) if refusals is not None else load_refusals()
        self.eos = eos
        self.seed = seed
        #: each (text, profile) encoded once: training asks the same pairs every epoch (see :meth:`_encode`)
        self._cache: dict[tuple[str, int | None], dict[str, Any]] = {}

    def _groups(self, examples: Sequence[Mapping[str, Any]]) -> tuple[dict[tuple[str, str], list[QAPair]], str]:
        """``{(key, modality): pairs}`` of a batch and a tag that identifies it (seeds the refusal draw)."""
        if len(examples) == 1 and "groups" in examples[0]:
            step = examples[0]
            return dict(step["groups"]), f"e{step['epoch']}s{step['step']}"
        if "prompt" in examples[0]:
            return self._row_groups(examples)
        keys = [k for k in examples[0] if k != "index"]
        groups = {
            (key, m): [ex[key][i] for ex in examples] for key in keys for i, m in enumerate(STREAM_MODALITIES)
        }
        return groups, "i" + ",".join(str(ex["index"]) for ex in examples)

    def _row_groups(self, rows: Sequence[Mapping[str, Any]]) -> tuple[dict[tuple[str, str], list[QAPair]], str]:
        """Rows in TRL's prompt–completion format (:mod:`umu_hf.data.sft`): every pair a row asks goes to the
        ``train`` stream of its modality (with the portrait: ``mm``; without: ``um``), in row order; the rows'
        portraits join the images the collator encodes."""
        import hashlib

        groups: dict[tuple[str, str], list[QAPair]] = {}
        for i, row in enumerate(rows):
            for pair in row_pairs(row, f"training row {i} of the batch"):
                if pair.with_image and pair.profile_id not in self.images:
                    if not row.get("images"):
                        raise DataError(f"training row {i} of the batch asks with an image but its 'images' is empty")
                    self.images[pair.profile_id] = row["images"][0]
                groups.setdefault((SFT_STREAM, "mm" if pair.with_image else "um"), []).append(pair)
        digest = hashlib.sha1("\n".join(p.question for g in groups.values() for p in g).encode()).hexdigest()
        return groups, "q" + digest[:12]

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        groups, tag = self._groups(examples)
        batch: dict[str, Any] = {}
        for stream, (key, target) in self.streams.items():
            for modality in STREAM_MODALITIES:
                pairs = groups.get((key, modality))
                if not pairs:
                    continue
                if target == "refusal":
                    rng = random.Random(f"{self.seed}/{tag}/{stream}/{modality}")
                    answers = [rng.choice(self.refusals) for _ in pairs]
                else:
                    answers = [p.answer for p in pairs]
                encoded = self.encode(pairs, answers)
                batch.update({f"{stream}_{modality}_{k}": v for k, v in encoded.items()})
        return batch

    def encode(self, pairs: Sequence[QAPair], answers: Sequence[str]) -> dict[str, Any]:
        """Tokenise prompt + answer (right padding) and mask everything but the scored tokens."""
        with_image = pairs[0].with_image
        texts = [
            self.adapter.train_example(p.question, a, with_image, eos=self.eos)
            for p, a in zip(pairs, answers, strict=True)
        ]
        full = self._encode([t[1] for t in texts], [p.profile_id for p in pairs] if with_image else None)
        input_ids, attention = full["input_ids"], full["attention_mask"]
        labels = input_ids.masked_fill(attention == 0, IGNORE_INDEX)
        image_token = getattr(self.adapter.processor, "image_token_id", None)
        if image_token is not None:
            labels = labels.masked_fill(input_ids == image_token, IGNORE_INDEX)
        if self.label_mode == "answer":
            prompt = self._encode([t[0] for t in texts], [p.profile_id for p in pairs] if with_image else None)
            prompt_len = prompt["attention_mask"].sum(-1)
            positions = self._arange_like(input_ids)
            labels = labels.masked_fill(positions < prompt_len.unsqueeze(-1), IGNORE_INDEX)
        full["labels"] = labels
        return full

    def _encode(self, texts: Sequence[str], profiles: Sequence[int] | None) -> dict[str, Any]:
        """``adapter.encode(texts, portraits, padding_side="right")``, assembled from per-example encodings that are
        computed once per (text, profile) and cached: tokenising and preprocessing the same portraits every step was
        a tenth of a training step. Sequence tensors (as long as ``input_ids``) are right-padded (``input_ids``
        with the pad token, others with 0), the rest concatenated along the batch, exactly as the processor batches
        them (:data:`SEQUENCE_KEYS` padded, the rest concatenated); a processor whose per-example tensors do not
        stack that way (images padded to the batch's largest) is called on the whole batch instead."""
        import torch

        keys = [(text, profiles[i] if profiles is not None else None) for i, text in enumerate(texts)]
        for key in keys:
            if key not in self._cache:
                image = None if key[1] is None else [self.images[key[1]]]
                self._cache[key] = dict(self.adapter.encode([key[0]], image, padding_side="right"))
        single = [self._cache[key] for key in keys]
        length = max(one["input_ids"].shape[1] for one in single)
        pad_id = getattr(self.adapter.tokenizer, "pad_token_id", None)
        batch: dict[str, Any] = {}
        for name in single[0]:
            parts = [one[name] for one in single]
            if name in SEQUENCE_KEYS:
                value = pad_id if name == "input_ids" else 0
                if value is None:
                    break
                parts = [torch.nn.functional.pad(p, (0, length - p.shape[1]), value=value) for p in parts]
            elif len({tuple(p.shape[1:]) for p in parts}) > 1:
                break
            batch[name] = torch.cat(parts, dim=0)
        else:
            return batch
        images = None if profiles is None else [self.images[pid] for pid in profiles]
        return dict(self.adapter.encode(list(texts), images, padding_side="right"))

    @staticmethod
    def _arange_like(ids: Any) -> Any:
        import torch

        return torch.arange(ids.size(1), device=ids.device).unsqueeze(0).expand_as(ids)
