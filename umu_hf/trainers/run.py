"""One function per job — fine-tune, unlearn — shared by ``umu-hf``, ``trainers/*.py`` and ``umu-hf bench``."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError
from umu_hf.trainers.base import TrainingDivergedError, UnlearnConfig
from umu_hf.trainers.lora import LoraSettings, apply_lora

logger = logging.getLogger(__name__)
DEFAULT_LORA = LoraSettings()


def build_finetune_dataset(data: str | Path, config_name: str = "full") -> Any:
    """Every QA pair of ``config_name`` (default ``full``: all profiles) in both modalities."""
    from umu_hf.data.collate import QADataset, decode_images, paired_qa
    from umu_hf.data.load import load_umu_split

    split = load_umu_split(data, config_name)
    return QADataset(("train", paired_qa(split, config_name)), decode_images(split))


def build_unlearning_dataset(data: str | Path, forget_ratio: int, retain_seed: int = 42) -> Any:
    """Forget pairs of ``forgetXX``, each joined by a retain pair sub-sampled as in SPEC 2.3."""
    from umu_hf.data.collate import QADataset, decode_images, paired_qa, subsample_retain
    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import forget_config, retain_config

    forget = load_umu_split(data, forget_config(forget_ratio))
    retain = load_umu_split(data, retain_config(forget_ratio))
    forget_pairs = paired_qa(forget, forget_config(forget_ratio))
    retain_pairs = subsample_retain(
        paired_qa(retain, retain_config(forget_ratio)), (100 - forget_ratio) / 100, seed=retain_seed
    )
    needed = {p[0].profile_id for p in retain_pairs}
    images = {**decode_images(forget), **decode_images(retain.filter(lambda pid: pid in needed, input_columns="ID"))}
    return QADataset(("forget", forget_pairs), images, {"retain": retain_pairs})


def _last_checkpoint(out_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(out_dir)) if out_dir.is_dir() else None


def train(
    trainer_cls: type,
    config: UnlearnConfig,
    model_path: str,
    dataset: Any,
    lora: LoraSettings | None = None,
    merge: bool = False,
    resume: bool = True,
) -> Path:
    """Load the model, (optionally) wrap it in LoRA, train, save to ``config.output_dir``.

    The adapter (or full model) and processor land in ``output_dir``; with ``merge`` a merged model that
    ``umu-hf eval`` loads directly goes to ``output_dir/merged``. An existing checkpoint is resumed.
    """
    from umu_hf.models.loading import load_model

    out_dir = Path(config.output_dir)
    model, processor, adapter = load_model(model_path, device="cpu" if config.use_cpu else "auto", dtype="float32")
    ref_model = None
    if lora is not None:
        model = apply_lora(model, lora)
    elif trainer_cls.needs_reference:
        logger.warning(
            "%s without LoRA: loading a frozen second copy of %s as the reference (use LoRA to avoid the copy)",
            trainer_cls.method,
            model_path,
        )
        ref_model = load_model(model_path, device="cpu" if config.use_cpu else "auto", dtype="float32")[0]
    model.train()
    kwargs = {"ref_model": ref_model} if ref_model is not None else {}
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter, **kwargs)
    checkpoint = _last_checkpoint(out_dir) if resume else None
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    except TrainingDivergedError as exc:
        last_good = out_dir / "last-good"
        if all(math.isfinite(float(p.detach().abs().sum())) for p in model.parameters()):
            trainer.save_model(str(last_good))
            raise TrainingDivergedError(f"{exc}; the weights before that step are saved in {last_good}") from None
        raise
    trainer.save_model(str(out_dir))
    processor.save_pretrained(str(out_dir))
    if merge:
        merged_dir = out_dir / "merged"
        merged = model.merge_and_unload() if lora is not None else model
        merged.save_pretrained(str(merged_dir))
        processor.save_pretrained(str(merged_dir))
        return merged_dir
    return out_dir


def unlearn(
    method: str,
    model_path: str,
    data: str | Path,
    forget_ratio: int,
    config: UnlearnConfig,
    lora: LoraSettings | None = DEFAULT_LORA,
    merge: bool = False,
    resume: bool = True,
) -> Path:
    """Run one unlearning method; returns the folder to evaluate (the merged model with ``merge``)."""
    from umu_hf.data.schema import check_forget_ratio
    from umu_hf.trainers.registry import get_method

    trainer_cls, config_cls = get_method(method)
    if not isinstance(config, config_cls):
        raise UmuError(f"method '{method}' needs a {config_cls.__name__}, got {type(config).__name__}")
    dataset = build_unlearning_dataset(data, check_forget_ratio(forget_ratio))
    return train(trainer_cls, config, model_path, dataset, lora=lora, merge=merge, resume=resume)


def finetune(
    model_path: str,
    data: str | Path,
    config: UnlearnConfig,
    lora: LoraSettings | None = None,
    merge: bool = False,
    resume: bool = True,
    config_name: str = "full",
) -> Path:
    """Vanilla fine-tuning on every profile; returns the folder to evaluate."""
    from umu_hf.trainers.finetune import FinetuneTrainer

    dataset = build_finetune_dataset(data, config_name)
    return train(FinetuneTrainer, config, model_path, dataset, lora=lora, merge=merge, resume=resume)
