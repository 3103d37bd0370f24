"""The relearning attack, across modalities: does an unlearned model get its forget answers back after a few
fine-tuning steps on the forget profiles — and does relearning through one modality restore the other?

From the unlearned model, two attacks, each on a fresh copy: fine-tune ``steps`` optimiser steps on the forget
people's **text-only** pairs (``UM_QA``, no image: ``"text_only"``) and, separately, on their **image** pairs
(``MM_QA`` with the portrait: ``"image"``). Training is the vanilla fine-tuning's (:class:`FinetuneTrainer`
with its Config: the original protocol's full labels, AdamW eps 1e-6, no weight decay) on a
:class:`~umu_hf.data.collate.StreamDataset` of one stream, so each step is one batch of that modality only;
by default through a LoRA adapter (r 8, alpha 16, every linear layer: the original fine-tuning's) merged after
training. Each relearned model, and the unlearned model itself (``"before"``), is then evaluated on the forget
set by the evaluation runner, and the forget accuracy of classification and cloze is read per modality::

    {"classification": {"before": {"unimodal": %, "multimodal": %, "AccF": %},
                        "text_only": {...}, "image": {...}, "steps": N},
     "cloze": {...}, "steps": N, "settings": {...}, ...}

A model that never saw the forget people learns from the relearning pairs too, so a restoration means little
alone: ``umu-hf relearn --baseline RETAIN_MODEL`` attacks that model the same way and reports, under ``excess``,
the accuracy restored beyond what the attack teaches from scratch (:func:`run_relearn`).

``unimodal``/``multimodal`` are the forget accuracies (percent of questions right) in each modality, ``AccF`` the
benchmark's joint forget accuracy (right in at least one). Cross-modal leakage reads as ``text_only`` raising
``multimodal`` (and ``image`` raising ``unimodal``). ``umu-hf relearn`` writes it to ``OUT/relearn.json``; the
runner's folders are ``OUT/evals/{before,text_only,image}`` (generation is evaluated too, as the runner always
does, but not reported here).
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError

#: relearning streams: name -> (dataset column, asked with the portrait)
STREAMS: dict[str, tuple[str, bool]] = {"text_only": ("UM_QA", False), "image": ("MM_QA", True)}
#: the tasks whose forget accuracy is reported
RELEARN_TASKS: tuple[str, ...] = ("classification", "cloze")
#: what ``umu-hf relearn`` writes
RELEARN_FILE = "relearn.json"


@dataclass(frozen=True)
class RelearnSettings:
    """How the attacker fine-tunes and how the result is evaluated.

    ``steps`` optimiser steps of ``batch_size`` pairs at a constant ``learning_rate`` (the forget pairs are
    reshuffled each pass); ``lora``: through a LoRA adapter (:data:`FINETUNE_LORA`, merged afterwards) rather
    than every weight. ``limit``: only the first ``limit`` question pairs per task in the evaluation.
    ``device``/``dtype``: where and how the model is loaded (``dtype="auto"``: the training's, float16 on CUDA
    under LoRA, else float32). ``eval_batch_size``: questions per ``generate`` call (or ``"auto"``).
    """

    steps: int = 10
    learning_rate: float = 1e-4
    batch_size: int = 4
    lora: bool = True
    seed: int = 42
    limit: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    eval_batch_size: int | str = "auto"

    def __post_init__(self) -> None:
        from umu_hf.utils import check_dtype

        for name in ("steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UmuError(f"relearn: {name} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UmuError(f"relearn: learning_rate must be > 0, got {self.learning_rate}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise UmuError(f"relearn: limit must be a positive integer, got {self.limit!r}")
        check_dtype(self.dtype)


def _training_dtype(settings: RelearnSettings) -> str:
    """``settings.dtype``, or for ``auto`` what fine-tuning would use (:func:`umu_hf.trainers.jobs.model_dtype`)."""
    if settings.dtype != "auto":
        return settings.dtype
    import torch

    on_cuda = settings.device != "cpu" and torch.cuda.is_available()
    return "float16" if settings.lora and on_cuda else "float32"


def forget_pairs(data: str, forget_ratio: int, stream: str) -> tuple[list[Any], dict[int, Any]]:
    """``(pairs, portraits)`` of one relearning stream: every forget profile's ``UM_QA`` pairs without the
    portrait (``"text_only"``) or ``MM_QA`` pairs with it (``"image"``; portraits decoded once)."""
    from umu_hf.data.collate import flat_qa
    from umu_hf.data.decode import decode_images
    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import forget_config

    if stream not in STREAMS:
        raise UmuError(f"unknown relearning stream {stream!r}; choose from {', '.join(STREAMS)}")
    column, with_image = STREAMS[stream]
    name = forget_config(forget_ratio)
    split = load_umu_split(data, name)
    pairs = flat_qa(split, column, with_image, name)
    return pairs, (decode_images(split) if with_image else {})


def relearn_model(
    loaded: tuple[Any, Any, Any],
    pairs: Sequence[Any],
    images: Mapping[int, Any],
    settings: RelearnSettings,
) -> tuple[Any, dict[str, Any]]:
    """Fine-tune ``loaded[0]`` for ``settings.steps`` steps on ``pairs`` (one modality: all with or all without
    the portrait); returns ``(model, log)``: the trained model (LoRA merged in; it is ``loaded[0]`` itself when
    training every weight) in eval mode, and ``{"train_loss", "steps", "pairs"}``."""
    from transformers import set_seed

    from umu_hf.data.collate import StreamDataset
    from umu_hf.trainers.finetune import FINETUNE_LORA, FinetuneConfig, FinetuneTrainer
    from umu_hf.trainers.lora import apply_lora

    if not pairs:
        raise UmuError("relearn: no forget pairs to train on")
    model, _processor, adapter = loaded
    modality = "mm" if pairs[0].with_image else "um"
    if any(p.with_image != pairs[0].with_image for p in pairs):
        raise UmuError("relearn: a relearning stream holds pairs of one modality only")
    dataset = StreamDataset({("train", modality): list(pairs)}, images)
    with tempfile.TemporaryDirectory(prefix="umu-relearn-") as scratch:
        config = FinetuneConfig(
            output_dir=scratch,
            max_steps=settings.steps,
            learning_rate=settings.learning_rate,
            lr_scheduler_type="constant",
            per_device_train_batch_size=settings.batch_size,
            seed=settings.seed,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            logging_steps=max(1, settings.steps),
            use_cpu=settings.device == "cpu",
            model_dtype=_training_dtype(settings),
        )
        if settings.lora:
            set_seed(settings.seed)  # the adapter's random init is part of the run
            lora = FINETUNE_LORA.settings().resolved(FinetuneTrainer.lora_target_modules)
            model = apply_lora(model, lora)
        model.train()
        trainer = FinetuneTrainer(model=model, args=config, train_dataset=dataset, adapter=adapter)
        output = trainer.train()
    if settings.lora:
        model = model.merge_and_unload()
    model.eval()
    log = {"train_loss": float(output.training_loss), "steps": int(output.global_step), "pairs": len(pairs)}
    return model, log


def forget_accuracy(results: Mapping[str, Any], tasks: Sequence[str] = RELEARN_TASKS) -> dict[str, dict]:
    """``{task: {"unimodal": %, "multimodal": %, "AccF": %, "n": pairs}}`` from a runner results dict's forget set.

    >>> block = {"AccF": 50.0, "unimodal_acc": 25.0, "multimodal_acc": 50.0, "n": 4}
    >>> forget_accuracy({"sets": {"forget": {"cloze": block}}}, ("cloze",))
    {'cloze': {'unimodal': 25.0, 'multimodal': 50.0, 'AccF': 50.0, 'n': 4}}
    """
    forget = results["sets"]["forget"]
    return {
        task: {
            "unimodal": forget[task]["unimodal_acc"],
            "multimodal": forget[task]["multimodal_acc"],
            "AccF": forget[task]["AccF"],
            "n": forget[task]["n"],
        }
        for task in tasks
    }


def _evaluate(loaded: tuple[Any, Any, Any], model_path: str, data: str, ratio: int, out: Path,
              settings: RelearnSettings) -> dict[str, dict]:
    from umu_hf.evaluation.runner import EvalRequest, evaluate_model

    request = EvalRequest(
        str(model_path), str(data), ratio, out, sets=("forget",), limit=settings.limit,
        batch_size=settings.eval_batch_size, overwrite=True,
    )
    return forget_accuracy(evaluate_model(request, loaded=loaded, progress=False))


def relearn_attack(
    model_path: str,
    data: str,
    forget_ratio: int | str,
    out_dir: str | Path,
    settings: RelearnSettings | None = None,
    *,
    save_models: bool = False,
) -> dict[str, Any]:
    """Run the relearning attack on ``model_path`` (the unlearned model) and return the report (module
    docstring); the runner's evaluation folders go under ``out_dir/evals``, and with ``save_models`` each
    relearned model under ``out_dir/models/<stream>``. Nothing is written to ``out_dir/relearn.json`` here
    (:func:`run_relearn` does that)."""
    from umu_hf.data.schema import check_forget_ratio
    from umu_hf.models.loading import load_model

    settings = settings or RelearnSettings()
    ratio = check_forget_ratio(forget_ratio)
    out = Path(out_dir)
    dtype = _training_dtype(settings)
    evals = out / "evals"
    accuracy: dict[str, dict[str, dict]] = {}
    training: dict[str, dict[str, Any]] = {}
    loaded = load_model(model_path, settings.device, dtype)
    accuracy["before"] = _evaluate(loaded, model_path, data, ratio, evals / "before", settings)
    for stream in STREAMS:
        if loaded is None:
            loaded = load_model(model_path, settings.device, dtype)
        pairs, images = forget_pairs(data, ratio, stream)
        model, training[stream] = relearn_model(loaded, pairs, images, settings)
        relearned = (model, loaded[1], loaded[2])
        accuracy[stream] = _evaluate(relearned, model_path, data, ratio, evals / stream, settings)
        if save_models:
            model.save_pretrained(str(out / "models" / stream))
            loaded[1].save_pretrained(str(out / "models" / stream))
        loaded = relearned = model = None  # a fresh copy of the unlearned model for the next stream
    from umu_hf import __version__

    report: dict[str, Any] = {
        "umu_hf_version": __version__,
        "model": str(model_path),
        "data": str(data),
        "forget_ratio": ratio,
        "steps": settings.steps,
        "settings": {**asdict(settings), "dtype": dtype, "trainer": "finetune (original protocol labels)",
                     "lora": "r 8, alpha 16, all-linear, merged" if settings.lora else None},
        "streams": {name: {"column": column, "with_image": image} for name, (column, image) in STREAMS.items()},
        "training": training,
    }
    for task in RELEARN_TASKS:
        report[task] = {name: accuracy[name][task] for name in ("before", *STREAMS)}
        report[task]["steps"] = settings.steps
    report["evaluations"] = {name: str(evals / name) for name in ("before", *STREAMS)}
    return report


def run_relearn(model_path: str, data: str, forget_ratio: int | str, out_dir: str | Path,
                settings: RelearnSettings | None = None, *, save_models: bool = False,
                baseline: str | None = None) -> Path:
    """:func:`relearn_attack`, then write its report to ``out_dir/relearn.json`` atomically; returns that path.

    ``baseline``: a model that never saw the forget people (the retain model) attacked the same way (its report
    under ``baseline``, its folders under ``out_dir/baseline``), and ``excess``: per stream, task and modality, the
    accuracy the attack restored to ``model_path`` beyond what it taught the baseline from scratch — what was
    hidden rather than relearned."""
    from umu_hf.models.loading import check_model_source
    from umu_hf.utils import write_json

    if baseline is not None:
        check_model_source(baseline)  # before the attack on the model, not after it
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = relearn_attack(model_path, data, forget_ratio, out, settings, save_models=save_models)
    if baseline is not None:
        reference = relearn_attack(baseline, data, forget_ratio, out / "baseline", settings)
        report["baseline"] = {"model": str(baseline), **{t: reference[t] for t in RELEARN_TASKS}}
        report["excess"] = excess_over_baseline(report, report["baseline"])
    write_json(out / RELEARN_FILE, report)
    return out / RELEARN_FILE


def excess_over_baseline(report: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, dict]:
    """``{stream: {task: {"unimodal", "multimodal", "AccF"}}}``: (after − before) of the attacked model minus the
    same of the baseline, in points.

    >>> row = lambda u, m: {"unimodal": u, "multimodal": m, "AccF": max(u, m)}
    >>> model = {"cloze": {"before": row(0, 0), "text_only": row(80, 40), "image": row(60, 60)}}
    >>> base = {"cloze": {"before": row(0, 0), "text_only": row(50, 0), "image": row(10, 20)}}
    >>> excess_over_baseline(model, base)["text_only"]["cloze"]
    {'unimodal': 30, 'multimodal': 40, 'AccF': 30}
    """
    return {
        stream: {
            task: {
                key: (report[task][stream][key] - report[task]["before"][key])
                - (baseline[task][stream][key] - baseline[task]["before"][key])
                for key in ("unimodal", "multimodal", "AccF")
            }
            for task in RELEARN_TASKS if task in report and task in baseline
        }
        for stream in STREAMS
    }


# -- umu-hf relearn ------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relearn`` to the ``umu-hf`` parser."""
    defaults = RelearnSettings()
    parser = subparsers.add_parser(
        "relearn",
        help="relearning attack: fine-tune an unlearned model a few steps on the forget people's text-only or "
        "image pairs, then measure forget accuracy in both modalities",
        description="From the unlearned model, fine-tune STEPS steps on the forget profiles' text-only pairs "
        "(UM_QA) and, separately, on their image pairs (MM_QA with the portrait); evaluate the forget set "
        "before and after each, and write OUT/relearn.json: per task (classification, cloze), the forget "
        "accuracy in each modality before, after text-only relearning and after image relearning.",
    )
    parser.add_argument("--model", required=True, help="the unlearned model (folder or Hub id)")
    parser.add_argument("--data", required=True, help="dataset: Hub repo id, Hub-layout folder or published layout")
    parser.add_argument("--forget-ratio", required=True, help="5, 10 or 15")
    parser.add_argument("--out", required=True, help="output folder (relearn.json, evals/)")
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help=f"optimiser steps per relearning stream (default {defaults.steps})")
    parser.add_argument("--learning-rate", "--lr", type=float, default=defaults.learning_rate,
                        help=f"constant learning rate (default {defaults.learning_rate})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"pairs per step (default {defaults.batch_size})")
    parser.add_argument("--no-lora", action="store_true",
                        help="train every weight instead of a LoRA adapter (r 8, alpha 16, all linear layers)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed (default {defaults.seed})")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N question pairs per task")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16 (default auto)")
    parser.add_argument("--save-models", action="store_true", help="also save each relearned model in OUT/models/")
    parser.add_argument("--baseline", metavar="MODEL",
                        help="a model that never saw the forget people (the retain model): attacked the same way, and "
                        "the report says how much accuracy came back beyond what the attack teaches it from scratch")
    parser.set_defaults(func=_relearn)


def _relearn(args: argparse.Namespace) -> int:
    settings = RelearnSettings(
        steps=args.steps, learning_rate=args.learning_rate, batch_size=args.batch_size, lora=not args.no_lora,
        seed=args.seed, limit=args.limit, device=args.device, dtype=args.dtype,
    )
    path = run_relearn(args.model, args.data, args.forget_ratio, args.out, settings, save_models=args.save_models,
                       baseline=args.baseline)
    print(format_report(_read(path)))
    print(f"report: {path}")
    return 0


def _read(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def format_report(report: Mapping[str, Any]) -> str:
    """The forget accuracies of a report as aligned text, one row per task and stage.

    >>> row = {"unimodal": 10.0, "multimodal": 20.0, "AccF": 25.0, "n": 4}
    >>> print(format_report({"classification": {"before": row, "text_only": row, "image": row, "steps": 3}}))
    task            stage      unimodal  multimodal   AccF
    classification  before        10.00       20.00  25.00
    classification  text_only     10.00       20.00  25.00
    classification  image         10.00       20.00  25.00
    """
    lines = [f"{'task':<15} {'stage':<10} {'unimodal':>8}  {'multimodal':>10}  {'AccF':>5}"]
    for task in (t for t in RELEARN_TASKS if t in report):
        for stage in ("before", *STREAMS):
            row = report[task][stage]
            lines.append(f"{task:<15} {stage:<10} {row['unimodal']:8.2f}  {row['multimodal']:10.2f}  "
                         f"{row['AccF']:5.2f}")
    if "excess" in report:
        lines.append(f"restored beyond the baseline ({report['baseline']['model']}), in points:")
        for stream, tasks in report["excess"].items():
            for task, row in tasks.items():
                lines.append(f"{task:<15} {stream:<10} {row['unimodal']:+8.2f}  {row['multimodal']:+10.2f}  "
                             f"{row['AccF']:+5.2f}")
    return "\n".join(lines)
