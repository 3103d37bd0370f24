"""``umu-hf finetune`` and ``umu-hf unlearn``: thin wrappers over :mod:`umu_hf.trainers.run`.

Common settings have flags; any other ``TrainingArguments``/method field is set with ``--set key=value``
(repeatable), e.g. ``--set beta=0.2 --set warmup_ratio=0.1``.
"""

from __future__ import annotations

import argparse
from typing import Any

from umu_hf.errors import UmuError

_SHORTCUTS = {  # flag dest -> config field
    "epochs": "num_train_epochs",
    "lr": "learning_rate",
    "batch_size": "per_device_train_batch_size",
    "alpha": "alpha",
    "gamma": "gamma",
    "beta": "beta",
    "seed": "seed",
    "max_steps": "max_steps",
    "protocol": "protocol",
    "refusals": "refusals",
}


def make_config(config_cls: type, output_dir: str, overrides: dict[str, Any]) -> Any:
    """Build a config dataclass; string values are parsed like command-line values, others are used as given."""
    from dataclasses import fields

    from transformers import HfArgumentParser

    known = {f.name for f in fields(config_cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UmuError(
            f"unknown setting(s) {', '.join(unknown)} for {config_cls.__name__}; see "
            "`python trainers/unlearn.py --method NAME --help` for every field"
        )
    values: dict[str, Any] = {"output_dir": output_dir}
    parser = HfArgumentParser(config_cls)
    for key, value in overrides.items():
        if not isinstance(value, str):
            values[key] = value
            continue
        try:
            namespace, _ = parser.parse_known_args(["--output_dir", output_dir, f"--{key}", value])
        except SystemExit:  # argparse already printed which value was bad
            raise UmuError(f"invalid value {value!r} for --{key} of {config_cls.__name__}") from None
        values[key] = getattr(namespace, key)
    return config_cls(**values)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dest, field_name in _SHORTCUTS.items():
        value = getattr(args, dest, None)
        if value is not None:
            out[field_name] = value
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UmuError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    if args.device == "cpu":
        out.setdefault("use_cpu", True)
    return out


def _lora(args: argparse.Namespace, defaults: dict[str, Any] | None = None) -> Any:
    """LoRA settings from the flags; unset flags take ``defaults`` (else the original unlearning LoRA)."""
    from umu_hf.trainers.lora import LoraSettings, parse_targets

    if not args.lora:
        return None
    original = LoraSettings()
    base = {"r": original.r, "alpha": original.alpha, "dropout": original.dropout, "target_modules": None,
            **(defaults or {})}
    given = {"r": args.lora_r, "alpha": args.lora_alpha, "dropout": args.lora_dropout,
             "target_modules": parse_targets(args.lora_target_modules)}
    values = {k: given[k] if given[k] is not None else base[k] for k in base}
    return LoraSettings(**values, init=args.lora_init)


def _run_unlearn(args: argparse.Namespace) -> int:
    from umu_hf.trainers.registry import get_method
    from umu_hf.trainers.run import unlearn

    _, config_cls = get_method(args.method)
    config = make_config(config_cls, args.out, _overrides(args))
    path = unlearn(args.method, args.model, args.data, args.forget_ratio, config, _lora(args), args.merge,
                   overwrite=args.overwrite)
    print(f"unlearned model ({args.method}): {path}")
    return 0


def _run_finetune(args: argparse.Namespace) -> int:
    from umu_hf.trainers.finetune import FINETUNE_LORA, FinetuneConfig
    from umu_hf.trainers.run import finetune

    config = make_config(FinetuneConfig, args.out, _overrides(args))
    if args.lora is None:  # the original fine-tuning trains LoRA; umu-hf's trains every weight
        args.lora = config.protocol == "original"
    defaults = FINETUNE_LORA if config.protocol == "original" else None
    merge = args.merge or (args.lora and config.protocol == "original")
    path = finetune(args.model, args.data, config, _lora(args, defaults), merge, config_name=args.config,
                    overwrite=args.overwrite)
    print(f"fine-tuned model: {path}")
    return 0


def _common(p: argparse.ArgumentParser, lora_default: bool) -> None:
    p.add_argument("--model", required=True, help="model folder or Hub id (a vision-language model)")
    p.add_argument("--data", required=True, help="dataset: Hub repo id, Hub-layout folder or legacy folder")
    p.add_argument("--out", required=True, help="output folder (checkpoints, adapter/model, processor); a rerun of "
                   "the same command resumes its last complete checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="discard what another training run left in --out (checkpoints, model) instead of refusing")
    p.add_argument("--epochs", type=float, help="number of training epochs")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--batch-size", type=int, help="per-device batch size")
    p.add_argument("--max-steps", type=int, help="stop after this many optimiser steps")
    p.add_argument("--alpha", type=float, help="weight of the unimodal term")
    p.add_argument("--seed", type=int, help="training seed")
    p.add_argument(
        "--protocol", choices=["original", "umu-hf"],
        help="original (default): the benchmark's training text, labels, streams and losses; umu-hf: answer-only "
        "labels, EOS, paired streams, per-sequence NPO, true KL (single features: --set label_mode=answer ...)",
    )
    p.add_argument("--device", choices=["auto", "cpu"], default="auto", help="cpu forces CPU training")
    lora = p.add_mutually_exclusive_group()
    lora.add_argument("--lora", dest="lora", action="store_true", default=lora_default, help="train a LoRA adapter")
    lora.add_argument("--no-lora", dest="lora", action="store_false", help="train all weights")
    p.add_argument("--lora-r", type=int, help="LoRA rank (original: 64; fine-tuning 8)")
    p.add_argument("--lora-alpha", type=int, help="LoRA alpha (original: 32; fine-tuning 16)")
    p.add_argument("--lora-dropout", type=float, help="LoRA dropout (original: 0.05)")
    p.add_argument(
        "--lora-target-modules",
        help="comma-separated layer names LoRA wraps anywhere in the model (default: the method's original "
        "targets, q/k/v/o/gate/up/down_proj; GD q_proj,v_proj); 'lm' = every language-model linear layer",
    )
    p.add_argument("--lora-init", choices=["gaussian", "default"], default="gaussian", help="LoRA A init")
    p.add_argument("--merge", action="store_true", help="also save a merged model under OUT/merged")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="any other config field (repeatable)")


def register(sub: Any) -> None:
    """Add ``finetune`` and ``unlearn`` to the ``umu-hf`` parser."""
    p = sub.add_parser("finetune", help="vanilla fine-tuning on all profiles (the model to unlearn from)")
    _common(p, lora_default=False)
    p.add_argument("--config", default="full", help="dataset config to train on (default: full)")
    p.set_defaults(func=_run_finetune, lora=None)

    p = sub.add_parser("unlearn", help="unlearn a forget set with one method (ga, gd, kl, po, npo, simnpo, idk_dpo)")
    p.add_argument("--method", required=True, help="unlearning method name")
    _common(p, lora_default=True)
    p.add_argument("--forget-ratio", required=True, help="5, 10 or 15 (percent of fictitious profiles)")
    p.add_argument("--gamma", type=float, help="weight of the retain NLL (KL: of the forget term; GA: unused)")
    p.add_argument("--beta", type=float, help="inverse temperature of NPO/SimNPO/IDK-DPO")
    p.add_argument("--refusals", help="PO/IDK-DPO: file of refusals, one per line (default: the shipped pool)")
    p.set_defaults(func=_run_unlearn)
