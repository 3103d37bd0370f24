"""Vanilla fine-tuning: the model UMU-Bench unlearns from learns every profile (``full``: MM_QA + UM_QA).

Same collator and Trainer machinery as the unlearning methods: ``L = NLL(mm) + alpha · NLL(um)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UnlearnConfig, UnlearnTrainer
from umu_hf.trainers.losses import answer_nll


@dataclass
class FinetuneConfig(UnlearnConfig):
    learning_rate: float = field(default=2e-5, metadata={"help": "The initial learning rate for AdamW."})
    num_train_epochs: float = field(default=3.0, metadata={"help": "Total number of training epochs."})


class FinetuneTrainer(UnlearnTrainer):
    method = "finetune"
    streams = {"train": ("train", "answer")}

    def modality_loss(self, model, inputs, modality):
        nll = answer_nll(*self.stream_logits(model, inputs, "train", modality))
        return {"loss": nll, "train_nll": nll}
