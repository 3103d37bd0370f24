"""WGA, SatImp and CE-U: their token weights and targets on hand-made logits, and each method's first-step
loss on the tiny LLaVA against an independent computation written from the papers' definitions; and
``umu-hf bench --methods all``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from umu_hf.errors import UmuError
from umu_hf.models.loading import load_model
from umu_hf.trainers.jobs import build_unlearning_dataset
from umu_hf.trainers.lora import LoraArguments, apply_lora
from umu_hf.trainers.losses import (
    answer_nll,
    ce_u_loss,
    ce_u_target,
    satimp_nll,
    satimp_weights,
    wga_nll,
    wga_weights,
)
from umu_hf.trainers.registry import METHOD_NAMES, get_method

LORA = LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings()
#: two sequences over a 3-token vocabulary; -100 = not scored (the logit at t predicts the label at t + 1)
LOGITS = torch.tensor([[[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 0.0]],
                       [[1.0, -2.0, 3.0], [-1.0, 0.0, 1.0], [4.0, 0.0, 0.0]]])
LABELS = torch.tensor([[-100, 0, 1], [-100, 2, -100]])


def _scored() -> list[tuple[list[float], int]]:
    """(the softmax at the predicting position, the label) of each scored token of LOGITS/LABELS, by hand."""
    out = []
    for b in range(2):
        for t in range(1, 3):
            label = int(LABELS[b, t])
            if label != -100:
                z = [float(v) for v in LOGITS[b, t - 1]]
                norm = sum(math.exp(v) for v in z)
                out.append(([math.exp(v) / norm for v in z], label))
    return out


def test_wga_weights_and_beta_zero_is_the_plain_nll():
    p = torch.linspace(0, 1, 11)
    for beta in (0.5, 1.0, 3.0):
        w = wga_weights(p, beta)
        assert bool(((w >= 0) & (w <= 1)).all()) and bool((w[1:] >= w[:-1]).all())  # in [0, 1], grows with p
    assert torch.allclose(wga_nll(LOGITS, LABELS, beta=0.0), answer_nll(LOGITS, LABELS))
    expected = sum(p[y] ** 2 * -math.log(p[y]) for p, y in _scored()) / 3
    assert float(wga_nll(LOGITS, LABELS, beta=2.0)) == pytest.approx(expected, rel=1e-6)


def test_satimp_weights_match_the_formula():
    p = torch.linspace(0, 1, 11)
    w = satimp_weights(p, 5.0, 1.0)
    assert bool(((w >= 0) & (w <= 1)).all()) and float(w[0]) == 0 and float(w[-1]) == 0
    expected = sum(p[y] ** 5 * (1 - p[y]) * -math.log(p[y]) for p, y in _scored()) / 3
    assert float(satimp_nll(LOGITS, LABELS, 5.0, 1.0)) == pytest.approx(expected, rel=1e-6)
    # the weights are constants: the gradient is the weighted NLL's, not that of w(p)·NLL as a whole
    logits = LOGITS.clone().requires_grad_(True)
    satimp_nll(logits, LABELS, 5.0, 1.0).backward()
    probs, label = torch.softmax(LOGITS[0, 0], -1), int(LABELS[0, 1])
    weight = probs[label] ** 5 * (1 - probs[label])
    onehot = torch.nn.functional.one_hot(torch.tensor(label), 3).float()
    assert torch.allclose(logits.grad[0, 0], weight * (probs - onehot) / 3, atol=1e-7)


def test_ce_u_target_avoids_the_label_and_loss_matches_the_definition():
    flat, labels = LOGITS.reshape(-1, 3), torch.tensor([0, 1, 2, 2, 0, 1])
    q = ce_u_target(flat, labels)
    assert torch.allclose(q.sum(-1), torch.ones(6))
    assert bool((q.gather(-1, labels[:, None]) == 0).all())
    p = torch.softmax(flat, -1)
    others = p.scatter(-1, labels[:, None], 0.0)
    assert torch.allclose(q, others / others.sum(-1, keepdim=True))  # p_θ renormalised over the other tokens
    expected = 0.0
    for probs, y in _scored():
        expected += -sum(pv / (1 - probs[y]) * math.log(pv) for v, pv in enumerate(probs) if v != y)
    assert float(ce_u_loss(LOGITS, LABELS)) == pytest.approx(expected / 3, rel=1e-6)
    # the logit gradient is (p_θ - q) / #scored: bounded, and it lowers the label's logit
    logits = LOGITS.clone().requires_grad_(True)
    ce_u_loss(logits, LABELS).backward()
    want = (torch.softmax(LOGITS[1, 0], -1) - ce_u_target(LOGITS[1, 0:1], torch.tensor([2]))[0]) / 3
    assert torch.allclose(logits.grad[1, 0], want, atol=1e-7) and float(want[2]) > 0


# ---- first step on the tiny LLaVA ------------------------------------------------------------------------------
def _setup(method: str, model_dir: Path, data: Path, out: Path):
    trainer_cls, config_cls = get_method(method)
    model, _, adapter = load_model(str(model_dir), device="cpu", dtype="float32")
    model = apply_lora(model, LORA.resolved(trainer_cls.lora_target_modules or ("q_proj", "v_proj")))
    config = config_cls(output_dir=str(out), max_steps=1, use_cpu=True, save_strategy="no", disable_tqdm=True,
                        per_device_train_batch_size=3, seed=7)
    trainer = trainer_cls(model=model, args=config, train_dataset=build_unlearning_dataset(data, 5), adapter=adapter)
    loader = trainer.get_train_dataloader()
    loader.set_epoch(0)
    return trainer, next(iter(loader))


@torch.no_grad()
def _token_probs(model, inputs, stream: str, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(next-token distribution (n, V), label (n,)) at each scored token of one stream, in float64."""
    prefix = f"{stream}_{modality}_"
    sub = {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}
    labels = sub.pop("labels")[:, 1:]
    logits = model(**sub).logits[:, :-1].double()
    keep = labels != -100
    return torch.softmax(logits[keep], dim=-1), labels[keep]


def _label_p(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return probs.gather(-1, labels[:, None]).squeeze(-1)


def _first_loss(trainer, inputs, term: str) -> tuple[float, dict[str, float]]:
    """The trainer's first-step loss and its logged forget ``term`` per modality."""
    trainer.model.eval()
    trainer._terms.clear()
    with torch.no_grad():
        loss = float(trainer.compute_loss(trainer.model, inputs))
    return loss, {m: trainer._terms[f"{term}_{m}"][-1] for m in ("mm", "um")}


def _check(trainer, inputs, term: str, forget_term, sign: float) -> None:
    """The loss is ``Σ_modality weight · (sign · forget_term(p, labels) + γ · NLL(retain))`` (the retain term only
    when γ > 0), and each modality's logged forget term is ``forget_term`` (checked on its own: it can be tiny)."""
    got, logged = _first_loss(trainer, inputs, term)
    total = 0.0
    for modality, weight in (("mm", 1.0), ("um", trainer.args.alpha)):
        forget = float(forget_term(*_token_probs(trainer.model, inputs, "forget", modality)))
        assert logged[modality] == pytest.approx(forget, rel=1e-4, abs=0), modality
        loss = sign * forget
        if trainer.args.gamma > 0:
            retain = _token_probs(trainer.model, inputs, "retain", modality)
            loss += trainer.args.gamma * float(-_label_p(*retain).log().mean())
        total += weight * loss
    assert got == pytest.approx(total, rel=1e-5, abs=1e-5)


def test_wga_first_step(tiny_model_dir, synth_dir, tmp_path):
    trainer, inputs = _setup("wga", tiny_model_dir, synth_dir, tmp_path)
    assert trainer.args.beta == 1.0 and trainer.args.gamma == 1.0

    def wga(probs, labels):  # the weighted forget NLL: mean p^β · (-log p)
        p = _label_p(probs, labels)
        return (p ** trainer.args.beta * -p.log()).mean()

    _check(trainer, inputs, "forget_wnll", wga, sign=-1.0)
    trainer.args.beta = 0.0  # β = 0 is GD: -NLL(forget) + γ · NLL(retain)
    _check(trainer, inputs, "forget_wnll", lambda probs, labels: -_label_p(probs, labels).log().mean(), sign=-1.0)


def test_satimp_first_step(tiny_model_dir, synth_dir, tmp_path):
    """open-unlearning's SatImp.yaml: β1 5, β2 1, forget term weighted 0.1 (its gamma), retain 1 (its alpha)."""
    trainer, inputs = _setup("satimp", tiny_model_dir, synth_dir, tmp_path)
    b1, b2 = trainer.args.beta1, trainer.args.beta2
    assert (b1, b2, trainer.args.forget_weight, trainer.args.gamma) == (5.0, 1.0, 0.1, 1.0)
    record = trainer.args.protocol_record()
    assert (record["beta1"], record["beta2"], record["forget_weight"], record["gamma"]) == (5.0, 1.0, 0.1, 1.0)

    def satimp(probs, labels):  # the weighted forget NLL: mean p^β1 · (1 - p)^β2 · (-log p)
        p = _label_p(probs, labels)
        return (p**b1 * (1 - p) ** b2 * -p.log()).mean()

    _check(trainer, inputs, "forget_wnll", satimp, sign=-0.1)
    trainer.args.forget_weight, trainer.args.gamma = 2.0, 0.5  # the weights are the flags'
    _check(trainer, inputs, "forget_wnll", satimp, sign=-2.0)
    for name in ("beta1", "forget_weight"):
        with pytest.raises(UmuError, match=name):
            get_method("satimp")[1](output_dir=str(tmp_path), use_cpu=True, **{name: -1.0})


def test_ce_u_first_step_is_forget_only(tiny_model_dir, synth_dir, tmp_path):
    trainer, inputs = _setup("ce_u", tiny_model_dir, synth_dir, tmp_path)
    assert trainer.args.gamma == 0.0 and not any(k.startswith("retain_") for k in inputs)

    def ce_u(probs, labels):
        others = probs.scatter(-1, labels[:, None], 0.0)
        target = others / others.sum(-1, keepdim=True)
        assert torch.allclose(target.sum(-1), torch.ones(len(labels), dtype=target.dtype))
        return -(target * probs.log()).sum(-1).mean()

    _check(trainer, inputs, "forget_ce_u", ce_u, sign=1.0)


# ---- umu-hf bench --methods all --------------------------------------------------------------------------------
def test_bench_methods_all_expands_to_the_registry():
    from umu_hf.bench.cli import bench_settings, parse_args

    def methods(text: str) -> tuple[str, ...]:
        return bench_settings(*parse_args(["--methods", text])).methods

    assert methods("all") == METHOD_NAMES and {"wga", "satimp", "ce_u"} <= set(METHOD_NAMES)
    assert methods("npo, ALL") == ("npo", *(m for m in METHOD_NAMES if m != "npo"))
    assert methods("ga,gd") == ("ga", "gd")
    with pytest.raises(UmuError, match="known methods"):
        methods("all,forgetful")
