"""Helpers of the ``trainers/*.py`` entry points: YAML recipes and peeking at one option before parsing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError
from umu_hf.trainers.lora import LoraSettings, parse_targets


@dataclass
class LoraArguments:
    """LoRA and output options shared by the script entry points (SPEC 5 defaults)."""

    lora_r: int = 64
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | None = field(
        default=None,
        metadata={"help": "comma-separated layer names LoRA wraps anywhere in the model (default: the method's "
                  "original targets); 'lm' = the language model's linear layers, 'all-linear' = every one"},
    )
    lora_init: str = field(default="gaussian", metadata={"help": "LoRA A init: gaussian (original) or default"})
    merge: bool = field(default=False, metadata={"help": "also save a merged model under output_dir/merged"})
    overwrite: bool = field(
        default=False,
        metadata={"help": "discard what another training run left in output_dir instead of refusing (a rerun of "
                  "the same run resumes its last complete checkpoint)"},
    )
    recipe: str | None = field(default=None, metadata={"help": "YAML file of defaults (trainers/recipes/)"})

    def settings(self, enabled: bool) -> LoraSettings | None:
        """The LoRA settings, or None to train every weight."""
        if not enabled:
            return None
        targets = parse_targets(self.lora_target_modules)
        return LoraSettings(self.lora_r, self.lora_alpha, self.lora_dropout, targets, self.lora_init)


def peek_option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` / ``--name=VALUE`` in ``argv`` without consuming it.

    >>> peek_option(["--method", "npo", "--x", "1"], "method")
    'npo'
    >>> peek_option(["--method=gd"], "method")
    'gd'
    """
    flag = f"--{name}"
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def load_recipe(path: str | None) -> dict[str, Any]:
    """A recipe's defaults (a flat YAML mapping of argument names to values); ``{}`` without one."""
    if path is None:
        return {}
    import yaml

    file = Path(path)
    if not file.is_file():
        raise UmuError(f"recipe {path}: no such file; the shipped recipes are in trainers/recipes/")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UmuError(f"recipe {path}: not valid YAML ({exc.__class__.__name__}); fix the file") from None
    if not isinstance(data, dict):
        raise UmuError(f"recipe {path}: expected a mapping of argument names to values")
    return data
