"""Unlearning methods by name: a method is the module ``umu_hf/trainers/methods/<name>.py``, found by its file
name, holding one ``UnlearnConfig`` subclass beside one ``UnlearnTrainer`` subclass whose ``method`` is
``<name>``. Adding a method is adding that file (and its test); the CLI, the training scripts and the bench read
the names from here, without importing torch (docs/extending.md)."""

from __future__ import annotations

import functools
import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

from umu_hf.errors import UmuError

if TYPE_CHECKING:
    from umu_hf.trainers.base import UnlearnTrainer
    from umu_hf.trainers.configs import UnlearnConfig

#: where the method modules live
METHODS_PACKAGE = "umu_hf.trainers.methods"
#: the methods of the original benchmark, in its order
ORIGINAL_METHODS: tuple[str, ...] = ("ga", "gd", "kl", "po", "npo")


def method_names(folder: Path | None = None) -> tuple[str, ...]:
    """The method modules in ``folder`` (default: :data:`METHODS_PACKAGE`'s), by file name, without importing them."""
    folder = folder or Path(__file__).resolve().parent / "methods"
    found = sorted(m.name for m in pkgutil.iter_modules([str(folder)]) if not m.name.startswith("_"))
    return tuple(n for n in ORIGINAL_METHODS if n in found) + tuple(n for n in found if n not in ORIGINAL_METHODS)


#: every method's name: the original five first, then the rest alphabetically
METHOD_NAMES: tuple[str, ...] = method_names()


@functools.cache
def _load(key: str) -> tuple[type[UnlearnTrainer], type[UnlearnConfig]]:
    from umu_hf.trainers.base import UnlearnTrainer
    from umu_hf.trainers.configs import UnlearnConfig

    module = importlib.import_module(f"{METHODS_PACKAGE}.{key}")

    def defined(base: type) -> list[type]:
        return [v for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, base) and v.__module__ == module.__name__]  # fmt: skip

    trainers, configs = defined(UnlearnTrainer), defined(UnlearnConfig)
    if len(trainers) != 1 or len(configs) != 1 or trainers[0].method != key:
        raise UmuError(
            f"{module.__file__}: a method module defines exactly one UnlearnTrainer subclass with method = {key!r} "
            f"and one UnlearnConfig subclass; found trainers {[t.__name__ for t in trainers]}, configs "
            f"{[c.__name__ for c in configs]} (docs/extending.md)"
        )
    return trainers[0], configs[0]


def get_method(name: str) -> tuple[type[UnlearnTrainer], type[UnlearnConfig]]:
    """(Trainer class, Config class) of a method; a clear error lists the known ones."""
    key = name.strip().lower().replace("-", "_")
    if key not in METHOD_NAMES:
        raise UmuError(f"unknown unlearning method {name!r}; known methods: {', '.join(METHOD_NAMES)}")
    return _load(key)
