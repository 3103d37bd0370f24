"""Loss functions of the unlearning methods, as pure tensor functions (docs/protocol.md, "Training").

They take logits and labels (``-100`` = not scored) in the usual causal-LM layout: the logit at position ``t``
predicts the token at ``t + 1``. Keeping them free of Trainer state makes them easy to test and to reuse.

>>> import torch
>>> logits = torch.zeros(1, 3, 4)            # uniform over 4 tokens
>>> labels = torch.tensor([[-100, 1, 2]])    # two scored tokens
>>> round(answer_nll(logits, labels).item(), 4)   # ln 4
1.3863
>>> round(npo_loss(torch.tensor([-2.0]), torch.tensor([-2.0]), beta=0.4).item(), 4)  # (2/beta) ln 2
3.4657
>>> round(npo_batch_loss(torch.tensor(1.5), torch.tensor(1.5), beta=0.4).item(), 4)
3.4657
>>> round(cross_entropy_to_reference(logits, logits).item(), 4)  # entropy of the uniform: ln 4
1.3863
>>> round(wga_nll(logits, labels, beta=1.0).item(), 4)   # p = 1/4: (1/4) · ln 4
0.3466
>>> round(satimp_nll(logits, labels, beta1=1.0, beta2=1.0).item(), 4)  # (1/4)(3/4) · ln 4
0.2599
>>> round(ce_u_loss(logits, labels).item(), 4)   # target uniform over the 3 other tokens: ln 4
1.3863
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def _shift(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Align logits with the next-token labels."""
    return logits[:, :-1, :], labels[:, 1:]


def token_logprobs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log p(label) and the mask of scored tokens, both ``(batch, seq - 1)``."""
    logits, labels = _shift(logits, labels)
    mask = labels != IGNORE_INDEX
    safe = labels.masked_fill(~mask, 0)
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return logp * mask, mask


def answer_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood over every scored token of the batch (the usual LM loss)."""
    logits, labels = _shift(logits, labels)
    return F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )


def sequence_logprob(logits: torch.Tensor, labels: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """log p(y|x) per example (sum over its scored tokens; the mean when ``normalize``), shape ``(batch,)``."""
    logp, mask = token_logprobs(logits, labels)
    total = logp.sum(-1)
    if normalize:
        total = total / mask.sum(-1).clamp(min=1)
    return total


def npo_loss(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO: ``(2/β) · mean(−log σ(−β · (log p_θ − log p_ref)))`` over sequences; equals ``(2/β) ln 2`` at θ = ref."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp)).mean()


def npo_batch_loss(nll: torch.Tensor, ref_nll: torch.Tensor, beta: float) -> torch.Tensor:
    """The original scripts' NPO: ``(2/β) · −log σ(β · (NLL_θ − NLL_ref))`` with NLL the batch-mean token loss
    (one log-ratio per batch, not per sequence); ``(2/β) ln 2`` at θ = ref."""
    return -(2.0 / beta) * F.logsigmoid(beta * (nll - ref_nll))


def cross_entropy_to_reference(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """The original KL method's retain term: ``mean over all positions of −Σ_v p_θ(v) · log(p_ref(v) + 1e-12)``.

    Every position counts (prompt, padding and image positions too) and it is a cross-entropy, not
    KL(p_ref ‖ p_θ): at θ = ref it equals the entropy of p_ref, not 0.
    """
    p = torch.softmax(logits.float(), dim=-1)
    log_q = torch.log(torch.softmax(ref_logits.float(), dim=-1) + 1e-12)
    return -(p * log_q).sum(-1).mean()


def simnpo_loss(avg_logp: torch.Tensor, beta: float, delta: float = 0.0) -> torch.Tensor:
    """SimNPO (reference-free): ``−(2/β) · mean(log σ(−β · log p̄_θ − δ))`` with the length-normalised log p̄."""
    return -(2.0 / beta) * F.logsigmoid(-beta * avg_logp - delta).mean()


def dpo_loss(
    chosen_logp: torch.Tensor,
    rejected_logp: torch.Tensor,
    ref_chosen_logp: torch.Tensor,
    ref_rejected_logp: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """DPO as TOFU and open-unlearning (``compute_dpo_loss``) scale it: ``−(2/β) · mean log σ(β · ((c − c_ref) −
    (r − r_ref)))`` over sequences, NPO's scale; ``(2/β) ln 2`` at θ = ref (the plain ``−log σ`` of the DPO paper is
    β/2 of it: 20× weaker at β = 0.1).

    >>> zero = torch.zeros(2)
    >>> round(dpo_loss(zero, zero, zero, zero, beta=0.1).item(), 4)  # 20 · ln 2
    13.8629
    """
    margin = (chosen_logp - ref_chosen_logp) - (rejected_logp - ref_rejected_logp)
    return -(2.0 / beta) * F.logsigmoid(beta * margin).mean()


def kl_on_tokens(ref_logits: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """KL(p_ref ‖ p_θ) of the next-token distributions, averaged over the scored tokens; 0 when θ = ref."""
    ref_logits, labels_s = _shift(ref_logits, labels)
    logits, _ = _shift(logits, labels)
    mask = labels_s != IGNORE_INDEX
    ref_logp = torch.log_softmax(ref_logits.float()[mask], dim=-1)
    logp = torch.log_softmax(logits.float()[mask], dim=-1)
    if logp.numel() == 0:
        return logits.sum() * 0.0
    return F.kl_div(logp, ref_logp, log_target=True, reduction="batchmean")


def _weighted_token_nll(logits: torch.Tensor, labels: torch.Tensor, weights: Callable[[torch.Tensor], torch.Tensor]):
    """``Σ_t w(sg(p_t)) · (−log p_t) / #scored`` over every scored token of the batch (0 when none is scored)."""
    logp, mask = token_logprobs(logits, labels)
    w = weights(logp.detach().exp())
    return (w * -logp * mask).sum() / mask.sum().clamp(min=1)


def wga_weights(p: torch.Tensor, beta: float) -> torch.Tensor:
    """WGA's token weights ``p^β`` (in [0, 1]; β = 0 gives 1 everywhere)."""
    return p**beta


def satimp_weights(p: torch.Tensor, beta1: float, beta2: float) -> torch.Tensor:
    """SatImp's token weights ``p^β1 · (1 − p)^β2``: saturation times importance, in [0, 1]."""
    return p**beta1 * (1.0 - p) ** beta2


def wga_nll(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """WGA's weighted forget NLL ``mean_t sg(p_t)^β · (−log p_t)``; the method ascends it (β = 0: the plain NLL)."""
    return _weighted_token_nll(logits, labels, lambda p: wga_weights(p, beta))


def satimp_nll(logits: torch.Tensor, labels: torch.Tensor, beta1: float, beta2: float) -> torch.Tensor:
    """SatImp's weighted forget NLL ``mean_t sg(p_t)^β1 · sg(1 − p_t)^β2 · (−log p_t)``; the method ascends it."""
    return _weighted_token_nll(logits, labels, lambda p: satimp_weights(p, beta1, beta2))


def ce_u_target(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CE-U's target: ``softmax`` of the detached ``logits`` (``(n, V)``) with each row's ``targets`` logit set to
    −inf, i.e. the model's own distribution over the other tokens, renormalised."""
    masked = logits.detach().float().scatter(-1, targets.unsqueeze(-1), float("-inf"))
    return torch.softmax(masked, dim=-1)


def ce_u_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CE-U: ``mean_t −Σ_v q_t(v) · log p_θ(v)`` with ``q_t`` = :func:`ce_u_target` (zero mass on the label), over
    the scored tokens. Its gradient in the logits is ``p_θ − q_t``: bounded, unlike gradient ascent."""
    logits, labels = _shift(logits, labels)
    mask = labels != IGNORE_INDEX
    scored = logits.float()[mask]
    if scored.numel() == 0:
        return logits.sum() * 0.0
    target = ce_u_target(scored, labels[mask])
    return -(target * torch.log_softmax(scored, dim=-1)).sum(-1).mean()
def logit_margin_flattening(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """PDU's forget loss: ``mean over scored tokens of (max_v z_v − mean_v z_v)²``; 0 when the logits are flat.

    Softmax-free; it drives the next-token distribution at each answer position toward the uniform.
    """
    logits, labels = _shift(logits, labels)
    mask = labels != IGNORE_INDEX
    z = logits.float()[mask]
    if z.numel() == 0:
        return logits.sum() * 0.0
    return ((z.max(dim=-1).values - z.mean(dim=-1)) ** 2).mean()


def modality_softmax_weights(forget_nll: dict[str, float]) -> dict[str, float]:
    """Adaptive modality weights: ``softmax_m(−NLL_m)`` = ``p_m / Σ p``, with ``p_m = exp(−NLL_m)`` the
    per-token probability of modality ``m``'s forget answers; they sum to one and favour the modality that still
    remembers more (lower NLL).

    >>> w = modality_softmax_weights({"mm": 1.0, "um": 2.0}); round(w["mm"], 4), round(sum(w.values()), 4)
    (0.7311, 1.0)
    """
    names = list(forget_nll)
    probs = torch.softmax(-torch.tensor([float(forget_nll[m]) for m in names], dtype=torch.float64), dim=0)
    return {m: float(p) for m, p in zip(names, probs, strict=True)}
def representation_mse(hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RMU's distance: the squared error ``(h − target)²`` averaged over the hidden units and the positions where
    ``mask`` is true (``torch.nn.functional.mse_loss`` restricted to the non-padding tokens).

    ``target`` is ``hidden``'s shape (the reference activations) or broadcasts to it (the steering vector).

    >>> h = torch.zeros(1, 2, 4)
    >>> round(representation_mse(h, torch.full((4,), 0.5), torch.tensor([[1, 0]])).item(), 4)
    0.25
    """
    keep = mask.bool()
    per_position = (hidden.float() - target.float()).pow(2).mean(-1)
    if not bool(keep.any()):
        return per_position.sum() * 0.0
    return per_position[keep].mean()


def undial_target(ref_logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """UNDIAL's fixed target at each scored position: ``softmax(z_ref − β · onehot(y))``, shape ``(scored, vocab)``.

    >>> import math
    >>> q = undial_target(torch.zeros(1, 2, 4), torch.tensor([[-100, 3]]), beta=math.log(3))
    >>> [round(v, 4) for v in q[0].tolist()]   # e^-β = 1/3 on the label, renormalised
    [0.3, 0.3, 0.3, 0.1]
    """
    ref_logits, labels = _shift(ref_logits, labels)
    mask = labels != IGNORE_INDEX
    z = ref_logits.float()[mask]
    z = z - beta * F.one_hot(labels[mask], z.size(-1)).to(z.dtype)
    return torch.softmax(z, dim=-1)


def undial_loss(logits: torch.Tensor, ref_logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """UNDIAL: the cross-entropy ``−Σ_v q(v) · log p_θ(v)`` from the model to :func:`undial_target`, averaged over
    the scored tokens (KL(q ‖ p_θ) plus the constant entropy of q: the same gradient).

    >>> round(undial_loss(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), torch.tensor([[-100, 3]]), 1.0).item(), 4)
    1.3863
    """
    target = undial_target(ref_logits, labels, beta)
    logits, labels = _shift(logits, labels)
    logp = torch.log_softmax(logits.float()[labels != IGNORE_INDEX], dim=-1)
    if logp.numel() == 0:
        return logits.sum() * 0.0
    return -(target * logp).sum(-1).mean()
