"""Where a Space's bench folder comes from: a local folder, or a bench folder held in a Hub dataset repo.

A Space built from ``spaces/umu_bench/`` reads ``$BENCH_DIR`` (a folder), else ``$BENCH_REPO`` (a dataset repo
id holding a bench folder, pushed with ``huggingface_hub``; ``$BENCH_REPO_SUBDIR`` when it sits in a sub-folder,
``$BENCH_REPO_REVISION`` to pin a commit), else ``bench/`` beside ``app.py``. ``umu-hf space --bench-repo`` does
the same from the command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from umu_hf.errors import UmuError
from umu_hf.identity import is_hub_id


def bench_from_hub(repo_id: str, subdir: str = "", revision: str | None = None,
                   cache_dir: str | Path | None = None) -> Path:
    """Download the bench folder held in the Hub dataset repo ``repo_id`` (its ``subdir`` only, when given) and
    return its local path. Every later read (bench.json, models, results) is local."""
    if not is_hub_id(repo_id):
        raise UmuError(f"--bench-repo / $BENCH_REPO: {repo_id!r} is not a Hub repo id (ORG/NAME)")
    subdir = subdir.strip("/")
    if ".." in Path(subdir).parts:
        raise UmuError(f"$BENCH_REPO_SUBDIR: {subdir!r} must be a folder inside the repo")
    from huggingface_hub import snapshot_download

    try:
        root = snapshot_download(repo_id, repo_type="dataset", revision=revision, cache_dir=cache_dir,
                                 allow_patterns=[f"{subdir}/**"] if subdir else None)
    except Exception as exc:  # offline, no such repo, no access: one line saying which
        raise UmuError(f"could not download the bench folder from the Hub dataset repo {repo_id!r}: "
                       f"{type(exc).__name__}: {exc}") from None
    folder = Path(root) / subdir
    if not (folder / "bench.json").is_file():
        raise UmuError(f"the Hub dataset repo {repo_id!r} has no bench.json in {subdir or 'its root'}: push the "
                       "folder `umu-hf bench --out` wrote (bench.json, leaderboard.*, models/, evals/, data/)")
    return folder


def resolve_bench(environ: Mapping[str, str], beside: Path) -> Path:
    """The Space's bench folder from its environment (see the module docstring)."""
    if environ.get("BENCH_DIR"):
        return Path(environ["BENCH_DIR"])
    if environ.get("BENCH_REPO"):
        return bench_from_hub(environ["BENCH_REPO"], environ.get("BENCH_REPO_SUBDIR", ""),
                              environ.get("BENCH_REPO_REVISION") or None)
    return beside / "bench"


def space_host(environ: Mapping[str, str] = os.environ, default: str = "127.0.0.1") -> str:
    """0.0.0.0 on a Hub Space (which sets ``SPACE_ID``), else ``$GRADIO_SERVER_NAME`` or ``default``."""
    return environ.get("GRADIO_SERVER_NAME") or ("0.0.0.0" if environ.get("SPACE_ID") else default)
