"""The registered unlearning methods' names, importable without torch or transformers (help texts of the CLI).

:data:`umu_hf.trainers.registry.METHODS` is the registry itself; a test checks that the two agree.
"""

from __future__ import annotations

METHOD_NAMES: tuple[str, ...] = (
    "ga", "gd", "kl", "po", "npo", "simnpo", "idk_dpo", "wga", "satimp", "ce_u", "pdu", "rmu", "undial",
)  # fmt: skip
