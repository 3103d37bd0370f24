"""The ``privacy`` block of ``results.json``, built on top of an evaluation (``umu-hf eval --privacy``, the bench).

:func:`evaluate_with_privacy` runs :func:`umu_hf.evaluation.runner.evaluate_model` with a :class:`PrivacyBlock`
as an extra block, so the model the evaluation loads is the model the attacks score (loaded once), and the block
is written into ``results.json`` with the rest. What the block holds: :func:`umu_hf.privacy.reference.measure`
(the membership-inference AUCs of forget against holdout and the forget truth ratios, per modality), compared with
a retain model's block when there is one (:func:`umu_hf.privacy.reference.compare_with_retain`), or
``{"unavailable": why}`` when the dataset has no ``holdout`` config. It asks no question, so it is not part of the
run's identity: a finished run can be rerun with it, and resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError
from umu_hf.evaluation.request import EvalRequest
from umu_hf.identity import source_id
from umu_hf.privacy.mia import UNIMODAL_LAYOUTS, Layout

#: the key of the block in ``results.json``
PRIVACY = "privacy"


@dataclass(frozen=True)
class PrivacyOptions:
    """How the privacy block is measured, beyond the evaluation's request.

    ``retain_model``: a retain model (vanilla fine-tuned without the forget people) to compare against: forget
    quality and PrivLeak join the block (:mod:`umu_hf.privacy.reference`); its own block is measured once per
    evaluation folder and cached there. ``retain_reference``: that model's block when already measured (the bench
    measures it once for every method). ``unimodal_layout``: how the fine-tuning that made the forget set members
    asked ``UM_QA`` (``"with-portrait"`` or ``"text-only"``, :data:`umu_hf.privacy.mia.UNIMODAL_LAYOUTS`); None:
    read from the model's training records (:func:`umu_hf.privacy.mia.training_layout`; text only without one).
    Recorded as ``layout`` in the block.
    """

    retain_model: str | None = None
    retain_reference: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    unimodal_layout: str | None = None
    #: also the gradient-norm attack (one backward pass per pair: off by default)
    gradnorm: bool = False

    def __post_init__(self) -> None:
        if self.unimodal_layout is not None and self.unimodal_layout not in UNIMODAL_LAYOUTS:
            raise UmuError(f"unimodal_layout must be one of {', '.join(UNIMODAL_LAYOUTS)} (how fine-tuning asked "
                           f"UM_QA), got {self.unimodal_layout!r}")


class PrivacyBlock:
    """The privacy block as an :class:`umu_hf.evaluation.runner.ExtraBlock` of ``request``'s evaluation:
    :meth:`prepare` loads the forget and holdout splits, finds the layout and measures the retain model (before
    the evaluated model is loaded); :meth:`measure` scores the evaluated model."""

    def __init__(self, request: EvalRequest, options: PrivacyOptions | None = None) -> None:
        self.request = request
        self.options = options or PrivacyOptions()
        self._data: tuple[Any, Any] | str | None = None
        self._layout: Layout | None = None
        self._reference: Mapping[str, Any] | None = self.options.retain_reference

    def prepare(self, out: Path, splits: Mapping[str, Any]) -> None:
        """The forget and holdout splits (the forget split the evaluation loaded when it asks it), the layout
        of the pairs and, with a ``retain_model`` and no ``retain_reference``, the retain model's block (cached in
        ``out``, :func:`umu_hf.privacy.reference.retain_reference`)."""
        from umu_hf.privacy.mia import training_layout

        request, options = self.request, self.options
        self._data = _forget_and_holdout(request, splits)
        self._layout = training_layout(request.model, options.unimodal_layout)
        if self._reference is None and options.retain_model and not isinstance(self._data, str):
            from umu_hf.privacy.reference import retain_reference

            identity = {"retain_model": source_id(options.retain_model), "data": request.identity()["data"],
                        "forget_ratio": request.forget_ratio, "limit": request.limit, "dtype": request.dtype}
            self._reference = retain_reference(
                options.retain_model, *self._data, out, identity, limit=request.limit,
                batch_size=request.batch_size, device=request.device, dtype=request.dtype, layout=self._layout,
            )

    def measure(self, model: Any, processor: Any, adapter: Any, batch_size: int) -> dict[str, Any]:
        """The attacks' AUCs (pairs laid out as found by :meth:`prepare`) and forget truth ratios per modality,
        compared with the retain model's when there is one, or ``{"unavailable": why}``."""
        if self._data is None:
            raise RuntimeError("PrivacyBlock.measure before prepare")
        if isinstance(self._data, str):
            return {"unavailable": self._data}
        from umu_hf.privacy.reference import compare_with_retain, measure

        forget, holdout = self._data
        block = measure(model, adapter, forget, holdout, batch_size=batch_size, limit=self.request.limit,
                        layout=self._layout, gradnorm=self.options.gradnorm)
        if self._reference is None:
            return block
        retain = source_id(self.options.retain_model) if self.options.retain_model else None
        return compare_with_retain(block, self._reference, retain)


def _forget_and_holdout(request: EvalRequest, splits: Mapping[str, Any]) -> tuple[Any, Any] | str:
    """(forget split, holdout split) for the membership-inference attacks, or one line saying why there are
    none (the dataset has no ``holdout`` config)."""
    from umu_hf.data.load import MissingConfigError, load_umu_split
    from umu_hf.data.schema import set_config

    try:
        holdout = load_umu_split(request.data, "holdout", as_dataset=False)
    except MissingConfigError as exc:
        return " ".join(str(exc).split())
    forget = splits.get("forget")
    if forget is None:
        forget = load_umu_split(request.data, set_config("forget", request.forget_ratio), as_dataset=False)
    return forget, holdout


def evaluate_with_privacy(
    request: EvalRequest,
    options: PrivacyOptions | None = None,
    *,
    loaded: tuple[Any, Any, Any] | None = None,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """:func:`umu_hf.evaluation.runner.evaluate_model` of ``request`` with the privacy block measured as
    ``options`` say on the same model, under :data:`PRIVACY` in the results (and ``results.json``).
    ``loaded``, ``progress``, ``on_batch``: as :func:`~umu_hf.evaluation.runner.evaluate_model`'s."""
    from umu_hf.evaluation.runner import evaluate_model

    return evaluate_model(request, loaded=loaded, progress=progress, on_batch=on_batch,
                          extra_blocks={PRIVACY: PrivacyBlock(request, options)})
