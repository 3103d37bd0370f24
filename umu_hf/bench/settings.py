"""Settings of a bench run and the two default profiles: the embedded tiny run and the original LLaVA run.

The embedded profile is tuned so the whole run (synthetic data, tiny LLaVA, vanilla fine-tuning, five methods,
every evaluation, three seeds) fits the README's time budget on two CPU cores while the vanilla model
demonstrably knows the profiles.
Its unlearning runs the original protocol; only step size, epochs and LoRA rank are tuned for the tiny model
(:class:`UnlearnTuning`, written into leaderboard.json). The original profile is the original protocol's
defaults for a real checkpoint on a GPU.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from umu_hf.trainers.lora import FINETUNE_LORA, LoraArguments
from umu_hf.trainers.registry import ORIGINAL_METHODS

#: Config fields every bench training run sets on top of its own: logging and checkpoints, which change no numbers
RUN_FIELDS: dict[str, Any] = {"logging_steps": 25, "save_strategy": "epoch", "save_total_limit": 1}


@dataclass
class UnlearnTuning:
    """What a bench may tune of the unlearning runs: step size, epochs and LoRA rank — nothing else.

    Every other setting (losses, labels, streams, batch size, clipping, AdamW, LoRA alpha/dropout/targets) is the
    method's original Config and :class:`LoraArguments`. ``lr_scale`` multiplies each method's original learning
    rate (so NPO keeps its 0.62× of the others); ``epochs`` replaces every method's original epochs when set.
    """

    lr_scale: float = 1.0
    epochs: float | None = None
    lora_r: int = LoraArguments.lora_r

    def lora(self) -> LoraArguments:
        """The unlearning LoRA: the original's with this rank."""
        return LoraArguments(lora_r=self.lora_r)


@dataclass
class BenchSettings:
    """Everything that changes a bench's numbers (hashed into each stage's folder name)."""

    methods: tuple[str, ...] = ORIGINAL_METHODS
    #: 15 % of 30 fictitious profiles = 5 people to forget (5 % would be 2: one question moves a cell by 8 points)
    forget_ratios: tuple[int, ...] = (15,)
    model: str | None = None  # None: build the embedded tiny LLaVA
    data: str | None = None  # None: generate the synthetic dataset
    n_fictitious: int = 30
    n_real: int = 6
    data_seed: int = 0
    tiny_size: str = "small"
    #: each seed repeats the whole chain: tiny model init, vanilla fine-tuning, every unlearning
    seeds: tuple[int, ...] = (0, 1, 2)
    finetune: bool = True
    #: vanilla fine-tuning: the FinetuneConfig fields that differ from its defaults (the original finetune.py's)
    vanilla: dict[str, Any] = field(default_factory=lambda: dict(EMBEDDED_VANILLA))
    vanilla_lora: LoraArguments = field(default_factory=lambda: LoraArguments(lora=False))
    #: the step size chosen by the stated rule (:data:`STEP_SIZE_RULE`) on tuning seeds the reported table does not
    #: use (:data:`STEP_SIZE_SWEEP`, from ``benchmarks/step_size_sweep.py``; docs/protocol.md, "The embedded bench")
    unlearn: UnlearnTuning = field(default_factory=lambda: UnlearnTuning(lr_scale=300.0, epochs=None, lora_r=16))
    #: per method, Config fields set on top of the tuning (e.g. ``{"npo": {"beta": 0.2}}``)
    method_extra: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: 32, not 64 or 128: the same replies (every seed of the default bench, 2026-12-06: byte-identical leaderboard),
    #: and a batch's KV cache is what evaluating a model that answers in 200-token garbage peaks on (the default
    #: bench's peak RSS 730,860 KiB against 746,772-753,572 at 64; 64 was 70 MB less than 128)
    eval_batch_size: int = 32
    eval_limit: int | None = None
    #: per-task overrides of the evaluation's generation budgets (docs/protocol.md's; not the original protocol):
    #: part of each evaluation's key when set, recorded in its results.json
    eval_max_new_tokens: dict[str, int] | None = None
    min_vanilla_retain_acc: float = 60.0
    device: str = "auto"
    #: intra-op threads of each process on CPU. The numbers depend on it (the order of float summation in a
    #: matrix product) and unlearning at the tuned step size amplifies that into points (docs/protocol.md), so the
    #: embedded profile fixes 1: the same numbers on any machine's core count, with ``--workers auto`` running one
    #: process per core. None: the cores divided among the workers (real runs). Part of every training key.
    threads: int | None = 1
    #: privacy columns: per seed and forget ratio a retain model (vanilla's fine-tuning without the forget
    #: people) is trained and every model gets membership inference, forget quality and PrivLeak against it
    privacy: bool = False
    #: with ``finetune=False`` (a given vanilla) a retain model cannot be trained: give one
    retain_model: str | None = None
    #: the accuracy probe's period during unlearning (``--eval_every``: steps, ``epoch``, or "" for none): the
    #: trajectories and matched forgetting; it changes no weight
    eval_every: str = "10"
    #: with ``finetune=False``: how the given vanilla's fine-tuning asked UM_QA (``umu_hf.privacy.mia.UNIMODAL_LAYOUTS``)
    #: for membership inference; None: each model's training records say (the bench's own fine-tuning writes them)
    unimodal_layout: str | None = None
    #: every evaluation also asks forget and retain again with transformed portraits and of a quantized copy, and
    #: scores extraction (:mod:`umu_hf.robustness`): the leaderboard's robustness table
    robustness: bool = False
    #: deletion requests served one after another (``--sequential 5,10,15``: forget ratios, increasing): per method
    #: and seed, each request's people unlearned on the model the request before left, every step evaluated at the
    #: last ratio; the leaderboard's sequential section (:mod:`umu_hf.leaderboard.sequential`). Empty: off
    sequential: tuple[int, ...] = ()


#: how the embedded bench's unlearning step size was chosen
STEP_SIZE_RULE = (
    "lr_scale (x each method's original learning rate, keeping the original's ratios between methods) that "
    "maximises the mean multimodal selectivity of GA, GD, KL, PO and NPO on tuning seeds 100-102 (not reported), "
    "a run's multimodal selectivity being the mean over classification and cloze of retain minus forget multimodal "
    "accuracy (full evaluation); everything else as the bench runs it (LoRA r 16, each method's original epochs, "
    "one intra-op thread per process)"
)
#: the sweep behind :data:`STEP_SIZE_RULE`: lr_scale -> mean multimodal selectivity (percentage points), measured
#: with one thread per process (the bench's :attr:`BenchSettings.threads`) and the 30-epoch vanilla
#: (:data:`EMBEDDED_VANILLA`) by ``python benchmarks/step_size_sweep.py --seeds 100,101,102 --scales
#: 100,200,300,400,600,800 --workers 2`` (33 min on two cores beside other work, 2026-12-05)
STEP_SIZE_SWEEP: dict[float, float] = {100: 14.18, 200: 12.44, 300: 14.62, 400: 13.47, 600: 11.93, 800: 13.58}


def original_profile(**overrides: Any) -> BenchSettings:
    """The original protocol for a real checkpoint: each method's original Config (docs/protocol.md), and the
    original fine-tuning for vanilla (FinetuneConfig's defaults and :data:`FINETUNE_LORA`: LoRA r 8/alpha 16 on
    every linear layer, lr 2e-5, 5 epochs, batch 4). For paper numbers pass the released vanilla checkpoint with
    ``--no-finetune`` instead."""
    settings = BenchSettings(
        eval_every="",
        vanilla={},
        vanilla_lora=replace(FINETUNE_LORA),
        unlearn=UnlearnTuning(),
        eval_batch_size=8,
        threads=None,
        forget_ratios=(5,),
        seeds=(0,),
    )
    for key, value in overrides.items():
        setattr(settings, key, value)
    return settings


#: the embedded run's vanilla fine-tuning (FinetuneConfig fields; every weight of the tiny model: LoRA off):
#: umu-hf's paired streams (a model trained from scratch must see each unimodal question without the portrait to
#: answer it so) with EOS (so it learns to stop), and labels on every token, as the original unlearning scores
#: them: a model trained from scratch on answers only is confidently wrong on every prompt token (NLL 17.5 against
#: 0.15 with full labels, benchmarks/label_nll.py), and the original full-label unlearning loss is then almost
#: entirely those tokens, not the person's facts; 30 epochs at lr 1e-2 (cosine): every tuning and reported seed's
#: vanilla at 100 % in every cell, a quarter less compute than the 40 epochs at 8e-3 before it (30 epochs at 8e-3
#: had left one seed at 78 % retain cloze). Recorded in leaderboard.json.
EMBEDDED_VANILLA: dict[str, Any] = {
    "num_train_epochs": 30, "learning_rate": 1e-2, "per_device_train_batch_size": 16, "lr_scheduler_type": "cosine",
    "warmup_steps": 0.03, "protocol": "umu-hf", "label_mode": "full", "adam_epsilon": 1e-8, "max_grad_norm": 1.0,
}


def check_sequential(sequential: tuple[int, ...], ratios: tuple[int, ...]) -> None:
    """A sequence of requests (``--sequential``) must end at a forget ratio the bench runs: those plain runs are
    what the sequence is compared with (unlearning it all at once)."""
    if sequential and sequential[-1] not in ratios:
        from umu_hf.errors import UmuError

        last = sequential[-1]
        raise UmuError(f"--sequential {','.join(map(str, sequential))} ends at forget {last} %, which the bench does "
                       f"not run (--forget-ratio {','.join(map(str, ratios))}): the sequence is compared with "
                       f"unlearning forget{last:02d} at once; add {last} to --forget-ratio")


def config_default(config_cls: type, name: str) -> Any:
    """The default of one field of a Config dataclass."""
    return config_cls.__dataclass_fields__[name].default


def content_fingerprint(source: str) -> str:
    """A short fingerprint of what a local folder holds (a Hub id stands for itself): every file's relative
    path and sha256 — for files over 64 MiB their size and their first and last MiB, so a 7B checkpoint costs
    milliseconds. Stage keys use it, so ``--data D2`` or a retrained model at the same path is never mistaken
    for the cached one."""
    import os
    from pathlib import Path

    root = Path(source)
    if not root.exists():
        return settings_hash("hub", source)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for file in files:
        if file.name.startswith(".umu") or file.name == "umu-stage.json":
            continue  # umu-hf's own markers and locks are not content
        digest.update(str(file.relative_to(root) if file != root else file.name).encode())
        size = file.stat().st_size
        with open(file, "rb") as handle:
            if size <= 64 << 20:
                digest.update(handle.read())
            else:
                digest.update(str(size).encode() + handle.read(1 << 20))
                handle.seek(-(1 << 20), os.SEEK_END)
                digest.update(handle.read())
    return digest.hexdigest()[:10]


def settings_hash(*parts: Any) -> str:
    """A short stable hash of JSON-able settings (names a stage's folder)."""
    blob = json.dumps(parts, sort_keys=True, default=_jsonable).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def unlearn_fields(tuning: UnlearnTuning, config_cls: type, extra: dict[str, Any] | None = None,
                   eval_every: str = "") -> dict[str, Any]:
    """The config fields a bench sets for one method: its original lr × ``lr_scale``, the epochs when set, and the
    accuracy probe's period when on."""
    fields: dict[str, Any] = {"learning_rate": config_default(config_cls, "learning_rate") * tuning.lr_scale}
    if tuning.epochs is not None:
        fields["num_train_epochs"] = tuning.epochs
    if eval_every:
        fields["eval_every"] = eval_every
    return {**fields, **(extra or {})}


def _original_budgets() -> str:
    """The original protocol's generation budgets, as words: "classification 50, cloze 50, generation 200"."""
    from umu_hf.prompts import MAX_NEW_TOKENS

    return ", ".join(f"{task} {tokens}" for task, tokens in MAX_NEW_TOKENS.items())


def training_record(settings: BenchSettings, models: dict[str, str]) -> dict[str, Any]:
    """What leaderboard.json says about training: the bench's tuning and each model's own record (``models``:
    name -> the folder of its first seed's model)."""
    from pathlib import Path

    from umu_hf.trainers.jobs import TRAINING_RECORD

    per_model = {}
    for name, path in models.items():
        file = Path(path) / TRAINING_RECORD
        per_model[name] = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
    tuned_here = settings.model is None and settings.unlearn == BenchSettings().unlearn
    return {
        "unlearning_tuning": {
            **asdict(settings.unlearn),
            "note": "only step size (lr_scale x each method's original lr), epochs and LoRA rank differ from the "
                    "original protocol",
            **({"rule": STEP_SIZE_RULE, "sweep": {"tuning_seeds": [100, 101, 102],
                                                  "mean_multimodal_selectivity": STEP_SIZE_SWEEP}}
               if tuned_here else {}),
            **({"eval_every": settings.eval_every} if settings.eval_every else {}),
        },
        "vanilla": {
            "config": settings.vanilla,
            "lora": asdict(settings.vanilla_lora) if settings.vanilla_lora.lora else None,
            "note": "config: the FinetuneConfig fields that differ from its defaults (the original finetune.py's)",
        } if settings.finetune else "given (--no-finetune)",
        "models": per_model,
        **({"evaluation": {"max_new_tokens": settings.eval_max_new_tokens,
                           "note": "generation budgets overridden (--eval-max-new-tokens): not the original "
                                   f"protocol's {_original_budgets()}"}}
           if settings.eval_max_new_tokens else {}),
    }
