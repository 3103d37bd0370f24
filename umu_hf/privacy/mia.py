"""Membership inference on the forget set against the ``holdout`` config, per modality (``umu-hf eval --privacy``).

Every example is one training pair (``MM_QA`` asked with the portrait: *multimodal*; ``UM_QA``: *unimodal*),
laid out as training lays it out (:meth:`umu_hf.data.collate.UMUCollator.encode`, the model's training template,
no end-of-sequence token), and only its **answer tokens** are scored
(``label_mode="answer"``), as ``benchmarks/label_nll.py`` does. From each answer token's log-probability
``log p(x_t | x_<t)`` four attacks score the example, each oriented so that **higher = more likely a member**:

- ``loss`` (Yeom et al. 2018): minus the mean answer NLL;
- ``zlib`` (Carlini et al. 2021): minus the mean answer NLL divided by the zlib-compressed length in bytes of the
  answer text (NLL relative to how predictable the text is in itself);
- ``min_k`` (Min-K%, Shi et al. 2024): the mean of the lowest k % token log-probabilities (``k = 0.4``, at
  least one token: MUSE's PrivLeak reads its ``Min-40%`` AUC, ``swj0419/muse_bench`` ``eval.py``, and
  open-unlearning's MUSE and TOFU configs set ``k: 0.4``); the headline attack
  (:data:`umu_hf.privacy.reference.HEADLINE_ATTACK`);
- ``min_k_plus_plus`` (Min-K%++, Zhang et al. 2024): per token ``(log p(x_t) − μ_t) / σ_t`` with ``μ_t`` and
  ``σ_t`` the mean and standard deviation of ``log p(v)`` over the model's own next-token distribution
  ``v ~ p(· | x_<t)`` at that position; the mean of the lowest k % (the same ``k = 0.4``, open-unlearning's
  ``mia_min_k_plus_plus`` configs; MUSE has no Min-K%++; σ floored at 1e-6 for a one-hot distribution).

**The unimodal layout** is the one of the fine-tuning that made the forget set members (:func:`training_layout`,
recorded as ``layout`` in the block): the original vanilla fine-tuning asks ``UM_QA`` *with* the portrait, umu-hf's
paired streams (the embedded bench's vanilla) without. It is read from the model's ``umu_training.json`` (an
unlearned model's record names the model it started from, whose record is read in turn), or given
(``umu-hf eval --unimodal-layout``); a model without a record (a Hub checkpoint) is scored in text only, and the
block says so (``"source": "default"``).

The AUC (:func:`umu_hf.privacy.auc.auc`) of the forget pairs (members: the vanilla model was fine-tuned on
them) against the holdout pairs (non-members: in no fine-tuning) is reported per attack and modality, with the
modality gap ``AUC_multimodal − AUC_unimodal``.

Caveats. Members and non-members are different people with different (invented) facts and names, so the AUC
mixes memorisation with how typical each profile's text is; the holdout is small (by default 10 % of the
fictitious count), so AUCs move in coarse steps; and a pair is one example, so the profiles' pairs are
correlated, not independent draws.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from umu_hf.data.schema import MODALITIES
from umu_hf.errors import UmuError

#: the attacks, in report order
ATTACKS: tuple[str, ...] = ("loss", "zlib", "min_k", "min_k_plus_plus")
#: the fraction of lowest-scoring tokens Min-K% and Min-K%++ average: MUSE's 0.4 (module docstring)
DEFAULT_K = 0.4
#: how the unimodal training pairs (``UM_QA``) were asked in fine-tuning: name -> with the portrait
UNIMODAL_LAYOUTS: dict[str, bool] = {"with-portrait": True, "text-only": False}
#: the layout of a model whose fine-tuning is unknown (no training record: a Hub checkpoint)
DEFAULT_UNIMODAL_LAYOUT = "text-only"
#: a record's starting model is followed at most this many times (an unlearned model of an unlearned model ...)
_MAX_RECORD_HOPS = 8
_MIN_VARIANCE = 1e-12


@dataclass(frozen=True)
class TokenStats:
    """One example's answer tokens: ``log_probs[t] = log p(x_t | x_<t)``, the mean ``mu[t]`` and standard
    deviation ``sigma[t]`` of ``log p(v)`` under the next-token distribution at that position, and ``hits[t]``:
    whether ``x_t`` is that distribution's most likely token (what exact memorization and extraction strength
    read, :mod:`umu_hf.robustness.extraction`)."""

    log_probs: tuple[float, ...]
    mu: tuple[float, ...]
    sigma: tuple[float, ...]
    hits: tuple[bool, ...] = ()


def _lowest_mean(values: Sequence[float], k: float) -> float:
    """Mean of the lowest ``k`` fraction of ``values`` (``int(len * k)`` of them, at least one).

    >>> _lowest_mean([-1.0, -5.0, -2.0, -4.0, -3.0], 0.4)
    -4.5
    """
    count = max(1, int(len(values) * k))
    return sum(sorted(values)[:count]) / count


def attack_scores(stats: TokenStats, answer: str, k: float = DEFAULT_K) -> dict[str, float]:
    """The four attacks' scores of one example (higher = more likely a member; module docstring).

    >>> stats = TokenStats(log_probs=(-1.0, -3.0), mu=(-2.0, -2.0), sigma=(0.5, 2.0))
    >>> scores = attack_scores(stats, "ab", k=0.5)
    >>> scores["loss"], scores["min_k"], scores["min_k_plus_plus"]
    (-2.0, -3.0, -0.5)
    >>> scores["zlib"] == -2.0 / len(zlib.compress(b"ab"))
    True
    """
    if not stats.log_probs:
        raise ValueError("an example without answer tokens has no membership score")
    nll = -sum(stats.log_probs) / len(stats.log_probs)
    z = [(lp - mu) / sigma for lp, mu, sigma in zip(stats.log_probs, stats.mu, stats.sigma, strict=True)]
    return {
        "loss": -nll,
        "zlib": -nll / len(zlib.compress(answer.encode("utf-8"))),
        "min_k": _lowest_mean(stats.log_probs, k),
        "min_k_plus_plus": _lowest_mean(z, k),
    }


@dataclass(frozen=True)
class Layout:
    """How the membership pairs are laid out: ``unimodal`` (a key of :data:`UNIMODAL_LAYOUTS`; ``MM_QA`` is always
    asked with the portrait), where that came from (``source``: ``"umu_training.json"``, ``"flag"`` or
    ``"default"``) and, for a record, which file, or why there was none (``detail``)."""

    unimodal: str = DEFAULT_UNIMODAL_LAYOUT
    source: str = "default"
    detail: str | None = None

    def __post_init__(self) -> None:
        if self.unimodal not in UNIMODAL_LAYOUTS:
            raise UmuError(f"the unimodal layout must be one of {', '.join(UNIMODAL_LAYOUTS)}, got {self.unimodal!r}")

    def columns(self) -> dict[str, tuple[str, bool]]:
        """``{modality: (column, asked with the portrait)}``."""
        return {"unimodal": ("UM_QA", UNIMODAL_LAYOUTS[self.unimodal]), "multimodal": ("MM_QA", True)}

    def to_dict(self) -> dict[str, Any]:
        """The ``layout`` entry of the privacy block.

        >>> Layout("with-portrait", "flag").to_dict()
        {'unimodal': 'UM_QA with portrait', 'multimodal': 'MM_QA with portrait', 'source': 'flag'}
        """
        unimodal = "UM_QA with portrait" if UNIMODAL_LAYOUTS[self.unimodal] else "UM_QA text only"
        out: dict[str, Any] = {"unimodal": unimodal, "multimodal": "MM_QA with portrait", "source": self.source}
        if self.detail:
            out["detail"] = self.detail
        return out


def training_layout(model: str, unimodal: str | None = None) -> Layout:
    """The layout of the fine-tuning that made ``model``'s members members: ``unimodal`` when given (a flag);
    else the nearest fine-tuning record (``method: finetune``) along ``model``'s ``umu_training.json`` and the
    models each record started from (an unlearned model's record names its vanilla); else
    :data:`DEFAULT_UNIMODAL_LAYOUT`, with the reason in ``detail``."""
    import json
    from pathlib import Path

    from umu_hf.trainers.jobs import FINETUNE_UM_QA_PORTRAIT, TRAINING_RECORD

    if unimodal is not None:
        return Layout(unimodal, "flag")
    folder = Path(model)
    for _ in range(_MAX_RECORD_HOPS):
        file = folder / TRAINING_RECORD
        if not file.is_file():
            why = f"no {TRAINING_RECORD} in {folder}" if folder.is_dir() else f"{folder} is not a local folder"
            return Layout(detail=why)
        try:
            record = json.loads(file.read_text(encoding="utf-8"))
        except ValueError:
            return Layout(detail=f"{file} is not valid JSON")
        if record.get("method") == "finetune":
            portrait = record.get("um_qa_with_portrait")
            if portrait is None:  # written before the layout was recorded: the same decision, from its streams
                portrait = FINETUNE_UM_QA_PORTRAIT.get((record.get("features") or {}).get("streams"))
            if portrait is None:
                return Layout(detail=f"{file} does not say how UM_QA was laid out")
            return Layout("with-portrait" if portrait else "text-only", "umu_training.json", str(file))
        if not record.get("model"):
            return Layout(detail=f"{file} names no model it started from")
        folder = Path(record["model"])
    return Layout(detail=f"no fine-tuning record within {_MAX_RECORD_HOPS} records of {model}")


def token_stats(
    model: Any, adapter: Any, pairs: Sequence[Any], images: Mapping[int, Any], batch_size: int = 16
) -> list[TokenStats]:
    """:class:`TokenStats` of each pair's answer tokens (``pairs``: :class:`umu_hf.data.collate.QAPair` s of one
    modality; ``images``: ``{profile ID: RGB portrait}``), scored in the training layout."""
    import torch

    from umu_hf.data.collate import IGNORE_INDEX, UMUCollator

    collator = UMUCollator(adapter, images, {}, label_mode="answer", refusals=[], eos=False)
    device = next(model.parameters()).device
    was_training = getattr(model, "training", False)
    model.eval()
    out: list[TokenStats] = []
    try:
        for start in range(0, len(pairs), batch_size):
            chunk = list(pairs[start : start + batch_size])
            batch = collator.encode(chunk, [p.answer for p in chunk])
            labels = batch.pop("labels")
            inputs = {key: value.to(device) for key, value in batch.items()}
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
            with torch.inference_mode():
                logits = model(**inputs).logits
            targets = labels[:, 1:]
            scored = targets != IGNORE_INDEX  # logits at t predict token t + 1
            for row in range(len(chunk)):
                mask = scored[row].to(logits.device)
                log_p = logits[row, :-1][mask].float().log_softmax(-1)
                tokens = targets[row][scored[row]].to(log_p.device)
                chosen = log_p.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
                p = log_p.exp()
                mu = (p * log_p).sum(-1)
                variance = ((p * log_p.square()).sum(-1) - mu.square()).clamp_min(_MIN_VARIANCE)
                hits = log_p.argmax(-1) == tokens
                out.append(TokenStats(tuple(chosen.tolist()), tuple(mu.tolist()), tuple(variance.sqrt().tolist()),
                                      tuple(hits.tolist())))
    finally:
        model.train(was_training)
    return out


def gradnorm_scores(model: Any, adapter: Any, pairs: Sequence[Any], images: Mapping[int, Any],
                    p: float = 2.0) -> list[float]:
    """The gradient-norm attack's score of each pair, as open-unlearning's ``GradNormAttack``
    (``src/evals/metrics/mia/gradnorm.py``): the pair's mean answer-token NLL backpropagated alone, the p-norm of
    each parameter's gradient, their mean over parameters — negated here, so that higher means member (a seen
    example has small gradients). The model is in train mode meanwhile, as there (no dropout in LLaVA), every
    parameter takes a gradient, and each pair's gradients are cleared after it; nothing is updated."""
    import torch

    from umu_hf.data.collate import UMUCollator
    from umu_hf.trainers.losses import answer_nll

    collator = UMUCollator(adapter, images, {}, label_mode="answer", refusals=[], eos=False)
    device = next(model.parameters()).device
    params = list(model.parameters())
    wanted = [param.requires_grad for param in params]
    was_training = getattr(model, "training", False)
    model.train()
    scores = []
    try:
        for param in params:
            param.requires_grad_(True)
        for pair in pairs:
            batch = collator.encode([pair], [pair.answer])
            labels = batch.pop("labels")
            inputs = {key: value.to(device) for key, value in batch.items()}
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
            model.zero_grad(set_to_none=True)
            with torch.enable_grad():
                answer_nll(model(**inputs).logits, labels.to(device)).backward()
            norms = [param.grad.detach().float().norm(p=p) for param in params if param.grad is not None]
            scores.append(-float(torch.stack(norms).mean()))
    finally:
        model.zero_grad(set_to_none=True)
        for param, flag in zip(params, wanted, strict=True):
            param.requires_grad_(flag)
        model.train(was_training)
    return scores


def example_scores(
    model: Any,
    adapter: Any,
    pairs: Sequence[Any],
    images: Mapping[int, Any],
    *,
    k: float = DEFAULT_K,
    batch_size: int = 16,
) -> dict[str, list[float]]:
    """``{attack: [score of each pair]}`` (higher = more likely a member)."""
    per_pair = [
        attack_scores(stats, pair.answer, k)
        for stats, pair in zip(token_stats(model, adapter, pairs, images, batch_size), pairs, strict=True)
    ]
    return {attack: [scores[attack] for scores in per_pair] for attack in ATTACKS}


def split_pairs(
    split: Any, name: str, limit: int | None = None, layout: Layout | None = None
) -> tuple[dict[str, list[Any]], dict[int, Any]]:
    """A split's training pairs per modality laid out as ``layout`` says (default :class:`Layout`: ``UM_QA`` in
    text only), the first ``limit`` of each when given, and its portraits."""
    from umu_hf.data.collate import flat_qa
    from umu_hf.data.decode import decode_images

    columns = (layout or Layout()).columns()
    pairs = {}
    for modality in MODALITIES:
        column, with_image = columns[modality]
        pairs[modality] = flat_qa(split, column, with_image, name)[:limit]
    return pairs, decode_images(split)


def membership_report(
    model: Any,
    adapter: Any,
    members: Any,
    nonmembers: Any,
    *,
    k: float = DEFAULT_K,
    batch_size: int = 16,
    limit: int | None = None,
    layout: Layout | None = None,
    gradnorm: bool = False,
) -> dict[str, Any]:
    """The ``privacy`` block of ``results.json``: ``{"mia": {attack: {"unimodal": auc, "multimodal": auc,
    "gap": multimodal − unimodal}}, "tpr_at_fpr": {attack: {modality: {"1%": tpr, "5%": tpr}}}
    (:func:`umu_hf.privacy.auc.tpr_at_fpr`; with fewer than 100 holdout pairs 1 % is FPR 0), "loss_scores": {role:
    {modality: [LOSS score per pair]}}, "n_forget": profiles, "n_holdout": profiles, "n_pairs": {modality:
    {"forget": n, "holdout": n}}, "k": k, "layout": ...}`` (``k``: Min-K%'s and Min-K%++'s fraction; ``layout``:
    :meth:`Layout.to_dict`, default :class:`Layout`) for the splits ``members`` (forget) and ``nonmembers``
    (holdout); ``limit``: only the first ``limit`` pairs of each split and modality. ``gradnorm``: also the
    gradient-norm attack (:func:`gradnorm_scores`; one backward pass per pair, so off by default)."""
    from umu_hf.privacy.auc import FPR_LEVELS, modality_aucs, modality_tprs

    layout = layout or Layout()
    scores: dict[str, dict[str, dict[str, list[float]]]] = {}
    counts: dict[str, dict[str, int]] = {m: {} for m in MODALITIES}
    laid_out = {}
    for role, split in (("forget", members), ("holdout", nonmembers)):
        pairs, images = laid_out[role] = split_pairs(split, role, limit, layout)
        scores[role] = {}
        for modality in MODALITIES:
            scores[role][modality] = example_scores(
                model, adapter, pairs[modality], images, k=k, batch_size=batch_size
            )
            counts[modality][role] = len(pairs[modality])
    def _pairs_and_images(role: str, modality: str) -> tuple[Any, Any]:
        return laid_out[role][0][modality], laid_out[role][1]

    mia = {
        attack: modality_aucs(
            {m: scores["forget"][m][attack] for m in MODALITIES},
            {m: scores["holdout"][m][attack] for m in MODALITIES},
        )
        for attack in ATTACKS
    }
    tpr = {
        attack: modality_tprs({m: scores["forget"][m][attack] for m in MODALITIES},
                              {m: scores["holdout"][m][attack] for m in MODALITIES})
        for attack in ATTACKS
    }
    if gradnorm:
        grad = {role: {m: gradnorm_scores(model, adapter, *_pairs_and_images(role, m)) for m in MODALITIES}
                for role in ("forget", "holdout")}
        mia["gradnorm"] = modality_aucs(grad["forget"], grad["holdout"])
        tpr["gradnorm"] = modality_tprs(grad["forget"], grad["holdout"])
    return {
        "mia": mia,
        "tpr_at_fpr": tpr,
        # the LOSS attack's per-pair scores (pairs in order): what the reference attack compares with a
        # reference model's (umu_hf.privacy.reference.compare_with_retain)
        "loss_scores": {role: {m: scores[role][m]["loss"] for m in MODALITIES} for role in scores},
        "fpr_levels": list(FPR_LEVELS),
        "n_forget": members.num_rows,
        "n_holdout": nonmembers.num_rows,
        "n_pairs": counts,
        "k": k,
        "layout": layout.to_dict(),
    }


def format_privacy(block: Mapping[str, Any]) -> str:
    """The ``privacy`` block as text: one line per attack (AUC per modality and the gap), or the one line that
    says why it is unavailable."""
    if "unavailable" in block:
        return f"privacy: unavailable ({block['unavailable']})"
    lines = [f"privacy: membership-inference AUC, forget ({block['n_forget']}) vs holdout ({block['n_holdout']}) "
             f"profiles (0.5 = chance, higher = forget set recognised; Min-K% k = {block.get('k', '?')})"]  # fmt: skip
    layout = block.get("layout")
    if layout:
        why = f": {layout['detail']}" if layout.get("detail") else ""
        lines.append(f"  unimodal pairs: {layout['unimodal']} ({layout['source']}{why})")
    tprs = block.get("tpr_at_fpr", {})
    for attack, aucs in block["mia"].items():
        tpr = tprs.get(attack, {})
        low = "  TPR@1%/5% FPR " + " ".join(
            f"{m[:3]} {tpr[m]['1%']:.2f}/{tpr[m]['5%']:.2f}" for m in ("unimodal", "multimodal") if m in tpr
        ) if tpr else ""
        shown = [f"{aucs[key]:{fmt}}" if aucs.get(key) is not None else "–"
                 for key, fmt in (("unimodal", ".3f"), ("multimodal", ".3f"), ("gap", "+.3f"))]
        lines.append(f"  {attack:<16} unimodal {shown[0]}  multimodal {shown[1]}  gap {shown[2]}" + low)
    return "\n".join(lines)
