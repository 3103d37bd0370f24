"""Training protocols: the original UMU-Bench scripts' (the default) and umu-hf's own variant.

A protocol is a named set of *features* that change what a method optimises without changing its hyper-
parameters. ``original`` reproduces the benchmark's scripts (docs/protocol.md, "Training"); ``umu-hf`` switches
on the variants that are arguably better. Each feature can also be set on its own (``--label_mode answer`` …);
the resolved features are written next to the trained model and into the leaderboard, so runs of the two
protocols are never mixed silently.

>>> resolve_features("original", {})["label_mode"]
'full'
>>> resolve_features("umu-hf", {"eos": False})["eos"]
False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from umu_hf.errors import UmuError

#: feature -> (allowed values, what it means)
FEATURES: dict[str, tuple[tuple[Any, ...], str]] = {
    "label_mode": (("full", "answer"), "labels on every non-pad token, or on the answer tokens only"),
    "eos": ((False, True), "append the end-of-sequence token to the training text"),
    "streams": (
        ("independent", "paired"),
        "multimodal and unimodal pairs in two independently shuffled loaders, or the i-th MM_QA pair of a "
        "profile joined with its i-th UM_QA pair",
    ),
    "npo_logratio": (
        ("batch", "sequence"),
        "NPO's log-ratio from the batch-mean token loss (one per batch), or one per sequence",
    ),
    "kl_term": (
        ("cross_entropy", "kl"),
        "KL method's retain term: the original's cross-entropy of p_theta against p_ref over all positions, "
        "or KL(p_ref || p_theta) on the label tokens",
    ),
}

PROTOCOLS: dict[str, dict[str, Any]] = {
    "original": {
        "label_mode": "full",
        "eos": False,
        "streams": "independent",
        "npo_logratio": "batch",
        "kl_term": "cross_entropy",
    },
    "umu-hf": {
        "label_mode": "answer",
        "eos": True,
        "streams": "paired",
        "npo_logratio": "sequence",
        "kl_term": "kl",
    },
}
DEFAULT_PROTOCOL = "original"


def resolve_features(protocol: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The protocol's features with the explicitly set ones (non-``None`` values) replacing them."""
    if protocol not in PROTOCOLS:
        raise UmuError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    features = dict(PROTOCOLS[protocol])
    for name, value in overrides.items():
        if value is None:
            continue
        allowed, _ = FEATURES[name]
        if value not in allowed:
            raise UmuError(f"--{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
        features[name] = value
    return features


def protocol_name(features: Mapping[str, Any]) -> str:
    """``original``/``umu-hf`` when the given features are exactly a protocol's, else ``custom``."""
    for name, preset in PROTOCOLS.items():
        if all(preset[k] == v for k, v in features.items()):
            return name
    return "custom"
