"""Load any vision-language checkpoint (a local folder or a Hub id) with its processor and adapter.

``AutoModelForImageTextToText`` + ``AutoProcessor``, so LLaVA-1.5, Qwen2-VL, Idefics3, … and the embedded tiny
LLaVA all load the same way. Problems the user can fix (missing folder, a text-only model, a bad device or
dtype) are raised as one-line :class:`~umu_hf.errors.ModelError` / :class:`~umu_hf.errors.UmuError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from umu_hf.errors import ModelError, UmuError
from umu_hf.identity import is_hub_id
from umu_hf.models.adapters import ModelAdapter, get_adapter
from umu_hf.utils import check_dtype


def resolve_device(device: str):  # -> torch.device
    """``"auto"`` -> ``cuda`` when available, else ``cpu``; other names (``cpu``, ``cuda``, ``cuda:1``, ``mps``)
    are checked against what this machine has."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise UmuError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise UmuError(
                f"device {device!r} asked for but CUDA is not available here; use --device cpu or auto"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise UmuError(
                f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)"
            )
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise UmuError(f"device {device!r} asked for but MPS is not available here; use --device cpu or auto")
    return resolved


def resolve_dtype(dtype: str, device: Any, config: Any = None):  # -> torch.dtype
    """``"auto"``: float32 on CPU; on an accelerator the checkpoint's own half precision when it has one,
    else float32. Otherwise the named dtype."""
    import torch

    if check_dtype(dtype) != "auto":
        return getattr(torch, dtype)
    if getattr(device, "type", str(device)) == "cpu":
        return torch.float32
    stored = _stored_dtype(config)
    return stored if stored in (torch.float16, torch.bfloat16) else torch.float32


def _stored_dtype(config: Any):
    import torch

    for cfg in (config, getattr(config, "text_config", None)):
        value = getattr(cfg, "dtype", None) or getattr(cfg, "torch_dtype", None)
        if isinstance(value, str):
            value = getattr(torch, value, None)
        if isinstance(value, torch.dtype):
            return value
    return None


def is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) is set: load from local files only."""
    from huggingface_hub import constants

    flags = (os.environ.get("HF_HUB_OFFLINE"), os.environ.get("TRANSFORMERS_OFFLINE"))
    return bool(constants.HF_HUB_OFFLINE) or any(
        f and f.strip().upper() in {"1", "ON", "YES", "TRUE"} for f in flags
    )


def _source(path_or_id: str) -> tuple[str, bool]:
    """``(source, is_local_folder)``; raises ModelError for a path that cannot be a model."""
    path = Path(path_or_id).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"model path {path} is a file; give the folder that holds config.json")
        if not (path / "config.json").is_file():
            hint = (
                " (a LoRA adapter folder: merge it into its base model first)"
                if (path / "adapter_config.json").is_file()
                else ""
            )
            raise ModelError(
                f"model folder {path} has no config.json{hint}; give a saved model folder or a Hub id"
            )
        return str(path), True
    if not is_hub_id(str(path_or_id), namespaced=False):
        raise ModelError(
            f"model folder {path_or_id} does not exist; give a saved model folder or a Hub model id"
        )
    if is_offline():
        raise ModelError(
            f"model {path_or_id!r} is not a local folder and HF_HUB_OFFLINE is set, so the Hub is not used; "
            "give a local folder or download it first"
        )
    return str(path_or_id), False


def check_model_source(path_or_id: str) -> None:
    """Refuse, in one line, a model that cannot be loaded from where it is named (a missing folder, a file, a
    folder without config.json, a Hub id while offline) — before any work that would be wasted on it."""
    _source(path_or_id)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def load_model(path_or_id: str, device: str = "auto", dtype: str = "auto") -> tuple[Any, Any, ModelAdapter]:
    """``(model, processor, adapter)`` of a vision-language checkpoint, in eval mode on ``device``."""
    torch_device = resolve_device(device)
    check_dtype(dtype)
    source, local = _source(path_or_id)
    local_only = local or is_offline()

    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, ProcessorMixin
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the model config of {path_or_id}: {_first_line(exc)}") from exc
    model_type = getattr(config, "model_type", None)
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise ModelError(
            f"{path_or_id} holds a {model_type!r} model, which is not a vision-language model "
            "(AutoModelForImageTextToText cannot load it); give a checkpoint such as LLaVA-1.5 or Qwen2-VL"
        )
    try:
        processor = AutoProcessor.from_pretrained(source, local_files_only=local_only)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"cannot load the processor of {path_or_id}: {_first_line(exc)}") from exc
    if not isinstance(processor, ProcessorMixin):
        raise ModelError(
            f"{path_or_id} has no multimodal processor (got {type(processor).__name__}); "
            "save the model's processor (processor.save_pretrained) into the folder"
        )
    torch_dtype = resolve_dtype(dtype, torch_device, config)
    try:
        model = AutoModelForImageTextToText.from_pretrained(
            source, config=config, dtype=torch_dtype, local_files_only=local_only
        )
    except Exception as exc:  # a corrupt file raises safetensors' own error type, among many others
        raise ModelError(
            f"cannot load the model weights of {path_or_id}: {type(exc).__name__}: {_first_line(exc)}; the "
            "weights file is missing or corrupt (re-save or re-download the model)"
        ) from exc
    model.to(torch_device)
    model.eval()
    return model, processor, get_adapter(processor, model.config)
