"""Vanilla fine-tuning: the model UMU-Bench unlearns from learns every profile (``full``).

Under the original protocol (the default) the training data follows the original release: every ``MM_QA`` *and*
``UM_QA`` pair is asked with the profile's portrait attached, one shuffled stream, the original training text
(``USER: <image>\\n{q}\\nASSISTANT: {a}``, no EOS, labels on every non-pad token) and the hyper-parameters of the
original ``finetune.py`` (LoRA r 8 / alpha 16 / dropout 0.05 on every linear layer, lr 2e-5, 5 epochs, batch 4,
legacy AdamW: eps 1e-6, no weight decay). Under ``umu-hf`` (``streams="paired"``) each step pairs a multimodal
and a unimodal question: ``L = NLL(mm) + alpha · NLL(um)``.

For paper numbers, start from the released fine-tuned checkpoint instead (README, "Paper numbers").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from umu_hf.trainers.base import UMUTrainer
from umu_hf.trainers.configs import UMUConfig
from umu_hf.trainers.lora import ALL_LINEAR, LoraArguments
from umu_hf.trainers.losses import answer_nll

#: LoRA of the original fine-tuning script, where it differs from the unlearning defaults: r 8, alpha 16, merged
#: at the end (on every linear layer, vision tower and projector too: :attr:`FinetuneTrainer.lora_target_modules`)
FINETUNE_LORA = LoraArguments(lora_r=8, lora_alpha=16, merge=True)


@dataclass
class FinetuneConfig(UMUConfig):
    gamma: float = field(default=1.0, metadata={"help": "Unused: fine-tuning has no retain term."})
    learning_rate: float = field(default=2e-5, metadata={"help": "The initial learning rate for AdamW."})
    num_train_epochs: float = field(default=5.0, metadata={"help": "Total number of training epochs."})
    per_device_train_batch_size: int = field(default=4, metadata={"help": "Batch size per device."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    adam_epsilon: float = field(default=1e-6, metadata={"help": "AdamW epsilon."})


class FinetuneTrainer(UMUTrainer):
    method = "finetune"
    streams = {"train": ("train", "answer")}
    lora_target_modules = (ALL_LINEAR,)

    def modality_loss(self, model, inputs, modality):
        nll = answer_nll(*self.stream_logits(model, inputs, "train", modality))
        return {"loss": nll, "train_nll": nll}
