"""Vanilla fine-tuning on every UMU-Bench profile (the model that unlearning starts from); ``umu-hf finetune`` is
this same front end.

    python trainers/finetune.py --model MODEL --data DATA --output_dir out/vanilla
    accelerate launch --num_processes 2 trainers/finetune.py ...

The trainer is TRL's ``SFTTrainer`` (``umu_hf.trainers.finetune.FinetuneTrainer``) on TRL's image
prompt–completion rows; the defaults are the original ``finetune.py``'s (LoRA r 8 / alpha 16 on every linear layer,
merged). Every ``FinetuneConfig`` field (TRL's ``SFTConfig`` + alpha) is a flag; command-line flags override a
``--config`` recipe.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from umu_hf.trainers import front


def make_parser(argv: Sequence[str] = ()) -> front.TrainParser:
    """The parser ``umu-hf finetune`` uses too; ``argv`` may name a ``--config`` recipe."""
    return front.make_parser("finetune", argv, prog="finetune.py")


def main(argv: Sequence[str] | None = None) -> int:
    return front.script_main("finetune", "finetune.py", argv)


if __name__ == "__main__":
    sys.exit(main())
