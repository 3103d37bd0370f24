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
"""

from __future__ import annotations

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
    """DPO: ``−mean log σ(β · ((c − c_ref) − (r − r_ref)))``; ``ln 2`` at θ = ref."""
    margin = (chosen_logp - ref_chosen_logp) - (rejected_logp - ref_rejected_logp)
    return -F.logsigmoid(beta * margin).mean()


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
