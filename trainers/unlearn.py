"""Unlearn a UMU-Bench forget set with one method, Trainer-style.

    python trainers/unlearn.py --method npo --model MODEL --data DATA --forget_ratio 5 --output_dir out/npo
    python trainers/unlearn.py --recipe trainers/recipes/npo.yaml --model MODEL --data DATA --output_dir out/npo
    accelerate launch --num_processes 2 trainers/unlearn.py --method npo ...   # data-parallel

Every field of the method's config (``TrainingArguments`` + alpha/gamma/beta/...) is a flag;
``--help`` with ``--method`` lists them. Command-line flags override the recipe.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from umu_hf.errors import UmuError
from umu_hf.trainers.registry import get_method
from umu_hf.trainers.run import unlearn
from umu_hf.trainers.scripts import LoraArguments, load_recipe, peek_option


@dataclass
class ScriptArguments:
    model: str = field(metadata={"help": "the model to unlearn from (folder or Hub id)"})
    data: str = field(metadata={"help": "Hub repo id, Hub-layout folder or legacy folder"})
    method: str = field(default="ga", metadata={"help": "ga, gd, kl, po, npo, simnpo or idk_dpo (or the recipe's)"})
    forget_ratio: int = field(default=5, metadata={"help": "5, 10 or 15"})
    lora: bool = field(default=True, metadata={"help": "train a LoRA adapter (reference = adapter off)"})


def parse(argv: list[str]) -> tuple[ScriptArguments, LoraArguments, object]:
    """The script's, LoRA and method-config dataclasses; the recipe gives defaults, flags override it."""
    recipe = load_recipe(peek_option(argv, "recipe"))
    method = peek_option(argv, "method") or recipe.get("method") or "ga"
    _, config_cls = get_method(method)
    parser = HfArgumentParser((ScriptArguments, LoraArguments, config_cls))
    parser.set_defaults(**{**recipe, "method": method})
    return parser.parse_args_into_dataclasses(argv)


def main(argv: list[str] | None = None) -> int:
    script, lora, config = parse(list(sys.argv[1:] if argv is None else argv))
    path = unlearn(
        script.method, script.model, script.data, script.forget_ratio, config, lora.settings(script.lora), lora.merge,
        overwrite=lora.overwrite,
    )
    print(f"unlearned model ({script.method}): {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UmuError as exc:
        sys.exit(f"unlearn.py: error: {exc}")
