"""One function per job — fine-tune, unlearn — shared by the training front end (``umu-hf finetune|unlearn``,
``trainers/*.py``: :mod:`umu_hf.trainers.front`) and ``umu-hf bench``."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError
from umu_hf.trainers.checkpoints import TRAINING_RECORD
from umu_hf.trainers.configs import UMUConfig, UnlearnConfig
from umu_hf.trainers.guard import TrainingDivergedError
from umu_hf.trainers.lora import ORIGINAL_TARGETS, LoraArguments, LoraSettings, apply_lora
from umu_hf.trainers.trajectory import TrajectoryCallback, parse_eval_every
from umu_hf.utils import write_json

logger = logging.getLogger(__name__)
#: the original unlearning LoRA (:class:`LoraArguments`' defaults)
DEFAULT_LORA = LoraArguments().settings()
#: written next to every trained model: the Trainer's log history (losses and terms per logged step, full precision)
TRAINING_LOG = "umu_train_log.json"
#: whether vanilla fine-tuning asks the ``UM_QA`` pairs with the portrait, per ``streams``: the original's one stream
#: does (as the released vanilla was trained), umu-hf's paired streams do not (:func:`build_finetune_dataset`).
#: Recorded as ``um_qa_with_portrait`` in a fine-tuned model's :data:`TRAINING_RECORD`: membership inference scores
#: the pairs as the fine-tuning that made them members laid them out (:func:`umu_hf.privacy.mia.training_layout`)
FINETUNE_UM_QA_PORTRAIT: dict[str, bool] = {"independent": True, "paired": False}


def model_dtype(config: UMUConfig, lora: bool = True) -> str:
    """The base weights' dtype: the config's, or for ``auto`` the original's float16 on CUDA when a LoRA adapter
    is trained (the frozen base in half precision, the adapter in float32), float32 otherwise — AdamW on
    float16 weights themselves diverges."""
    if config.model_dtype != "auto":
        return config.model_dtype
    import torch

    return "float16" if lora and torch.cuda.is_available() and not config.use_cpu else "float32"


def build_finetune_dataset(data: str | Path, config_name: str = "full", streams: str = "independent") -> Any:
    """Every QA pair of ``config_name`` (default ``full``: all profiles; several configs joined by ``+``, e.g.
    ``retain85+real`` for the retain model, train on their union).

    ``independent`` (the original): one stream of every ``MM_QA`` and ``UM_QA`` pair, each asked with the
    portrait, as the original vanilla model was trained. ``paired``: a profile's i-th multimodal pair (with the
    portrait) beside its i-th unimodal pair (without).
    """
    from umu_hf.data.collate import QADataset, StreamDataset, flat_qa, paired_qa
    from umu_hf.data.decode import decode_images

    if streams not in FINETUNE_UM_QA_PORTRAIT:
        raise UmuError(f"streams must be one of {', '.join(FINETUNE_UM_QA_PORTRAIT)}, got {streams!r}")
    split = load_training_split(data, config_name)
    images = decode_images(split)
    if streams == "paired":  # paired_qa: each MM_QA pair with the portrait beside a UM_QA pair without
        return QADataset(("train", paired_qa(split, config_name)), images)
    um_qa = flat_qa(split, "UM_QA", FINETUNE_UM_QA_PORTRAIT[streams], config_name)
    return StreamDataset({("train", "mm"): flat_qa(split, "MM_QA", True, config_name) + um_qa}, images)


def load_training_split(data: str | Path, config_name: str) -> Any:
    """The ``train`` split of one config, or the concatenation of several joined by ``+`` (profile IDs are unique
    across configs, so the union is a valid split)."""
    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import check_training_configs

    names = check_training_configs(config_name)
    if len(names) == 1:
        return load_umu_split(data, names[0])
    import datasets

    return datasets.concatenate_datasets([load_umu_split(data, name) for name in names])


def build_unlearning_dataset(
    data: str | Path, forget_ratio: int, retain_seed: int = 42, streams: str = "independent",
    after: int | None = None,
) -> Any:
    """Forget pairs of ``forgetXX`` and retain pairs sub-sampled as the original does (``int(n·(1−p)/p)``,
    seed 42).

    ``independent`` (the original): four flat streams, forget/retain × multimodal/unimodal, each retain stream
    sub-sampled on its own. ``paired``: each forget (multimodal, unimodal) pair joined by a retain one.
    ``after`` (a smaller forget ratio): a later deletion request — the forget pairs of only the people
    ``forgetXX`` adds to ``forget{after}`` (the retain streams stay ``retain(100−XX)``'s).
    """
    from umu_hf.data.collate import QADataset, StreamDataset, flat_qa, paired_qa, subsample_retain
    from umu_hf.data.decode import decode_images
    from umu_hf.data.load import config_ids, load_umu_split
    from umu_hf.data.schema import forget_config, retain_config

    forget_name, retain_name = forget_config(forget_ratio), retain_config(forget_ratio)
    forget = load_umu_split(data, forget_name)
    if after is not None:
        earlier = set(config_ids(data, forget_config(check_after(after, forget_ratio))))
        forget = forget.select([i for i, pid in enumerate(forget["ID"]) if int(pid) not in earlier])
        if len(forget) == 0:
            raise UmuError(f"--forget_after {after}: {forget_name} adds no one to {forget_config(after)} in {data}; "
                           "there is nobody to forget")
        forget_name = f"{forget_name} without {forget_config(after)}"
    retain = load_umu_split(data, retain_name)
    fraction = (100 - forget_ratio) / 100
    if streams == "paired":
        forget_pairs = paired_qa(forget, forget_name)
        retain_pairs = subsample_retain(paired_qa(retain, retain_name), fraction, seed=retain_seed)
        needed = {p[0].profile_id for p in retain_pairs}
    else:
        streams_ = {
            ("forget", "mm"): flat_qa(forget, "MM_QA", True, forget_name),
            ("forget", "um"): flat_qa(forget, "UM_QA", False, forget_name),
            ("retain", "mm"): subsample_retain(flat_qa(retain, "MM_QA", True, retain_name), fraction, retain_seed),
            ("retain", "um"): subsample_retain(flat_qa(retain, "UM_QA", False, retain_name), fraction, retain_seed),
        }
        needed = {p.profile_id for p in streams_[("retain", "mm")]}
    images = {**decode_images(forget), **decode_images(retain, ids=needed)}
    if streams == "paired":
        return QADataset(("forget", forget_pairs), images, {"retain": retain_pairs})
    return StreamDataset(streams_, images)


def check_after(after: Any, forget_ratio: int) -> int:
    """``--forget_after``: a forget ratio smaller than ``forget_ratio`` (the request served before this one)."""
    from umu_hf.data.schema import check_forget_ratio

    try:
        value = check_forget_ratio(after)
    except UmuError as exc:
        raise UmuError(f"--forget_after: {exc}") from None
    if value >= forget_ratio:
        raise UmuError(f"--forget_after {value} must be smaller than --forget_ratio {forget_ratio}: it names the "
                       "request served before this one, whose people are left out")
    return value


def train(
    trainer_cls: type,
    config: UMUConfig,
    model_path: str,
    dataset: Any,
    lora: LoraSettings | None = None,
    merge: bool = False,
    resume: bool = True,
    *,
    overwrite: bool = False,
    source: Mapping[str, Any] | None = None,
    record: Mapping[str, Any] | None = None,
    probe: Callable[[Any], Callable[[Any], dict[str, float]]] | None = None,
) -> Path:
    """Load the model, (optionally) wrap it in LoRA, train, save to ``config.output_dir``.

    The adapter (or full model) and processor land in ``output_dir``; with ``merge`` a merged model that
    ``umu-hf eval`` loads directly goes to ``output_dir/merged``. ``source`` describes the training data (e.g.
    ``{"data": ..., "forget_ratio": 5}``); ``record``: more entries for the training record only (what a reader of
    the model needs, derived from the run's settings, so not part of its identity). A checkpoint of the same run
    (method, model, data, settings: recorded in ``output_dir/umu_run.json`` when training starts) is resumed;
    another run's folder is refused unless ``overwrite``, which discards it
    (:func:`umu_hf.trainers.checkpoints.prepare_output`). With ``config.eval_every`` set, ``probe(adapter)`` builds
    the accuracy probe the run is measured with every so many steps (:mod:`umu_hf.trainers.trajectory`).
    """
    from umu_hf.identity import source_id
    from umu_hf.models.loading import load_model
    from umu_hf.trainers.checkpoints import prepare_output

    out_dir = Path(config.output_dir)
    device = "cpu" if config.use_cpu else "auto"
    dtype = model_dtype(config, lora is not None)
    if lora is not None:
        lora = lora.resolved(trainer_cls.lora_target_modules or ORIGINAL_TARGETS)
    source = dict(source or {})
    inputs = [("model", model_path)] + ([("dataset", source["data"])] if "data" in source else [])
    if "data" in source:
        source["data"] = source_id(source["data"])
    refusals = getattr(config, "refusals", None)
    identity = {
        "method": trainer_cls.method, "model": source_id(model_path), **source, **config.protocol_record(),
        "model_dtype": dtype, "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "refusals": source_id(refusals) if refusals else None, "lora": lora.to_dict() if lora is not None else None,
    }
    checkpoint = prepare_output(out_dir, identity, overwrite=overwrite, resume=resume,
                                main_process=config.process_index == 0, inputs=inputs)
    model, processor, adapter = load_model(model_path, device=device, dtype=dtype)
    ref_model = None
    if lora is not None:
        from transformers import set_seed

        set_seed(config.seed)  # the adapter's random init is part of the run: the same seed, the same run
        model = apply_lora(model, lora)
    elif trainer_cls.needs_reference:
        logger.warning(
            "%s without LoRA: loading a frozen second copy of %s as the reference (use LoRA to avoid the copy)",
            trainer_cls.method,
            model_path,
        )
        ref_model = load_model(model_path, device=device, dtype=dtype)[0]
    model.train()
    kwargs = {"ref_model": ref_model} if ref_model is not None else {}
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter, **kwargs)
    every = parse_eval_every(getattr(config, "eval_every", None))
    if every is not None:
        if probe is None:
            raise UmuError(f"--eval_every: {trainer_cls.method} has no accuracy probe (unlearning methods have one)")
        from umu_hf.evaluation.probe import SCORING

        trainer.add_callback(TrajectoryCallback(probe(adapter), every, out_dir, SCORING,
                                                main_process=config.process_index == 0))
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    except TrainingDivergedError as exc:
        last_good = out_dir / "last-good"
        if all(math.isfinite(float(p.detach().abs().sum())) for p in model.parameters()):
            trainer.save_model(str(last_good))
            raise TrainingDivergedError(f"{exc}; the weights before that step are saved in {last_good}") from None
        raise
    trainer.save_model(str(out_dir))
    processor.save_pretrained(str(out_dir))
    extra = dict(record or {})
    record = {"method": trainer_cls.method, "model": str(model_path), **config.protocol_record(),
              "model_dtype": dtype, "lora": lora.to_dict() if lora is not None else None, **extra}
    if trainer.is_world_process_zero():
        write_json(out_dir / TRAINING_RECORD, record)
        write_json(out_dir / TRAINING_LOG, trainer.state.log_history)
        if merge:
            if trainer.is_fsdp_enabled:  # the live weights are shards: merge what save_model gathered
                merged = merge_saved(model_path, out_dir, dtype, lora is not None)
            else:
                merged = model.merge_and_unload() if lora is not None else model
            merged.save_pretrained(str(out_dir / "merged"))
            processor.save_pretrained(str(out_dir / "merged"))
            write_json(out_dir / "merged" / TRAINING_RECORD, record)
    # every rank leaves together: a rank that exits while rank 0 still writes tears the process group down under it
    trainer.accelerator.wait_for_everyone()
    return out_dir / "merged" if merge else out_dir


def merge_saved(model_path: str, out_dir: Path, dtype: str, lora: bool) -> Any:
    """The trained model rebuilt from what :meth:`Trainer.save_model` wrote to ``out_dir``: the base model with the
    saved adapter merged in (``lora``), or the saved full model. A sharded (FSDP) run merges this way, because its
    live parameters are each rank's shards; the saved folder holds the gathered full state dict."""
    from umu_hf.models.loading import load_model

    if not lora:
        return load_model(str(out_dir), device="cpu", dtype=dtype)[0]
    from peft import PeftModel

    base = load_model(model_path, device="cpu", dtype=dtype)[0]
    return PeftModel.from_pretrained(base, str(out_dir)).merge_and_unload()


def unlearn(
    method: str,
    model_path: str,
    data: str | Path,
    forget_ratio: int,
    config: UnlearnConfig,
    lora: LoraSettings | None = DEFAULT_LORA,
    merge: bool = False,
    resume: bool = True,
    overwrite: bool = False,
    after: int | None = None,
) -> Path:
    """Run one unlearning method; returns the folder to evaluate (the merged model with ``merge``).

    A checkpoint of the same run in ``config.output_dir`` is resumed; another run's folder is refused unless
    ``overwrite`` (which discards it). ``after``: serve a later deletion request on ``model_path`` (the model
    the request before left): forget only the people ``forget_ratio`` adds to ``forget{after}``
    (:func:`build_unlearning_dataset`; ``umu-hf bench --sequential``). A reference model (KL, NPO, …) is then
    ``model_path`` itself, the model the request is served on.
    """
    from umu_hf.data.schema import check_forget_ratio
    from umu_hf.trainers.registry import get_method

    trainer_cls, config_cls = get_method(method)
    if not isinstance(config, config_cls):
        raise UmuError(f"method '{method}' needs a {config_cls.__name__}, got {type(config).__name__}")
    ratio = check_forget_ratio(forget_ratio)
    source: dict[str, Any] = {"data": data, "forget_ratio": ratio}
    if after is not None:
        source["forget_after"] = after = check_after(after, ratio)
    dataset = build_unlearning_dataset(data, ratio, streams=config.streams, after=after)
    return train(trainer_cls, config, model_path, dataset, lora=lora, merge=merge, resume=resume,
                 overwrite=overwrite, source=source, record={"forget_after": after} if after is not None else None,
                 probe=lambda adapter: forget_retain_probe(adapter, data, ratio))


def forget_retain_probe(adapter: Any, data: str | Path, forget_ratio: int) -> Any:
    """The accuracy probe of an unlearning run: the forget and retain sets at ``forget_ratio``."""
    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import forget_config, retain_config
    from umu_hf.evaluation.probe import AccuracyProbe

    splits = {"forget": load_umu_split(data, forget_config(forget_ratio), as_dataset=False),
              "retain": load_umu_split(data, retain_config(forget_ratio), as_dataset=False)}
    return AccuracyProbe(adapter, splits)


def finetune(
    model_path: str,
    data: str | Path,
    config: UMUConfig,
    lora: LoraSettings | None = None,
    merge: bool = False,
    resume: bool = True,
    config_name: str = "full",
    overwrite: bool = False,
) -> Path:
    """Vanilla fine-tuning on every profile; returns the folder to evaluate (resuming as :func:`unlearn`). Its
    training record says whether ``UM_QA`` was asked with the portrait (``um_qa_with_portrait``)."""
    from umu_hf.trainers.finetune import FinetuneTrainer

    dataset = build_finetune_dataset(data, config_name, streams=config.streams)
    return train(FinetuneTrainer, config, model_path, dataset, lora=lora, merge=merge, resume=resume,
                 overwrite=overwrite, source={"data": data, "config": config_name},
                 record={"um_qa_with_portrait": FINETUNE_UM_QA_PORTRAIT[config.streams]})
