"""Vanilla fine-tuning: the model UMU-Bench unlearns from learns every profile (``full``), on TRL's ``SFTTrainer``.

:class:`FinetuneTrainer` is a ``trl.SFTTrainer`` configured by :class:`FinetuneConfig` (an ``SFTConfig``) and fed
TRL's image prompt–completion rows (:mod:`umu_hf.data.sft`; a user's own rows in that format work too). What it
keeps of umu-hf is what the original protocol fixes and TRL does not do the same way: the training text and labels
(laid out through the model's adapter by :class:`~umu_hf.data.collate.UMUCollator`), the data order of the
original's shuffled stream, and the loss ``L = NLL(mm) + alpha · NLL(um)`` over umu-hf's paired streams
(:meth:`compute_loss`, as TRL asks of a custom loss: override ``compute_loss``). On the same batch the first step's
loss and update are those of the ``transformers.Trainer`` it replaced, bit for bit (tests/test_sft_finetune.py).

Under the original protocol (the default) the training data follows the original release: every ``MM_QA`` *and*
``UM_QA`` pair is asked with the profile's portrait attached, one shuffled stream, the original training text
(``USER: <image>\\n{q}\\nASSISTANT: {a}``, no EOS, labels on every non-pad token) and the hyper-parameters of the
original ``finetune.py`` (LoRA r 8 / alpha 16 / dropout 0.05 on every linear layer, lr 2e-5, 5 epochs, batch 4,
legacy AdamW: eps 1e-6, no weight decay). Under ``umu-hf`` (``streams="paired"``) each step pairs a multimodal
and a unimodal question: ``L = NLL(mm) + alpha · NLL(um)``.

For paper numbers, start from the released fine-tuned checkpoint instead (README, "Paper numbers").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trl import SFTConfig, SFTTrainer

from umu_hf.errors import UmuError
from umu_hf.trainers.base import UMUTrainer
from umu_hf.trainers.configs import UMUConfig
from umu_hf.trainers.lora import ALL_LINEAR, FINETUNE_LORA  # noqa: F401  (FINETUNE_LORA: re-exported)
from umu_hf.trainers.losses import answer_nll

#: SFTConfig options whose work UMUCollator does the original protocol's way: (field, the value it must keep, why)
_FIXED_SFT_FIELDS = (
    ("packing", False, "each question is its own sequence with its portrait, as the original trains"),
    ("padding_free", False, "batches are right-padded as the original's"),
    ("assistant_only_loss", False, "use --label_mode answer (labels on the answer tokens only)"),
    ("max_length", None, "the training text is never truncated"),
    ("pad_to_multiple_of", None, "batches are padded to their longest sequence"),
    ("loss_type", "nll", "the loss is the mean NLL of each stream (the original's)"),
)


@dataclass
class FinetuneConfig(UMUConfig, SFTConfig):
    """TRL's ``SFTConfig`` with umu-hf's protocol fields (:class:`~umu_hf.trainers.configs.UMUConfig`); the
    defaults are the original ``finetune.py``'s, not TRL's (no bf16 autocast, no gradient checkpointing).

    ``completion_only_loss`` is TRL's name for ``label_mode``: left unset it follows ``label_mode`` (``answer`` ->
    True); set, it must agree with it.
    """

    gamma: float = field(default=1.0, metadata={"help": "Unused: fine-tuning has no retain term."})
    learning_rate: float = field(default=2e-5, metadata={"help": "The initial learning rate for AdamW."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Total number of training epochs."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Batch size per device."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    adam_epsilon: float = field(default=1e-6, metadata={"help": "AdamW epsilon."})
    bf16: bool | None = field(default=False, metadata={"help": "bf16 mixed precision (the original: off)."})
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (TRL's default: on; here off)."}
    )
    logging_steps: float = field(default=1, metadata={"help": "Log every X update steps."})
    max_length: int | None = field(default=None, metadata={"help": "Must stay None: no truncation."})

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, kept, why in _FIXED_SFT_FIELDS:
            if getattr(self, name, kept) != kept:
                raise UmuError(f"--{name} {getattr(self, name)}: umu-hf's fine-tuning keeps {kept} ({why})")
        answer_only = self.label_mode == "answer"
        if self.completion_only_loss is not None and self.completion_only_loss != answer_only:
            raise UmuError(f"--completion_only_loss {self.completion_only_loss} contradicts --label_mode "
                           f"{self.label_mode}; set one of them")
        self.completion_only_loss = answer_only


class FinetuneTrainer(UMUTrainer, SFTTrainer):
    """``trl.SFTTrainer`` with umu-hf's protocol: ``train_dataset`` is TRL's image prompt–completion rows
    (:mod:`umu_hf.data.sft`), or a :class:`~umu_hf.data.collate.QADataset` / one-stream
    :class:`~umu_hf.data.collate.StreamDataset`, which are turned into them."""

    method = "finetune"
    streams = {"train": ("train", "answer")}
    lora_target_modules = (ALL_LINEAR,)

    def training_data(self, train_dataset: Any, args: UMUConfig) -> tuple[Any, Mapping[int, Any]]:
        """TRL's rows and the portraits they carry; for the original's one stream also the stream whose per-epoch
        order :meth:`_get_train_sampler` replays."""
        import datasets

        from umu_hf.data.collate import QADataset, StreamDataset
        from umu_hf.data.sft import to_sft_dataset

        self._stream_order: str | None = None
        if isinstance(train_dataset, datasets.Dataset):
            if args.streams == "independent":
                self._stream_order = "train/mm"
            return train_dataset, {}
        if isinstance(train_dataset, QADataset | StreamDataset):
            super().training_data(train_dataset, args)  # the streams check
            rows, self._stream_order = to_sft_dataset(train_dataset)
            return rows, train_dataset.images
        raise UmuError(f"finetune: train_dataset must be a datasets.Dataset in TRL's prompt-completion format, a "
                       f"QADataset or a StreamDataset, got {type(train_dataset).__name__}")

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """The original's shuffled stream (``--streams independent``): its per-epoch permutation
        (:class:`~umu_hf.data.sft.StreamOrderSampler`); paired rows: the Trainer's random sampler."""
        if self._stream_order is None:
            return super()._get_train_sampler(train_dataset)
        from umu_hf.data.sft import StreamOrderSampler

        dataset = self.train_dataset if train_dataset is None else train_dataset
        return StreamOrderSampler(len(dataset), self.args.seed, self._stream_order)

    def modality_loss(self, model, inputs, modality):
        nll = answer_nll(*self.stream_logits(model, inputs, "train", modality))
        return {"loss": nll, "train_nll": nll}
