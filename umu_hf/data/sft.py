"""Fine-tuning data in TRL's image prompt–completion format, for :class:`~umu_hf.trainers.finetune.FinetuneTrainer`
(a ``trl.SFTTrainer``).

A row is TRL's conversational prompt–completion example with its images::

    {"images": [portrait] or [],
     "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}],
     "completion": [{"role": "assistant", "content": [{"type": "text", "text": answer}]}],
     "profile_id": 7}

plus, for umu-hf's paired streams, the profile's i-th ``UM_QA`` pair beside its i-th ``MM_QA`` pair in
``unimodal_prompt`` / ``unimodal_completion``. The Arrow table holds only the text and the profile ID; the
portraits are the ones decoded once when the data was loaded, attached on access (``Dataset.set_transform``), so no
image is stored twice or decoded again. The rows say *what* is asked; the training text and labels (the original
protocol's ``USER: <image>\\n{q}\\nASSISTANT: {a}``, full labels, no EOS, or a chat template's) are laid out by
:class:`~umu_hf.data.collate.UMUCollator` through the model's adapter, exactly as before this format.

>>> from umu_hf.data.collate import QAPair
>>> row = sft_row(QAPair(3, "Who is this?", "Ann Lee", True), portrait="IMG")
>>> row["images"], row["prompt"][0]["content"][0], row["completion"][0]["content"][0]["text"]
(['IMG'], {'type': 'image'}, 'Ann Lee')
>>> qa_pair(row["prompt"], row["completion"], row["profile_id"])
QAPair(profile_id=3, question='Who is this?', answer='Ann Lee', with_image=True)
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

from umu_hf.data.collate import QADataset, StreamDataset
from umu_hf.data.pairs import QAPair, conversation, qa_pair, row_pairs  # noqa: F401
from umu_hf.errors import DataError

#: the columns of a row (paired rows add :data:`UNIMODAL_COLUMNS`)
SFT_COLUMNS = ("images", "prompt", "completion", "profile_id")
UNIMODAL_COLUMNS = ("unimodal_prompt", "unimodal_completion")


def sft_row(pair: QAPair, portrait: Any = None, unimodal: QAPair | None = None) -> dict[str, Any]:
    """One row in TRL's format (``portrait``: the profile's image, attached when the pair is asked with it)."""
    prompt, completion = conversation(pair)
    row = {"images": [portrait] if pair.with_image else [], "prompt": prompt, "completion": completion,
           "profile_id": pair.profile_id}
    if unimodal is not None:
        row["unimodal_prompt"], row["unimodal_completion"] = conversation(unimodal)
    return row


def to_sft_dataset(dataset: QADataset | StreamDataset) -> tuple[Any, str | None]:
    """``(datasets.Dataset in TRL's format, stream)`` of a fine-tuning dataset built by umu-hf.

    A :class:`QADataset` (paired streams) gives one row per (multimodal, unimodal) pair in its order, ``stream``
    None (the Trainer's sampler shuffles it as it shuffled the QADataset); a one-stream :class:`StreamDataset` (the
    original's single shuffled stream, or a relearning stream) gives one row per pair and the stream's name, whose
    per-epoch permutation :class:`StreamOrderSampler` replays.
    """
    import datasets

    if isinstance(dataset, QADataset):
        if dataset.secondary:
            raise DataError("fine-tuning data has one stream of pairs; this QADataset also holds "
                            f"{sorted(dataset.secondary)}")
        pairs = list(dataset.pairs)
        stream = None
    elif isinstance(dataset, StreamDataset):
        if len(dataset.all_streams) != 1:
            raise DataError(f"fine-tuning data has one stream; this StreamDataset holds {sorted(dataset.all_streams)}")
        ((key, modality), flat), = dataset.all_streams.items()
        pairs = [(p, None) for p in flat]
        stream = f"{key}/{modality}"
    else:
        raise DataError(f"cannot turn a {type(dataset).__name__} into fine-tuning rows; give a QADataset, a "
                        "StreamDataset or a datasets.Dataset in TRL's prompt-completion format")
    table = {
        "profile_id": [p.profile_id for p, _ in pairs],
        "question": [p.question for p, _ in pairs],
        "answer": [p.answer for p, _ in pairs],
        "with_image": [p.with_image for p, _ in pairs],
    }
    if stream is None:
        table["unimodal_question"] = [u.question for _, u in pairs]
        table["unimodal_answer"] = [u.answer for _, u in pairs]
        table["unimodal_with_image"] = [u.with_image for _, u in pairs]
    rows = datasets.Dataset.from_dict(table)
    rows.set_transform(_TrlFormat(dataset.images))
    return rows, stream


class _TrlFormat:
    """``Dataset.set_transform`` function: the stored text columns -> TRL's rows, portraits attached from the
    images decoded once (a batch in, a batch out, as ``datasets`` calls it)."""

    def __init__(self, images: Mapping[int, Any]) -> None:
        self.images = images

    def __call__(self, batch: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {name: [] for name in SFT_COLUMNS}
        paired = "unimodal_question" in batch
        if paired:
            out.update({name: [] for name in UNIMODAL_COLUMNS})
        for i, pid in enumerate(batch["profile_id"]):
            pair = QAPair(int(pid), batch["question"][i], batch["answer"][i], bool(batch["with_image"][i]))
            unimodal = None
            if paired:
                unimodal = QAPair(int(pid), batch["unimodal_question"][i], batch["unimodal_answer"][i],
                                  bool(batch["unimodal_with_image"][i]))
            row = sft_row(pair, self.images.get(int(pid)) if pair.with_image else None, unimodal)
            for name, value in row.items():
                out[name].append(value)
        return out


class StreamOrderSampler:
    """Row indices in the order :class:`StreamDataset` serves its one stream: every epoch a permutation seeded by
    the seed, the epoch and the stream's name, cut into batches by the DataLoader — so a fine-tuning on TRL's rows
    sees exactly the batches the original's shuffled stream gave."""

    def __init__(self, n: int, seed: int, stream: str) -> None:
        self.n, self.seed, self.stream, self.epoch = n, seed, stream, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        order = list(range(self.n))
        random.Random(f"{self.seed}/{self.epoch}/{self.stream}").shuffle(order)
        return iter(order)
