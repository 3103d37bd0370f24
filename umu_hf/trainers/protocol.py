"""Training protocols: the original UMU-Bench scripts' (the default) and umu-hf's own variant.

A protocol is a named set of *features* that change what a method optimises without changing its hyper-
parameters. ``original`` trains the original benchmark's five methods (GA, GD, KL, PO, NPO) as its scripts do
(docs/protocol.md, "Training") and every other method as its paper does: such a method declares the features its
paper differs in (``paper_features`` of its Config, e.g. answer-only labels), which replace the preset's under
``original``. ``umu-hf`` switches on the variants that are arguably better, for every method alike. Each feature
can also be set on its own (``--label_mode answer`` …) and then wins over both; the resolved features are written
next to the trained model and into the leaderboard, so runs of the two protocols are never mixed silently.

>>> resolve_features("original", {})["label_mode"]
'full'
>>> resolve_features("original", {}, paper={"label_mode": "answer"})["label_mode"]
'answer'
>>> resolve_features("original", {"label_mode": "full"}, paper={"label_mode": "answer"})["label_mode"]
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
#: the protocol under which a method's ``paper_features`` apply: ``original`` means "as first published", the
#: benchmark's scripts for its five methods and the paper for every other one
PAPER_PROTOCOL = "original"


def _checked(name: str, value: Any) -> Any:
    """``value`` when feature ``name`` allows it, else a :class:`UmuError` naming the flag and its values."""
    allowed, _ = FEATURES[name]
    if value not in allowed:
        raise UmuError(f"--{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def protocol_features(protocol: str, paper: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A protocol's features for one method: the preset, with the method's ``paper`` features over it under
    :data:`PAPER_PROTOCOL` (a method of the original benchmark has none)."""
    if protocol not in PROTOCOLS:
        raise UmuError(f"--protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    features = dict(PROTOCOLS[protocol])
    if protocol == PAPER_PROTOCOL:
        features.update({name: _checked(name, value) for name, value in (paper or {}).items()})
    return features


def resolve_features(
    protocol: str, overrides: Mapping[str, Any], paper: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The protocol's features for a method with ``paper`` features (:func:`protocol_features`), the explicitly
    set ones (non-``None`` values of ``overrides``) replacing them."""
    features = protocol_features(protocol, paper)
    features.update({name: _checked(name, value) for name, value in overrides.items() if value is not None})
    return features


def protocol_name(features: Mapping[str, Any], paper: Mapping[str, Any] | None = None) -> str:
    """``original``/``umu-hf`` when the given features are exactly what that protocol gives a method with
    ``paper`` features, else ``custom``."""
    for name in PROTOCOLS:
        preset = protocol_features(name, paper)
        if all(preset[k] == v for k, v in features.items()):
            return name
    return "custom"
