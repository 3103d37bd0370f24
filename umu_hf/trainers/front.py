"""The one training front end: ``python trainers/unlearn.py`` and ``umu-hf unlearn`` (likewise ``finetune``) parse
their flags with the parser :func:`make_parser` builds, so both spell every flag the same way.

It is a :class:`~umu_hf.flags.FlagParser` (an ``HfArgumentParser``, as TRL's scripts use; ``umu-hf bench`` parses
with it too) over three dataclasses: the job's script arguments (model, data, method, forget ratio, …),
:class:`~umu_hf.trainers.lora.LoraArguments` and the method's Config (a ``TrainingArguments``: every field is a
flag). Flags are HF's ``--forget_ratio`` / ``--learning_rate``; the dashed ``--forget-ratio`` is the same flag.
``--config RECIPE.yaml`` (a YAML mapping of field names to values) gives defaults that flags
override; the method comes from ``--method``, else the recipe's ``method``. Errors are one line.

>>> peek_option(["--method", "npo", "--x", "1"], "method")
'npo'
>>> peek_option(["--method=gd"], "method")
'gd'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from umu_hf.errors import UmuError
from umu_hf.flags import FlagParser
from umu_hf.trainers.lora import LoraArguments
from umu_hf.trainers.registry import METHOD_NAMES
from umu_hf.utils import close_process_group

JOBS = ("finetune", "unlearn")
_DESCRIPTIONS = {
    "unlearn": f"Unlearn a UMU-Bench forget set with one method ({', '.join(METHOD_NAMES)}). Every field of the method's Config (TrainingArguments + alpha/gamma/beta/...) is a flag: --method "
    "NAME --help lists them. A rerun of the same command resumes its last complete checkpoint.",
    "finetune": "Vanilla fine-tuning on every UMU-Bench profile (the model unlearning starts from); the defaults are "
    "the original finetune.py's. Every FinetuneConfig field (TRL's SFTConfig + alpha) is a flag. A rerun of "
    "the same command resumes its last complete checkpoint.",
}


@dataclass
class UnlearnArguments:
    """What ``unlearn`` trains, besides the method's Config and LoRA."""

    _argument_group_name = "unlearn"

    method: str = field(
        metadata={"help": f"one of {', '.join(METHOD_NAMES)} (or the recipe's `method`)"}
    )
    model: str = field(metadata={"help": "the model to unlearn from (folder or Hub id)"})
    data: str = field(metadata={"help": "dataset: Hub repo id, Hub-layout folder or legacy folder"})
    forget_ratio: int = field(default=5, metadata={"help": "5, 10 or 15 (percent of fictitious profiles)"})
    forget_after: int | None = field(
        default=None,
        metadata={"help": "a later deletion request: forget only the people forget_ratio adds to forget_after's "
                  "forget set (5 or 10, smaller than forget_ratio), on --model = the model the request before left "
                  "(umu-hf bench --sequential; the retain streams and the --eval_every probe stay forget_ratio's)"},
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "discard what another training run left in output_dir (checkpoints, model) instead of "
                  "refusing"},
    )


@dataclass
class FinetuneArguments:
    """What ``finetune`` trains, besides FinetuneConfig and LoRA."""

    _argument_group_name = "finetune"

    model: str = field(metadata={"help": "the model to fine-tune (folder or Hub id)"})
    data: str = field(metadata={"help": "dataset: Hub repo id, Hub-layout folder or legacy folder"})
    config_name: str = field(
        default="full",
        metadata={"help": "dataset config to train on; several joined by + train on their union "
                  "(retain85+real: the retain model, every profile but the forget15 people)"},
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "discard what another training run left in output_dir (checkpoints, model) instead of "
                  "refusing"},
    )


class TrainArgs(NamedTuple):
    """What a command line parses into."""

    script: UnlearnArguments | FinetuneArguments
    lora: LoraArguments
    config: Any  # the method's UnlearnConfig subclass, or FinetuneConfig


class TrainParser(FlagParser):
    """The shared :class:`~umu_hf.flags.FlagParser` (one spelling per flag, no abbreviations, one-line errors) with a
    ``--config`` recipe of defaults."""

    def __init__(self, dataclass_types: Sequence[type], recipe: str | None = None, **kwargs: Any) -> None:
        super().__init__(dataclass_types, **kwargs)
        self.recipe = recipe
        self.add_argument("--config", metavar="RECIPE_YAML", default=recipe,
                          help="YAML file of defaults (field: value); flags override it")

    def require(self, dest: str) -> None:
        """Make a flag that has a default required (``output_dir``: no silent ``trainer_output``)."""
        for action in self._actions:
            if action.dest == dest and action.option_strings:
                action.required = True

    def apply_recipe(self, recipe: Mapping[str, Any]) -> None:
        """A recipe's values become the defaults (flags still override them); an unknown name is an error."""
        dests = {action.dest for action in self._actions if action.option_strings} - {"config", "help"}
        unknown = sorted(set(recipe) - dests)
        if unknown:
            raise UmuError(f"recipe {self.recipe}: unknown setting(s) {', '.join(unknown)} (see {self.prog} --help)")
        self.set_defaults(**recipe)
        for action in self._actions:
            if action.dest in recipe:
                action.required = False

    def parse(self, argv: Sequence[str]) -> TrainArgs:
        """The dataclasses of ``argv``; an unknown flag is an error naming it."""
        namespace = self.parse_namespace(argv)
        if namespace.config != self.recipe:
            raise UmuError(f"--config {namespace.config}: build the parser with make_parser(job, argv)")
        script, lora, config = self.dataclasses_of(namespace)
        return TrainArgs(script, lora, config)


def make_parser(job: str, argv: Sequence[str] = (), prog: str | None = None) -> TrainParser:
    """The parser of ``job`` (``"unlearn"`` or ``"finetune"``) that ``trainers/<job>.py`` and ``umu-hf <job>`` share.

    ``argv`` decides which flags exist: ``--config`` names the recipe whose values become defaults, and (unlearn)
    ``--method`` or else the recipe's ``method`` picks the Config class.
    """
    from umu_hf.trainers.finetune import FINETUNE_LORA, FinetuneConfig

    recipe_path = peek_option(argv, "config")
    recipe = load_recipe(recipe_path)
    if job == "unlearn":
        from umu_hf.trainers.configs import UnlearnConfig
        from umu_hf.trainers.registry import get_method

        method = peek_option(argv, "method") or recipe.get("method")
        config_cls = get_method(str(method))[1] if method else UnlearnConfig
        types: tuple[type, ...] = (UnlearnArguments, LoraArguments, config_cls)
    elif job == "finetune":
        types = (FinetuneArguments, LoraArguments, FinetuneConfig)
    else:
        raise ValueError(f"job must be one of {', '.join(JOBS)}, got {job!r}")
    parser = TrainParser(types, recipe=recipe_path, prog=prog, description=_DESCRIPTIONS[job])
    if job == "finetune":
        parser.set_defaults(**dataclasses.asdict(FINETUNE_LORA))
    parser.require("output_dir")
    parser.apply_recipe(recipe)
    return parser


def parse_args(job: str, argv: Sequence[str], prog: str | None = None) -> TrainArgs:
    """``make_parser(job, argv, prog).parse(argv)``."""
    return make_parser(job, argv, prog).parse(argv)


def main(job: str, argv: Sequence[str], prog: str | None = None) -> int:
    """Parse ``argv`` and run the job (:func:`umu_hf.trainers.jobs.unlearn` / ``finetune``); prints the model path."""
    from umu_hf.trainers import jobs

    script, lora, config = parse_args(job, argv, prog)
    merge = lora.merge and lora.lora
    if isinstance(script, UnlearnArguments):
        path = jobs.unlearn(script.method, script.model, script.data, script.forget_ratio, config, lora.settings(),
                           merge, overwrite=script.overwrite, after=script.forget_after)
        print(f"unlearned model ({script.method}): {path}")
    else:
        path = jobs.finetune(script.model, script.data, config, lora.settings(), merge,
                            config_name=script.config_name, overwrite=script.overwrite)
        print(f"fine-tuned model: {path}")
    return 0


def script_main(job: str, prog: str, argv: Sequence[str] | None = None) -> int:
    """``python trainers/<job>.py`` (also under ``accelerate launch``): :func:`main`, a one-line error for bad input
    (exit 2), and every rank leaving the process group together, as ``umu-hf`` does for its commands."""
    import sys

    try:
        code = main(job, list(sys.argv[1:] if argv is None else argv), prog=prog)
    except UmuError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    close_process_group()
    return code


def peek_option(argv: Sequence[str], name: str) -> str | None:
    """The value of ``--name VALUE`` / ``--name=VALUE`` in ``argv`` without consuming it (the last one wins)."""
    flag, found = f"--{name}", None
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(flag + "="):
            found = arg.split("=", 1)[1]
    return found


def load_recipe(path: str | None) -> dict[str, Any]:
    """A recipe's defaults (a flat YAML mapping of flag names to values); ``{}`` without one."""
    if path is None:
        return {}
    import yaml

    file = Path(path)
    if not file.is_file():
        raise UmuError(f"recipe {path}: no such file; give a YAML file of field: value lines (e.g. learning_rate: 1e-4)")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UmuError(f"recipe {path}: not valid YAML ({exc.__class__.__name__}); fix the file") from None
    if not isinstance(data, dict):
        raise UmuError(f"recipe {path}: expected a mapping of flag names to values")
    return data
