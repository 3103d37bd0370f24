"""``umu-hf bench``: the README's run command."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

DEFAULT_OUT = "umu-bench-out"
#: bench knob (--vanilla-NAME) -> the FinetuneConfig field it sets
_VANILLA_FLAGS = {"epochs": "num_train_epochs", "lr": "learning_rate", "batch_size": "per_device_train_batch_size"}


def _ratios(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """``"5,10,15"`` → ``(5, 10, 15)``, each checked; None → the profile's default."""
    from umu_hf.data.schema import check_forget_ratio
    from umu_hf.errors import UmuError

    if text is None:
        return default
    ratios = tuple(dict.fromkeys(check_forget_ratio(part.strip()) for part in str(text).split(",") if part.strip()))
    if not ratios:
        raise UmuError("--forget-ratio needs at least one of 5, 10, 15 (comma-separated)")
    return ratios


def _seeds(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    """``--seeds N`` → seeds 0..N-1; ``--seeds 3,4`` → exactly those; None → the profile's default."""
    from umu_hf.errors import UmuError

    if text is None:
        return default
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UmuError(f"--seeds takes a count (3) or a comma-separated list of seeds (0,1,2), got {text!r}") from None
    if len(values) == 1 and "," not in str(text):
        if values[0] < 1:
            raise UmuError(f"--seeds must be at least 1, got {values[0]}")
        return tuple(range(values[0]))
    if not values or any(v < 0 for v in values):
        raise UmuError(f"--seeds: seeds are integers >= 0, got {text!r}")
    return tuple(dict.fromkeys(values))


def _methods(text: str) -> tuple[str, ...]:
    """``"ga,npo"`` → ``("ga", "npo")``, each checked; ``all`` stands for every registered method (registry order)."""
    from umu_hf.trainers.registry import METHOD_NAMES, get_method

    methods: list[str] = []
    for part in str(text).split(","):
        name = part.strip()
        if name.lower() == "all":
            methods.extend(METHOD_NAMES)
        elif name:
            get_method(name)  # clear error for unknown names
            methods.append(name)
    return tuple(dict.fromkeys(methods))


def _settings(args: argparse.Namespace) -> Any:
    from umu_hf.bench.settings import BenchSettings, original_profile
    from umu_hf.errors import UmuError

    if args.retain_model is not None and not args.no_finetune:
        raise UmuError("--retain-model goes with --no-finetune (a given vanilla); otherwise the bench trains the "
                       "retain model itself: drop --retain-model")
    if args.privacy and args.no_finetune and args.retain_model is None:
        raise UmuError("--privacy with --no-finetune needs --retain-model: a model fine-tuned like the given vanilla "
                       "but without the forget people (umu-hf finetune --config_name retain95+real)")
    if args.unimodal_layout is not None and not args.no_finetune:
        raise UmuError("--unimodal-layout goes with --no-finetune (a given vanilla); the bench's own fine-tuning "
                       "records its layout: drop --unimodal-layout")
    if args.retain_model is not None:
        from umu_hf.models.loading import check_model_source

        check_model_source(args.retain_model)
    methods = _methods(args.methods)
    embedded = args.model is None and args.data is None
    base = BenchSettings() if embedded else original_profile()
    settings = replace(
        base,
        methods=methods,
        forget_ratios=_ratios(args.forget_ratio, base.forget_ratios),
        seeds=_seeds(args.seeds, base.seeds),
        model=args.model,
        data=args.data,
        finetune=not args.no_finetune,
        device=args.device,
        privacy=args.privacy or args.retain_model is not None,
        retain_model=args.retain_model,
        unimodal_layout=args.unimodal_layout,
    )
    if args.fictitious is not None:
        settings.n_fictitious = args.fictitious
    if args.real is not None:
        settings.n_real = args.real
    if args.eval_limit is not None:
        settings.eval_limit = args.eval_limit
    if args.eval_batch_size is not None:
        settings.eval_batch_size = args.eval_batch_size
    if args.min_vanilla_acc is not None:
        settings.min_vanilla_retain_acc = args.min_vanilla_acc
    if args.eval_every is not None:
        from umu_hf.trainers.trajectory import parse_eval_every

        settings.eval_every = "" if parse_eval_every(args.eval_every) is None else args.eval_every.strip().lower()
    for name, config_field in _VANILLA_FLAGS.items():
        value = getattr(args, f"vanilla_{name}")
        if value is not None:
            settings.vanilla = {**settings.vanilla, config_field: value}
    tuning = settings.unlearn
    settings.unlearn = replace(
        tuning,
        lr_scale=tuning.lr_scale if args.unlearn_lr_scale is None else args.unlearn_lr_scale,
        epochs=tuning.epochs if args.unlearn_epochs is None else args.unlearn_epochs,
        lora_r=tuning.lora_r if args.unlearn_lora_r is None else args.unlearn_lora_r,
    )
    return settings


def _run(args: argparse.Namespace) -> int:
    from umu_hf.bench.pipeline import Bench

    table = Bench(args.out, _settings(args), force=args.force).run()
    print(table)
    return 0


def register(sub: Any) -> None:
    """Add ``bench`` to the ``umu-hf`` parser."""
    from umu_hf.privacy.mia import UNIMODAL_LAYOUTS

    p = sub.add_parser(
        "bench",
        help="the whole benchmark end to end: data, vanilla, unlearning, evaluation, leaderboard",
        description=(
            "Without --model/--data: the embedded run (synthetic data, tiny LLaVA trained from scratch on CPU, "
            "about 15 minutes on two cores). With them: the same pipeline with the original protocol's defaults. "
            "Unlearning always runs the original protocol; only step size, epochs and LoRA rank can be tuned. "
            "Paper numbers: --model <the released fine-tuned checkpoint> --data <UMU-Bench> --no-finetune. "
            "Every stage is cached under --out by its settings; a rerun reuses them (--force redoes)."
        ),
    )
    p.add_argument("--out", default=DEFAULT_OUT, help=f"bench folder (default: {DEFAULT_OUT})")
    p.add_argument(
        "--methods", default="ga,gd,kl,po,npo",
        help="comma-separated methods, or 'all' for every registered one (default: ga,gd,kl,po,npo)",
    )
    p.add_argument(
        "--forget-ratio",
        help="5, 10 or 15, or several comma-separated for the paper-style table (default: 15 for the embedded "
        "run, whose 30 fictitious profiles then give 5 people to forget; 5 for real runs)",
    )
    p.add_argument(
        "--seeds",
        help="N: repeat the whole chain (model init, vanilla fine-tuning, unlearning) with seeds 0..N-1, or a "
        "comma-separated list of seeds; cells show mean ± sd (default 3 for the embedded run, 1 for real runs)",
    )
    p.add_argument("--model", help="model to fine-tune and unlearn (default: the embedded tiny LLaVA)")
    p.add_argument("--data", help="dataset: Hub repo id, Hub-layout or legacy folder (default: synthetic)")
    p.add_argument("--no-finetune", action="store_true", help="--model is already the vanilla (fine-tuned) model")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--force", action="store_true", help="redo every stage instead of reusing cached ones")
    p.add_argument(
        "--privacy", action="store_true",
        help="also train a retain model (vanilla's fine-tuning without the forget people) per seed and forget ratio "
        "and add membership-inference AUC, forget quality and PrivLeak per modality to the leaderboard (needs data "
        "with a holdout config; the synthetic data has one)",
    )
    p.add_argument("--retain-model", help="with --no-finetune: the retain model to compare against (implies --privacy)")
    p.add_argument(
        "--unimodal-layout", choices=tuple(UNIMODAL_LAYOUTS),
        help="with --no-finetune: how the given vanilla's fine-tuning asked UM_QA (with-portrait: the original "
        "protocol, as the released vanilla), for every model's unimodal membership inference (default: read from "
        "its umu_training.json, else text-only)",
    )
    g = p.add_argument_group("sizes and training (defaults depend on embedded vs real run)")
    g.add_argument("--fictitious", type=int, help="synthetic fictitious profiles")
    g.add_argument("--real", type=int, help="synthetic real-set profiles")
    g.add_argument("--vanilla-epochs", type=float)
    g.add_argument("--vanilla-lr", type=float)
    g.add_argument("--vanilla-batch-size", type=int)
    g.add_argument("--unlearn-epochs", type=float, help="epochs of every method (default: each method's original)")
    g.add_argument(
        "--unlearn-lr-scale", type=float,
        help="x each method's original learning rate (embedded default 400, chosen on tuning seeds: docs/protocol.md; real runs 1)",
    )
    g.add_argument("--unlearn-lora-r", type=int, help="LoRA rank of unlearning (embedded 16; original 64)")
    g.add_argument("--eval-limit", type=int, help="only the first N question pairs per set and task")
    g.add_argument("--eval-batch-size", type=int)
    g.add_argument("--min-vanilla-acc", type=float, help="vanilla retain AccR needed to go on (default 60)")
    g.add_argument(
        "--eval-every",
        help="probe forget and retain accuracy per modality every N unlearning steps (or 'epoch'; 'off' for none) "
        "for the trajectory panels and matched forgetting (default: every 10 steps in the embedded run, off for real "
        "runs)",
    )
    p.set_defaults(func=_run)
