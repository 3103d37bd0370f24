"""Privacy against the gold standard: the *retain model* (the vanilla fine-tuning without the forget people).

What one model contributes (:func:`measure`, the ``privacy`` block of its ``results.json``): the four
membership-inference attacks' AUCs of forget against holdout per modality (:mod:`umu_hf.privacy.mia`) and the
truth ratio of every forget-set classification item per modality (:mod:`umu_hf.privacy.truth_ratio`).

Against a retain model's block (:func:`compare_with_retain`) two numbers follow, per modality:

- **forget quality** (TOFU): the KS-test p-value between the model's and the retain model's forget truth ratios;
  1 = indistinguishable from a model that never saw the forget people, near 0 = clearly not. Higher is better.
- **PrivLeak** (MUSE): the relative gap between the model's and the retain model's AUC of the headline attack
  (:data:`HEADLINE_ATTACK`, Min-K % at k = 0.4, as MUSE), in MUSE's convention (:func:`privleak`). 0 = the forget
  set is exactly as recognisable as to the retain model; negative = under-unlearning (still recognised; a model
  that memorised the forget set is near −100); positive = over-unlearning (the forget set looks *less* familiar
  than to a model that never saw it, a tell of its own). Closer to 0 is better.

Where the retain model comes from: ``umu-hf finetune --config_name retain85+real`` (the training of vanilla on
every part of ``full`` but the forget set, :func:`umu_hf.data.schema.retain_model_config`), or ``umu-hf bench
--privacy``, which trains it per seed and forget ratio.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from umu_hf.data.schema import MODALITIES
from umu_hf.errors import UmuError
from umu_hf.privacy.mia import DEFAULT_K, Layout

#: the attack PrivLeak and the leaderboard's AUC columns use: MUSE's, Min-K % at k = 0.4
#: (:data:`umu_hf.privacy.mia.DEFAULT_K`; MUSE's ``privleak_auc_key`` is ``forget_holdout_Min-40%``)
HEADLINE_ATTACK = "min_k"
#: the cache of a retain model's block in an evaluation folder (``umu-hf eval --retain-model``)
REFERENCE_FILE = "retain_reference.json"
#: how the numbers of a privacy block are measured, beyond the model and the data: part of the identity of a
#: cached retain-model block (:func:`retain_reference`) and of a bench's privacy evaluations, so a block measured
#: otherwise (Min-K% at 0.2, truth ratios with the end-of-turn token) is measured again, never reused
MEASUREMENT: dict[str, Any] = {"k": DEFAULT_K, "option_scores": "option tokens only", "loss_scores": "per pair"}


def privleak(auc_model: float | None, auc_retain: float | None) -> float | None:
    """MUSE's PrivLeak in percent, from two AUCs in umu-hf's convention (:func:`umu_hf.privacy.auc.auc`:
    P(member score > non-member score)); None when either AUC is missing or not finite, or the retain AUC is 1.

    MUSE (``swj0419/muse_bench``, ``metrics/privleak.py``) labels the *non*-members 1, so its AUC is
    ``1 − ours``, and PrivLeak is ``(AUC_model − AUC_retain) / AUC_retain × 100`` on *its* AUCs; open-unlearning's
    ``privleak`` (``src/evals/metrics/privacy.py``) converts its AUCs (ours) with ``1 − auc`` for the same reason.
    On our AUCs ``x`` (the model's) and ``r`` (the retain model's) that is ``(r − x) / (1 − r) × 100``: negative
    while the forget set is still recognised (near −100 for a model that memorised it), 0 at the retain model's
    AUC, positive when it looks less familiar than to a model that never saw it (over-unlearning).

    >>> privleak(0.99, 0.5), privleak(0.5, 0.5), privleak(0.25, 0.5)
    (-98.0, 0.0, 50.0)
    """
    if auc_model is None or auc_retain is None or not (math.isfinite(auc_model) and math.isfinite(auc_retain)):
        return None
    if auc_retain == 1:
        return None
    return (auc_retain - auc_model) / (1.0 - auc_retain) * 100.0


def measure(model: Any, adapter: Any, forget: Any, holdout: Any, *, limit: int | None = None,
            batch_size: int = 16, layout: Layout | None = None, gradnorm: bool = False) -> dict[str, Any]:
    """One model's privacy block: :func:`umu_hf.privacy.mia.membership_report` (its pairs laid out as ``layout``
    says) plus ``truth_ratios`` (``{modality: [...]}``, the forget set's classification items in canonical order)
    and their medians."""
    import statistics

    from umu_hf.privacy.mia import membership_report
    from umu_hf.privacy.truth_ratio import split_truth_ratios

    block = membership_report(model, adapter, forget, holdout, batch_size=batch_size, limit=limit, layout=layout,
                              gradnorm=gradnorm)
    per_modality = split_truth_ratios(model, adapter, forget, limit=limit, batch_size=batch_size)
    block["truth_ratios"] = per_modality
    block["median_truth_ratio"] = {m: statistics.median(v) if v else None for m, v in per_modality.items()}
    return block


def compare_with_retain(block: Mapping[str, Any], reference: Mapping[str, Any],
                        retain_model: str | None = None) -> dict[str, Any]:
    """``block`` with ``forget_quality`` (``{modality: {"forget_quality", "ks_statistic", ...}}``), ``privleak``
    (``{attack: {"unimodal", "multimodal", "gap"}}``) and ``retain_model`` (its MIA AUCs, layout and where it came
    from) added; ``reference`` is the retain model's own :func:`measure` block. PrivLeak compares AUCs of the same
    pairs: when the two blocks scored ``UM_QA`` in different layouts, the unimodal PrivLeak is None and
    ``privleak_note`` says why."""
    from umu_hf.privacy.truth_ratio import forget_quality_by_modality

    for name, source in (("model", block), ("retain model", reference)):
        if "mia" not in source or "truth_ratios" not in source:
            raise UmuError(f"the {name}'s privacy block has no mia/truth_ratios; rerun `umu-hf eval --privacy`")
    ours, theirs = (b.get("layout", {}).get("unimodal") for b in (block, reference))
    unlike = ours is not None and theirs is not None and ours != theirs
    leak = {}
    for attack, aucs in block["mia"].items():
        ref = reference["mia"].get(attack, {})
        row = {m: None if unlike and m == "unimodal" else privleak(aucs.get(m), ref.get(m)) for m in MODALITIES}
        both = row["unimodal"] is not None and row["multimodal"] is not None
        row["gap"] = row["multimodal"] - row["unimodal"] if both else None
        leak[attack] = row
    out = {
        **block,
        **_reference_attack(block, reference, unlike),
        "forget_quality": forget_quality_by_modality(block["truth_ratios"], reference["truth_ratios"]),
        "privleak": leak,
        "retain_model": {"model": retain_model, "mia": reference["mia"], "layout": reference.get("layout"),
                         "median_truth_ratio": reference.get("median_truth_ratio")},
    }
    if unlike:
        out["privleak_note"] = (f"no unimodal PrivLeak: the model's unimodal pairs were scored as {ours}, the retain "
                                f"model's as {theirs}")
    return out


def _reference_attack(block: Mapping[str, Any], reference: Mapping[str, Any], unlike: bool) -> dict[str, Any]:
    """``mia`` and ``tpr_at_fpr`` with the reference-model attack added (open-unlearning's ``ReferenceAttack``,
    ``src/evals/metrics/mia/reference.py``: the target's average loss minus the reference's on the same pair; here
    negated, so that higher means member), the retain model being the reference; per modality where both blocks
    scored the same pairs (same layout and counts), else None."""
    from umu_hf.privacy.auc import FPR_LEVELS, auc, tpr_at_fpr

    ours, theirs = block.get("loss_scores"), reference.get("loss_scores")
    if not ours or not theirs:
        return {}
    aucs: dict[str, float | None] = {}
    tprs: dict[str, dict[str, float]] = {}
    for m in MODALITIES:
        diff = {}
        for role in ("forget", "holdout"):
            a, b = ours.get(role, {}).get(m, []), theirs.get(role, {}).get(m, [])
            if len(a) == len(b) > 0 and not (unlike and m == "unimodal"):
                diff[role] = [x - y for x, y in zip(a, b, strict=True)]
        if len(diff) < 2:
            aucs[m] = None
            continue
        aucs[m] = auc(diff["forget"], diff["holdout"])
        tprs[m] = {f"{level:.0%}": tpr_at_fpr(diff["forget"], diff["holdout"], level) for level in FPR_LEVELS}
    both = aucs["unimodal"] is not None and aucs["multimodal"] is not None
    aucs["gap"] = aucs["multimodal"] - aucs["unimodal"] if both else None
    return {"mia": {**block["mia"], "reference": aucs},
            "tpr_at_fpr": {**block.get("tpr_at_fpr", {}), "reference": tprs}}


def retain_reference(retain_model: str, forget: Any, holdout: Any, out_dir: str | Path, identity: Mapping[str, Any],
                     *, limit: int | None, batch_size: int | str, device: str, dtype: str,
                     layout: Layout | None = None) -> dict[str, Any]:
    """The retain model's block, measured once per evaluation folder: cached in ``out_dir/`` :data:`REFERENCE_FILE`
    with ``identity`` (model, data, ratio, limit), :data:`MEASUREMENT` and the layout, and reused when that
    matches. ``layout`` is the *evaluated* model's (:func:`umu_hf.privacy.mia.training_layout`), so both AUCs of
    PrivLeak score the same pairs. The retain model is loaded, measured and released before the evaluated model
    is loaded (never two models at once)."""
    from umu_hf.evaluation.batching import resolve_batch_size
    from umu_hf.identity import RecordError, normalised, read_record, same_settings
    from umu_hf.models.loading import load_model
    from umu_hf.utils import write_json

    path = Path(out_dir) / REFERENCE_FILE
    layout = layout or Layout()
    expected = normalised({**identity, "measurement": MEASUREMENT, "layout": layout.to_dict()})
    try:
        cached = read_record(path, field=None) or {}
    except RecordError:
        cached = {}
    if isinstance(cached, dict) and same_settings(cached.get("identity"), expected) and "block" in cached:
        return cached["block"]
    model, _processor, adapter = load_model(retain_model, device, dtype)
    try:
        block = measure(model, adapter, forget, holdout, limit=limit,
                        batch_size=resolve_batch_size(batch_size, model), layout=layout)
    finally:
        del model
        gc.collect()
        _empty_cuda_cache()
    write_json(path, {"identity": expected, "block": block})
    return block


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def format_comparison(block: Mapping[str, Any]) -> str:
    """Forget quality and PrivLeak as text (what ``umu-hf eval --retain-model`` prints after the AUCs)."""
    if "forget_quality" not in block:
        return ""
    fq = block["forget_quality"]
    lines = ["forget quality (KS p-value of forget truth ratios vs the retain model; 1 = indistinguishable): "
             + "  ".join(f"{m} {fq[m]['forget_quality']:.3g}" for m in MODALITIES if m in fq)]
    leak = block["privleak"].get(HEADLINE_ATTACK, {})
    shown = "  ".join(f"{m} {leak[m]:+.1f}%" if leak.get(m) is not None else f"{m} –" for m in MODALITIES)
    lines.append(f"PrivLeak (MUSE's, {HEADLINE_ATTACK} AUC against the retain model's; 0 = as never trained, "
                 f"< 0 still recognised, > 0 over-unlearned): {shown}")
    if "privleak_note" in block:
        lines.append(f"  {block['privleak_note']}")
    return "\n".join(lines)
