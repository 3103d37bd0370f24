"""Small helpers every area shares: atomic writes of files and folders, one-line error texts, the dtype check.

A file is written to a temporary sibling and renamed over its target, and a folder is built in a temporary
sibling and swapped in, so a crash never leaves half an output. Light on purpose: no torch, no datasets.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError

#: the weight dtypes a model may be loaded in; ``auto`` lets :func:`umu_hf.models.loading.resolve_dtype` choose
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: never half a file.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> atomic_write_bytes(folder / "sub" / "a.bin", b"ok"); (folder / "sub" / "a.bin").read_bytes()
    b'ok'
    >>> [p.name for p in (folder / "sub").iterdir()]
    ['a.bin']
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    atomic_write_bytes(path, text.encode("utf-8"))


def finite_json(value: Any) -> Any:
    """``value`` with every NaN/inf float (an empty set's metrics) replaced by None, for strict JSON.

    >>> finite_json({"a": [1.0, float("nan")], "b": (float("inf"),)})
    {'a': [1.0, None], 'b': [None]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented strict JSON (NaN -> null), UTF-8, ending with a newline.

    >>> import tempfile; file = Path(tempfile.mkdtemp()) / "r.json"
    >>> write_json(file, {"x": float("nan"), "name": "Zoë"}); print(file.read_text(encoding="utf-8"), end="")
    {
      "x": null,
      "name": "Zoë"
    }
    """
    atomic_write_text(path, json.dumps(finite_json(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def replace_dir(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished folder ``tmp`` to ``target``; an existing ``target`` is moved aside first and deleted
    only once the new one is in place."""
    tmp, target = Path(tmp), Path(target)
    old = None
    if target.exists() or target.is_symlink():
        old = target.with_name(f"{tmp.name}-old")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None and old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    elif old is not None:
        old.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``target``; when the block ends it replaces ``target``
    (:func:`replace_dir`), and when the block raises it is removed. Checks that must run just before the swap
    go at the end of the block.

    >>> import tempfile; out = Path(tempfile.mkdtemp()) / "out"
    >>> with atomic_dir(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("new")
    >>> sorted(p.name for p in out.parent.iterdir()), (out / "a.txt").read_text()
    (['out'], 'new')
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def one_line(text: Any, limit: int = 200) -> str:
    """An exception's text squeezed onto one line and cut to ``limit`` characters (messages are one line).

    >>> one_line(ValueError("bad\\n   value  here"))
    'bad value here'
    """
    return " ".join(str(text).split())[:limit]


def check_dtype(dtype: str, name: str = "dtype") -> str:
    """``dtype`` when it is one of :data:`DTYPES`; otherwise a :class:`UmuError` naming ``name`` (e.g. a flag).

    >>> check_dtype("bfloat16")
    'bfloat16'
    >>> check_dtype("float8", "--model_dtype")
    Traceback (most recent call last):
    umu_hf.errors.UmuError: unknown --model_dtype 'float8'; use one of auto, float32, bfloat16, float16
    """
    if dtype not in DTYPES:
        raise UmuError(f"unknown {name} {dtype!r}; use one of {', '.join(DTYPES)}")
    return dtype


def accelerator_available() -> bool:
    """Whether torch sees an accelerator (CUDA, XPU, MPS, …): what its DataLoader checks before pinning memory."""
    import torch

    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        return bool(accelerator.is_available())
    return bool(torch.cuda.is_available())


def close_process_group() -> None:
    """End a multi-process run (torchrun / accelerate launch) cleanly: wait for every rank, destroy the process
    groups, then let go of the groups that FSDP2's device meshes still hold. A gloo group whose C++ object is only
    freed at interpreter exit can abort the process there ("terminate called without an active exception", see
    pytorch/pytorch#179291) while another rank still works; destroying it by name is not enough when a mesh, kept
    alive by DTensor's sharding caches, still points at it. A no-op in one process, or when ``torch.distributed``
    was never imported (no torch import for commands that never needed it)."""
    import sys

    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
        _release_device_meshes()


def _release_device_meshes() -> None:
    """Drop DTensor's caches that keep device meshes (and through them process groups) alive, then collect them,
    so the groups are freed while the interpreter still runs. The caches are torch internals: each is cleared only
    where this torch has it (a cleared cache costs one recomputation on the next sharded op)."""
    import gc
    import sys

    api = sys.modules.get("torch.distributed.tensor._api")
    propagator = getattr(getattr(getattr(api, "DTensor", None), "_op_dispatcher", None), "sharding_propagator", None)
    redistribute = sys.modules.get("torch.distributed.tensor._redistribute")
    collective = sys.modules.get("torch.distributed.tensor._collective_utils")
    caches = [
        getattr(propagator, "propagate_op_sharding", None),
        getattr(propagator, "_propagate_tensor_meta_cached", None),
        getattr(redistribute, "_gen_transform_infos", None),
        getattr(getattr(collective, "MeshTopoInfo", None), "build_from_mesh", None),
    ]
    for cache in caches:
        if hasattr(cache, "cache_clear"):
            cache.cache_clear()
    planners = getattr(redistribute, "_planner_cache", None)
    if isinstance(planners, dict):
        planners.clear()
    if api is not None:
        import torch

        clear_fast_path = getattr(torch._C, "_clear_DTensor_sharding_propagator_cache", None)
        if clear_fast_path is not None:
            clear_fast_path()
    gc.collect()
