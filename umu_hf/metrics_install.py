"""``umu-hf metrics install``: make ``evaluate.load("umu_bench", config)`` work offline, from any directory.

With a bare name, ``evaluate`` first looks for ``./umu_bench/umu_bench.py``, then for the canonical Hub module
``evaluate-metric/umu_bench``; when that fails (offline, or no such Hub module) it falls back to its module cache
and imports the newest ``<HF_MODULES_CACHE>/evaluate_modules/metrics/evaluate-metric--umu_bench/<64-hex>/
umu_bench.py`` (``evaluate.loading.CachedEvaluationModuleFactory``, checked in evaluate 0.4.6). This module copies
``metrics/umu_bench/umu_bench.py`` exactly there. The script imports the math from ``umu_hf.scoring``, so the
umu-hf package must be importable wherever the metric is loaded.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
from pathlib import Path

from umu_hf.errors import UmuError
from umu_hf.utils import atomic_dir

METRIC_NAME = "umu_bench"
#: evaluate's namespace for canonical metrics; its cache folder is ``evaluate-metric--<name>``
_CANONICAL_PREFIX = "evaluate-metric--"


def default_source() -> Path:
    """``metrics/umu_bench`` of the checkout this package is installed from (editable installs)."""
    return Path(__file__).resolve().parent.parent / "metrics" / METRIC_NAME


def default_modules_cache() -> Path:
    """``HF_MODULES_CACHE`` as ``evaluate`` resolves it (env ``HF_MODULES_CACHE``, else ``$HF_HOME/modules``)."""
    from evaluate import config

    return Path(config.HF_MODULES_CACHE)


def installed_dir(cache_dir: str | os.PathLike | None = None, name: str = METRIC_NAME) -> Path:
    """The folder evaluate's offline fallback scans: ``<cache>/evaluate_modules/metrics/evaluate-metric--<name>``."""
    cache = Path(cache_dir) if cache_dir is not None else default_modules_cache()
    return cache / "evaluate_modules" / "metrics" / f"{_CANONICAL_PREFIX}{name}"


def _make_packages(cache: Path, target: Path) -> None:
    """Every folder from ``target`` up to the cache root must be a package for evaluate's dotted import."""
    folder = target
    while True:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "__init__.py").touch(exist_ok=True)
        if folder == cache or folder == folder.parent:
            return
        folder = folder.parent


def install_metric(
    cache_dir: str | os.PathLike | None = None,
    source: str | os.PathLike | None = None,
    name: str = METRIC_NAME,
) -> Path:
    """Copy the metric script into evaluate's module cache and return the installed ``<name>.py``.

    ``cache_dir`` is the ``HF_MODULES_CACHE`` to install into (default: evaluate's); ``source`` the metric folder
    (default: ``metrics/umu_bench`` of this checkout). The copy goes in a folder named by the SHA-256 of the
    script, is written atomically and made the newest one (evaluate picks the most recent), so re-running after
    an update switches to the new script. Raises :class:`UmuError` when the script is missing.
    """
    source_dir = Path(source) if source is not None else default_source()
    script = source_dir / f"{name}.py"
    if not script.is_file():
        raise UmuError(
            f"metric script not found at {script}: run from a source checkout of umu-hf (pip install -e .) "
            f"or pass --source <checkout>/metrics/{name}"
        )
    cache = Path(cache_dir).expanduser().resolve() if cache_dir is not None else default_modules_cache()
    code = script.read_bytes()
    digest = hashlib.sha256(code).hexdigest()  # 64 hex characters, as evaluate's scan requires
    parent = installed_dir(cache, name)
    _make_packages(cache, parent)
    target = parent / digest
    installed = target / f"{name}.py"
    if not (installed.is_file() and installed.read_bytes() == code):
        with atomic_dir(target) as tmp:  # its name is not 64 characters long: evaluate never scans it
            (tmp / "__init__.py").touch()
            shutil.copyfile(script, tmp / f"{name}.py")
    os.utime(installed)  # the newest copy is the one evaluate loads
    return installed


def _install_command(args: argparse.Namespace) -> int:
    installed = install_metric(cache_dir=args.cache_dir, source=args.source)
    print(f"installed {installed}")
    print(f'evaluate.load("{METRIC_NAME}", "classification" | "cloze" | "generation") now works offline')
    if args.cache_dir is not None:
        print(f"(set HF_MODULES_CACHE={Path(args.cache_dir).expanduser().resolve()} where you load it)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``umu-hf metrics install [--cache-dir DIR] [--source DIR]``."""
    metrics = subparsers.add_parser("metrics", help="the umu_bench evaluate metric")
    sub = metrics.add_subparsers(dest="metrics_command", metavar="SUBCOMMAND")
    install = sub.add_parser(
        "install",
        help='place the umu_bench module where evaluate.load("umu_bench", ...) finds it offline',
        description="Copy metrics/umu_bench/umu_bench.py into evaluate's module cache, where a bare "
        'evaluate.load("umu_bench", config) finds it without network. Needs umu-hf importable at load time.',
    )
    install.add_argument(
        "--cache-dir",
        default=None,
        help="HF_MODULES_CACHE to install into (default: evaluate's, i.e. $HF_MODULES_CACHE or $HF_HOME/modules)",
    )
    install.add_argument(
        "--source",
        default=None,
        help=f"metric folder holding {METRIC_NAME}.py (default: metrics/{METRIC_NAME} of this checkout)",
    )
    install.set_defaults(func=_install_command)
