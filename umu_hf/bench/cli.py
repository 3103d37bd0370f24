"""``umu-hf bench``: the README's run command.

Its flags are declared once, as the fields of :class:`BenchArguments` and :class:`BenchSizes`, and parsed by the
training front end's parser (:class:`umu_hf.flags.FlagParser`): every flag is ``--field_name`` and, for names
with underscores, the dashed ``--field-name`` the README spells (``--forget-ratio``, ``--no-finetune``); no
abbreviations; a bad flag or value is one line. :func:`bench_settings` turns them into the run's
:class:`~umu_hf.bench.settings.BenchSettings`: the embedded profile without ``--model``/``--data``, else the
original protocol's (:func:`~umu_hf.bench.settings.original_profile`), each flag given replacing the profile's value.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from umu_hf.privacy.mia import UNIMODAL_LAYOUTS

if TYPE_CHECKING:
    from umu_hf.bench.settings import BenchSettings
    from umu_hf.flags import FlagParser

DEFAULT_OUT = "umu-bench-out"
#: bench knob (--vanilla-NAME) -> the FinetuneConfig field it sets
_VANILLA_FLAGS = {"epochs": "num_train_epochs", "lr": "learning_rate", "batch_size": "per_device_train_batch_size"}
#: no command-line word starts with NUL, so the ``bench`` sub-parser takes every word after the command as a value
#: and hands them all, ``--help`` included, to :func:`make_parser`'s parser
_NO_OPTIONS = "\0"
_SUMMARY = "the whole benchmark end to end: data, vanilla, unlearning, evaluation, leaderboard"
_DESCRIPTION = (
    "Without --model/--data: the embedded run (synthetic data, tiny LLaVA trained from scratch on CPU, "
    "about 10 minutes on two cores). With them: the same pipeline with the original protocol's defaults. "
    "Unlearning always runs the original protocol; only step size, epochs and LoRA rank can be tuned. "
    "Paper numbers: --model <the released fine-tuned checkpoint> --data <UMU-Bench> --no-finetune. "
    "Every stage is cached under --out by its settings; a rerun reuses them (--force redoes). "
    "As in umu-hf unlearn, a flag is its field's name, with underscores or dashes (--forget_ratio = --forget-ratio)."
)


@dataclass
class BenchArguments:
    """What a bench runs: where, which methods, ratios and seeds, on which model and data."""

    out: str = field(default=DEFAULT_OUT, metadata={"help": f"bench folder (default: {DEFAULT_OUT})"})
    methods: str = field(
        default="ga,gd,kl,po,npo",
        metadata={"help": "comma-separated methods, or 'all' for every registered one (default: ga,gd,kl,po,npo)"},
    )
    forget_ratio: str | None = field(
        default=None,
        metadata={"help": "5, 10 or 15, or several comma-separated for the paper-style table (default: 15 for the "
                  "embedded run, whose 30 fictitious profiles then give 5 people to forget; 5 for real runs)"},
    )
    seeds: str | None = field(
        default=None,
        metadata={"help": "N: repeat the whole chain (model init, vanilla fine-tuning, unlearning) with seeds "
                  "0..N-1, or a comma-separated list of seeds; cells show mean ± sd (default 3 for the embedded "
                  "run, 1 for real runs)"},
    )
    model: str | None = field(
        default=None, metadata={"help": "model to fine-tune and unlearn (default: the embedded tiny LLaVA)"}
    )
    data: str | None = field(
        default=None, metadata={"help": "dataset: Hub repo id, Hub-layout or legacy folder (default: synthetic)"}
    )
    no_finetune: bool = field(default=False, metadata={"help": "--model is already the vanilla (fine-tuned) model"})
    device: Literal["auto", "cpu", "cuda"] = field(
        default="auto", metadata={"help": "where to train and evaluate (default: auto, cuda when available)"}
    )
    force: bool = field(default=False, metadata={"help": "redo every stage instead of reusing cached ones"})
    workers: str = field(
        default="auto",
        metadata={"help": "processes running the stages side by side (default auto: on CPU as many as the cores "
                  "hold at --threads each, at most one per seed; 1 on a GPU), or a count. CPU numbers depend on "
                  "the threads per process (recorded in leaderboard.json), not on the worker count"},
    )
    privacy: bool = field(
        default=False,
        metadata={"help": "also train a retain model (vanilla's fine-tuning without the forget people) per seed and "
                  "forget ratio and add membership-inference AUC, forget quality and PrivLeak per modality to the "
                  "leaderboard (needs data with a holdout config; the synthetic data has one)"},
    )
    robustness: bool = field(
        default=False,
        metadata={"help": "every evaluation also asks forget and retain again in other wordings, with transformed "
                  "portraits and of an 8-bit copy, and scores extraction (umu-hf eval --robustness): the "
                  "leaderboard's robustness table"},
    )
    sequential: str | None = field(
        default=None,
        metadata={"help": "deletion requests served one after another, as the forget ratios they reach (5,10,15): "
                  "per method and seed, unlearn forget05 from vanilla, then the people forget10 adds on the model "
                  "that left, then those forget15 adds; every step evaluated on the last ratio's sets, split by "
                  "request; the last ratio must be one of --forget-ratio (the at-once comparison). Default off"},
    )
    retain_model: str | None = field(
        default=None,
        metadata={"help": "with --no-finetune: the retain model to compare against (implies --privacy)"},
    )
    unimodal_layout: str | None = field(
        default=None,
        metadata={"choices": tuple(UNIMODAL_LAYOUTS),
                  "help": "with --no-finetune: how the given vanilla's fine-tuning asked UM_QA (with-portrait: the "
                  "original protocol, as the released vanilla), for every model's unimodal membership inference "
                  "(default: read from its umu_training.json, else text-only)"},
    )


@dataclass
class BenchSizes:
    """Sizes and training knobs; None keeps the profile's value (embedded or original)."""

    _argument_group_name = "sizes and training (defaults depend on embedded vs real run)"

    fictitious: int | None = field(default=None, metadata={"help": "synthetic fictitious profiles (default 30)"})
    real: int | None = field(default=None, metadata={"help": "synthetic real-set profiles (default 6)"})
    vanilla_epochs: float | None = field(
        default=None, metadata={"help": "epochs of vanilla fine-tuning (embedded 40; original 5)"}
    )
    vanilla_lr: float | None = field(
        default=None, metadata={"help": "learning rate of vanilla fine-tuning (embedded 8e-3; original 2e-5)"}
    )
    vanilla_batch_size: int | None = field(
        default=None, metadata={"help": "batch size of vanilla fine-tuning (embedded 16; original 4)"}
    )
    unlearn_epochs: float | None = field(
        default=None, metadata={"help": "epochs of every method (default: each method's original)"}
    )
    unlearn_lr_scale: float | None = field(
        default=None,
        metadata={"help": "x each method's original learning rate (embedded default 300, chosen on tuning seeds: "
                  "docs/protocol.md; real runs 1)"},
    )
    unlearn_lora_r: int | None = field(
        default=None, metadata={"help": "LoRA rank of unlearning (embedded 16; original 64)"}
    )
    eval_limit: int | None = field(
        default=None, metadata={"help": "only the first N question pairs per set and task"}
    )
    eval_batch_size: int | None = field(
        default=None, metadata={"help": "questions per evaluation batch (embedded 32; real runs 8)"}
    )
    eval_max_new_tokens: str | None = field(
        default=None,
        metadata={"help": "TASK=N[,TASK=N...]: override tasks' generation budgets (default the original protocol's, "
                  "e.g. generation=200; recorded in each results.json), e.g. generation=32 for a quicker smoke run"},
    )
    min_vanilla_acc: float | None = field(
        default=None, metadata={"help": "vanilla retain AccR needed to go on (default 60)"}
    )
    threads: int | None = field(
        default=None,
        metadata={"help": "intra-op threads per process on CPU (embedded 1, the setting its step size was tuned "
                  "with: the same numbers on any core count; real runs: the cores divided among the workers)"},
    )
    eval_every: str | None = field(
        default=None,
        metadata={"help": "probe forget and retain accuracy per modality every N unlearning steps (or 'epoch'; "
                  "'off' for none) for the trajectory panels and matched forgetting (default: every 10 steps in "
                  "the embedded run, off for real runs)"},
    )


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


def _budgets(text: str) -> dict[str, int]:
    """``"generation=32,cloze=8"`` → ``{"generation": 32, "cloze": 8}``, every task and count checked (each part
    parsed as ``umu-hf eval --max-new-tokens`` parses its one)."""
    from umu_hf.errors import UmuError
    from umu_hf.evaluation.cli import _task_budget
    from umu_hf.evaluation.request import task_budgets

    try:
        pairs = dict(_task_budget(part) for part in str(text).split(","))
        task_budgets(pairs)
    except (argparse.ArgumentTypeError, UmuError) as exc:
        raise UmuError(f"--eval-max-new-tokens: {exc}") from None
    return pairs


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


def _sequence(text: str | None, ratios: tuple[int, ...]) -> tuple[int, ...]:
    """``--sequential 5,10,15`` → ``(5, 10, 15)`` (None: off), checked; its last ratio must be a bench ratio, whose
    runs are the at-once comparison."""
    from umu_hf.bench.settings import check_sequential
    from umu_hf.data.schema import check_sequence
    from umu_hf.errors import UmuError

    if text is None:
        return ()
    try:
        sequence = check_sequence(text)
    except UmuError as exc:
        raise UmuError(f"--sequential {text}: {exc}") from None
    check_sequential(sequence, ratios)
    return sequence


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


def bench_settings(args: BenchArguments, sizes: BenchSizes) -> BenchSettings:
    """The run's settings: the profile (embedded, or the original protocol's when ``--model`` or ``--data`` is
    given) with every flag given put in; a flag that contradicts another is one clear error naming both."""
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
    ratios = _ratios(args.forget_ratio, base.forget_ratios)
    settings = replace(
        base,
        methods=methods,
        forget_ratios=ratios,
        sequential=_sequence(args.sequential, ratios),
        seeds=_seeds(args.seeds, base.seeds),
        model=args.model,
        data=args.data,
        finetune=not args.no_finetune,
        device=args.device,
        privacy=args.privacy or args.retain_model is not None,
        retain_model=args.retain_model,
        unimodal_layout=args.unimodal_layout,
        robustness=args.robustness,
    )
    if sizes.fictitious is not None:
        settings.n_fictitious = sizes.fictitious
    if sizes.real is not None:
        settings.n_real = sizes.real
    if sizes.eval_limit is not None:
        settings.eval_limit = sizes.eval_limit
    if sizes.eval_batch_size is not None:
        settings.eval_batch_size = sizes.eval_batch_size
    if sizes.eval_max_new_tokens is not None:
        settings.eval_max_new_tokens = _budgets(sizes.eval_max_new_tokens)
    if sizes.threads is not None:
        settings.threads = sizes.threads
    if sizes.min_vanilla_acc is not None:
        settings.min_vanilla_retain_acc = sizes.min_vanilla_acc
    if sizes.eval_every is not None:
        from umu_hf.trainers.trajectory import parse_eval_every

        settings.eval_every = "" if parse_eval_every(sizes.eval_every) is None else sizes.eval_every.strip().lower()
    for name, config_field in _VANILLA_FLAGS.items():
        value = getattr(sizes, f"vanilla_{name}")
        if value is not None:
            settings.vanilla = {**settings.vanilla, config_field: value}
    tuning = settings.unlearn
    settings.unlearn = replace(
        tuning,
        lr_scale=tuning.lr_scale if sizes.unlearn_lr_scale is None else sizes.unlearn_lr_scale,
        epochs=tuning.epochs if sizes.unlearn_epochs is None else sizes.unlearn_epochs,
        lora_r=tuning.lora_r if sizes.unlearn_lora_r is None else sizes.unlearn_lora_r,
    )
    return settings


def make_parser(prog: str = "umu-hf bench") -> FlagParser:
    """The bench's parser: the fields of :class:`BenchArguments` and :class:`BenchSizes` as flags."""
    from umu_hf.flags import FlagParser

    # the help states each default itself: most depend on the profile, which a flag's default cannot say
    return FlagParser((BenchArguments, BenchSizes), prog=prog, description=_DESCRIPTION,
                      formatter_class=argparse.HelpFormatter)


def parse_args(argv: list[str], prog: str = "umu-hf bench") -> tuple[BenchArguments, BenchSizes]:
    """``argv`` (the words after ``umu-hf bench``) as the bench's two argument dataclasses."""
    args, sizes = make_parser(prog).parse_dataclasses(argv)
    return args, sizes


def _run(namespace: argparse.Namespace) -> int:
    from umu_hf.bench.pipeline import Bench

    args, sizes = parse_args(namespace.argv)
    table = Bench(args.out, bench_settings(args, sizes), force=args.force, workers=args.workers).run()
    print(table)
    return 0


def register(sub: Any) -> None:
    """Add ``bench`` to the ``umu-hf`` parser; its own parser (:func:`make_parser`) reads the words after it."""
    p = sub.add_parser("bench", help=_SUMMARY, add_help=False, prefix_chars=_NO_OPTIONS)
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=_run)
