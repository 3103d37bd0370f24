"""``umu-hf metrics install``: make ``evaluate.load("umu_bench", config)``, ``evaluate.load("umu_privacy")`` and
``evaluate.load("umu_forget_quality")`` work offline, from any directory.

The modules are the folders of ``metrics/`` (:data:`METRIC_NAMES`), each ``<name>/<name>.py`` with its card,
``app.py`` and ``requirements.txt``. With a bare name, ``evaluate`` first looks for ``./<name>/<name>.py``, then
for the canonical Hub module ``evaluate-metric/<name>``; when that fails (offline, or no such Hub module) it falls
back to its module cache and imports the newest ``<HF_MODULES_CACHE>/evaluate_modules/metrics/
evaluate-metric--<name>/<64-hex>/<name>.py`` (``evaluate.loading.CachedEvaluationModuleFactory``, checked in
evaluate 0.4.6). This module copies each ``metrics/<name>/<name>.py`` exactly there. The scripts import their math
from umu-hf (``umu_hf.scoring``, ``umu_hf.privacy``), so the umu-hf package must be importable wherever a metric
is loaded.
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
#: every module folder of ``metrics/``: the benchmark's accuracy and ROUGE metrics, membership inference
#: (AUC, PrivLeak), and TOFU's forget quality
METRIC_NAMES = ("umu_bench", "umu_privacy", "umu_forget_quality")
#: how each module is loaded
LOAD_CALLS = {
    "umu_bench": 'evaluate.load("umu_bench", "classification" | "cloze" | "generation" | "robustness_<task>")',
    "umu_privacy": 'evaluate.load("umu_privacy")',
    "umu_forget_quality": 'evaluate.load("umu_forget_quality")',
}
#: evaluate's namespace for canonical metrics; its cache folder is ``evaluate-metric--<name>``
_CANONICAL_PREFIX = "evaluate-metric--"


def default_root() -> Path:
    """``metrics/`` of the checkout this package is installed from (editable installs): one folder per module."""
    return Path(__file__).resolve().parent.parent / "metrics"


def default_source(name: str = METRIC_NAME) -> Path:
    """``metrics/<name>`` of the checkout this package is installed from."""
    return default_root() / name


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
    holding ``<name>.py`` (default: ``metrics/<name>`` of this checkout). The copy goes in a folder named by the SHA-256 of the
    script, is written atomically and made the newest one (evaluate picks the most recent), so re-running after
    an update switches to the new script. Raises :class:`UmuError` when the script is missing.
    """
    source_dir = Path(source) if source is not None else default_source(name)
    script = source_dir / f"{name}.py"
    if not script.is_file():
        raise UmuError(
            f"metric script not found at {script}: run from a source checkout of umu-hf (pip install -e .) "
            f"or pass --source <checkout>/metrics"
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


def install_metrics(
    cache_dir: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    names: tuple[str, ...] | list[str] = METRIC_NAMES,
) -> list[Path]:
    """:func:`install_metric` for each of ``names`` (default: every module), from ``<root>/<name>`` (default root:
    ``metrics/`` of this checkout); returns the installed scripts. Raises :class:`UmuError` for an unknown name
    and for a ``root`` that is one module's folder rather than the folder holding them."""
    unknown = [name for name in names if name not in METRIC_NAMES]
    if unknown:
        raise UmuError(f"unknown metric module {unknown[0]!r}: the modules are {', '.join(METRIC_NAMES)}")
    root_dir = Path(root) if root is not None else default_root()
    if (root_dir / f"{root_dir.name}.py").is_file():
        raise UmuError(
            f"{root_dir} is one module's folder; pass the folder holding the module folders "
            f"({', '.join(METRIC_NAMES)}) as --source, i.e. {root_dir.parent}"
        )
    return [install_metric(cache_dir=cache_dir, source=root_dir / name, name=name) for name in names]


def _install_command(args: argparse.Namespace) -> int:
    names = tuple(args.names) or METRIC_NAMES
    for installed in install_metrics(cache_dir=args.cache_dir, root=args.source, names=names):
        print(f"installed {installed}")
    print("these now load offline, from any folder:")
    for name in names:
        print(f"  {LOAD_CALLS[name]}")
    if args.cache_dir is not None:
        print(f"(set HF_MODULES_CACHE={Path(args.cache_dir).expanduser().resolve()} where you load them)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``umu-hf metrics install [--cache-dir DIR] [--source DIR] [NAME ...]``."""
    metrics = subparsers.add_parser("metrics", help="the evaluate metric modules (umu_bench, umu_privacy, ...)")
    sub = metrics.add_subparsers(dest="metrics_command", metavar="SUBCOMMAND")
    install = sub.add_parser(
        "install",
        help="place the evaluate modules where evaluate.load(NAME) finds them offline",
        description="Copy metrics/<name>/<name>.py of each module (default: all of "
        f"{', '.join(METRIC_NAMES)}) into evaluate's module cache, where a bare evaluate.load(name) finds it "
        "without network. Needs umu-hf importable at load time.",
    )
    install.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"modules to install (default: all): {', '.join(METRIC_NAMES)}",
    )
    install.add_argument(
        "--cache-dir",
        default=None,
        help="HF_MODULES_CACHE to install into (default: evaluate's, i.e. $HF_MODULES_CACHE or $HF_HOME/modules)",
    )
    install.add_argument(
        "--source",
        default=None,
        help="folder holding one folder per module, <name>/<name>.py (default: metrics/ of this checkout)",
    )
    install.set_defaults(func=_install_command)
