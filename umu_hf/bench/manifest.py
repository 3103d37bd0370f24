"""``bench.json``: the index of a bench folder, read by the leaderboard and the Gradio Space.

Every path in it is relative to the bench folder, and :func:`resolve_inside` refuses any that escapes it, so a
reader (the Space) only ever opens models and data that the bench wrote::

    {"umu_hf_version": "0.1.0", "forget_ratio": 5, "data": "data/synth-1a2b3c4d",
     "models": [{"name": "vanilla", "method": null, "path": "models/vanilla-…", "results": "evals/vanilla-…/results.json"},
                {"name": "ga", "method": "ga", "path": "models/ga-…/merged", "results": "evals/ga-…/results.json"}]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from umu_hf import __version__
from umu_hf.errors import UmuError
from umu_hf.utils import write_json

MANIFEST = "bench.json"


@dataclass
class ModelEntry:
    """One evaluated model of the bench: vanilla (``method`` None) or an unlearned one."""

    name: str
    path: str
    results: str | None = None
    method: str | None = None


@dataclass
class Manifest:
    """What a bench folder holds; ``data`` is a folder inside it or a Hub repo id (``hub:`` prefix)."""

    forget_ratio: int
    data: str
    models: list[ModelEntry] = field(default_factory=list)
    umu_hf_version: str = __version__

    def model(self, name: str) -> ModelEntry:
        for entry in self.models:
            if entry.name == name:
                return entry
        raise UmuError(f"no model named {name!r} in {MANIFEST}; known: {', '.join(m.name for m in self.models)}")


def resolve_inside(root: str | Path, relative: str) -> Path:
    """``root/relative``, refusing absolute paths and ``..`` escapes (the Space opens nothing else)."""
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if Path(relative).is_absolute() or (target != base and base not in target.parents):
        raise UmuError(f"{MANIFEST}: path {relative!r} points outside the bench folder {base}")
    return target


def write_manifest(bench_dir: str | Path, manifest: Manifest) -> Path:
    """Atomically write ``bench_dir/bench.json``."""
    path = Path(bench_dir) / MANIFEST
    write_json(path, asdict(manifest))
    return path


def read_manifest(bench_dir: str | Path) -> Manifest:
    """Read ``bench_dir/bench.json``; a clear error says how to create one when it is missing."""
    path = Path(bench_dir) / MANIFEST
    if not path.is_file():
        raise UmuError(f"{path} not found: run `umu-hf bench --out {bench_dir}` to create the bench output")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise TypeError(f"expected a JSON object, got {type(raw).__name__}")
        entries = raw.pop("models", [])
        if not isinstance(entries, list) or not all(isinstance(m, dict) for m in entries):
            raise TypeError("'models' must be a list of objects")
        models = [ModelEntry(**m) for m in entries]
        manifest = Manifest(models=models, **raw)
        _check_types(manifest)
        return manifest
    except (ValueError, TypeError) as exc:
        raise UmuError(f"{path}: not a valid bench manifest ({exc}); rerun `umu-hf bench`") from None


def _check_types(manifest: Manifest) -> None:
    """Every field of the right type (a null or a number where a path belongs would fail deep inside later)."""
    if isinstance(manifest.forget_ratio, bool) or not isinstance(manifest.forget_ratio, int):
        raise TypeError(f"forget_ratio must be an integer, got {manifest.forget_ratio!r}")
    if not isinstance(manifest.data, str):
        raise TypeError(f"data must be a string, got {manifest.data!r}")
    for entry in manifest.models:
        for name in ("name", "path"):
            if not isinstance(getattr(entry, name), str) or not getattr(entry, name):
                raise TypeError(f"model {name} must be a non-empty string, got {getattr(entry, name)!r}")
        for name in ("results", "method"):
            if getattr(entry, name) is not None and not isinstance(getattr(entry, name), str):
                raise TypeError(f"model {entry.name!r}: {name} must be a string or null, got {getattr(entry, name)!r}")
