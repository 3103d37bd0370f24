"""UMU-Bench data: schema, legacy converter, synthetic generator, Hub writer, loading, collators.

The main functions are importable from here; each is imported from its module on first use, so
``import umu_hf.data`` stays instant (no ``datasets``/``pyarrow`` import)::

    from umu_hf.data import load_umu_split, generate_dataset, convert_legacy
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_umu_split": "umu_hf.data.load",
    "resolve_hub_folder": "umu_hf.data.load",
    "has_config": "umu_hf.data.load",
    "MissingConfigError": "umu_hf.data.load",
    "generate_dataset": "umu_hf.data.synth",
    "generate_profiles": "umu_hf.data.synth",
    "write_hub_dataset": "umu_hf.data.hub",
    "push_hub_dataset": "umu_hf.data.hub",
    "convert_legacy": "umu_hf.data.legacy",
    "read_legacy": "umu_hf.data.legacy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import an exported function from its module on first access."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'umu_hf.data' has no attribute {name!r}")
