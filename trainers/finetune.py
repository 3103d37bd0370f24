"""Vanilla fine-tuning on every UMU-Bench profile (the model that unlearning starts from).

    python trainers/finetune.py --model MODEL --data DATA --output_dir out/vanilla
    python trainers/finetune.py --recipe trainers/recipes/finetune.yaml --model MODEL --data DATA --output_dir out/v
    accelerate launch --num_processes 2 trainers/finetune.py ...

Every ``FinetuneConfig`` field (``TrainingArguments`` + alpha) is a flag; command-line flags override the recipe.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from umu_hf.errors import UmuError
from umu_hf.trainers.finetune import FinetuneConfig
from umu_hf.trainers.run import finetune
from umu_hf.trainers.scripts import LoraArguments, load_recipe, peek_option


@dataclass
class ScriptArguments:
    model: str = field(metadata={"help": "the model to fine-tune (folder or Hub id)"})
    data: str = field(metadata={"help": "Hub repo id, Hub-layout folder or legacy folder"})
    config_name: str = field(default="full", metadata={"help": "dataset config to train on"})
    lora: bool = field(default=False, metadata={"help": "train a LoRA adapter instead of all weights"})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser((ScriptArguments, LoraArguments, FinetuneConfig))
    parser.set_defaults(**load_recipe(peek_option(argv, "recipe")))
    script, lora, config = parser.parse_args_into_dataclasses(argv)
    path = finetune(
        script.model, script.data, config, lora.settings(script.lora), lora.merge, config_name=script.config_name,
        overwrite=lora.overwrite,
    )
    print(f"fine-tuned model: {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UmuError as exc:
        sys.exit(f"finetune.py: error: {exc}")
