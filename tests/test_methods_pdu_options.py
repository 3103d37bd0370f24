"""PDU (primal-dual unlearning) and the options any method can switch on: adaptive modality weighting and an L1
penalty on the LoRA parameters — checked on the tiny LLaVA against independent computations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from umu_hf.errors import UmuError
from umu_hf.models.loading import load_model
from umu_hf.trainers.base import TRAINER_EXTRA_STATE
from umu_hf.trainers.jobs import build_unlearning_dataset
from umu_hf.trainers.lora import LoraArguments, apply_lora
from umu_hf.trainers.losses import answer_nll, modality_softmax_weights
from umu_hf.trainers.registry import get_method

LORA = LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings()


def _trainer(method: str, model_dir: Path, data: Path, out: Path, **overrides):
    trainer_cls, config_cls = get_method(method)
    model, _, adapter = load_model(str(model_dir), device="cpu", dtype="float32")
    model = apply_lora(model, LORA)
    settings = {"max_steps": 1, "per_device_train_batch_size": 2, "learning_rate": 1e-2, "use_cpu": True,
                "save_strategy": "no", "disable_tqdm": True, "seed": 3, **overrides}
    config = config_cls(output_dir=str(out), **settings)
    dataset = build_unlearning_dataset(data, 5, streams=config.streams)
    return trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter)


def _first_batch(trainer):
    loader = trainer.get_train_dataloader()
    loader.set_epoch(0)
    return next(iter(loader))


def _nll(model, inputs, stream, modality) -> torch.Tensor:
    prefix = f"{stream}_{modality}_"
    sub = {k[len(prefix):]: v for k, v in inputs.items() if k.startswith(prefix)}
    labels = sub.pop("labels")
    return model(**sub).logits, labels


def _flat(logits, labels) -> float:
    """(max − mean logit)² averaged over the scored tokens, written out here (the logit at t predicts t + 1)."""
    values = []
    for b in range(labels.size(0)):
        for t in range(1, labels.size(1)):
            if labels[b, t] != -100:
                z = logits[b, t - 1].float()
                values.append(float((z.max() - z.mean()) ** 2))
    return sum(values) / len(values)


# ---- PDU ---------------------------------------------------------------------------------------------------

def test_pdu_first_step_is_forget_plus_lambda0_times_slack(tiny_model_dir, synth_dir, tmp_path):
    lam0, eps, eta = 2.0, 0.5, 0.1
    trainer = _trainer("pdu", tiny_model_dir, synth_dir, tmp_path, initial_lambda=lam0, retain_bound=eps,
                       dual_step_size=eta)
    inputs = _first_batch(trainer)
    model = trainer.model.train()
    expected, retain = 0.0, {}
    with torch.no_grad():
        for modality, weight in (("mm", 1.0), ("um", trainer.args.alpha)):
            forget = _flat(*_nll(model, inputs, "forget", modality))
            logits, labels = _nll(model, inputs, "retain", modality)
            retain[modality] = float(answer_nll(logits, labels))
            expected += weight * (forget + lam0 * (retain[modality] - eps))
    got = float(trainer.compute_loss(model, inputs).detach())
    assert got == pytest.approx(expected, rel=1e-5)
    assert trainer._terms["lambda_mm"] == [lam0] and trainer._terms["lambda_um"] == [lam0]
    for modality in ("mm", "um"):  # one dual-ascent step
        assert trainer.lambdas[modality] == pytest.approx(max(0.0, lam0 + eta * (retain[modality] - eps)), rel=1e-5)


@pytest.mark.parametrize(("eps", "direction"), [(0.0, 1), (1e3, -1)])
def test_pdu_lambda_follows_the_constraint(eps, direction, tiny_model_dir, synth_dir, tmp_path):
    """λ rises while retain NLL > ε (the untrained tiny model's is ~ln V) and falls (to 0 at most) below it."""
    trainer = _trainer("pdu", tiny_model_dir, synth_dir, tmp_path, initial_lambda=1.0, retain_bound=eps,
                       dual_step_size=1e-3, learning_rate=1e-4)
    trainer.train()
    for modality in ("mm", "um"):
        assert (trainer.lambdas[modality] - 1.0) * direction > 0
        assert trainer.lambdas[modality] >= 0
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert {"lambda_mm", "lambda_um", "forget_flat_mm", "retain_nll_um"} <= logged


def test_pdu_lambda_is_saved_and_restored_on_resume(tiny_model_dir, synth_dir, tmp_path):
    settings = {"initial_lambda": 1.0, "retain_bound": 0.0, "dual_step_size": 1e-3, "learning_rate": 1e-4,
                "save_strategy": "steps", "save_steps": 1}
    trainer = _trainer("pdu", tiny_model_dir, synth_dir, tmp_path, max_steps=1, **settings)
    trainer.train()
    after_one = dict(trainer.lambdas)
    saved = json.loads((tmp_path / "checkpoint-1" / TRAINER_EXTRA_STATE).read_text())
    assert saved == {"pdu_lambdas": after_one} and after_one["mm"] > 1.0

    # a resume continues from the saved multipliers: step 2 uses them and adds to them, not to λ0
    resumed = _trainer("pdu", tiny_model_dir, synth_dir, tmp_path, max_steps=2, **settings)
    assert resumed.lambdas == {"mm": 1.0, "um": 1.0}
    resumed.train(resume_from_checkpoint=str(tmp_path / "checkpoint-1"))
    assert resumed.state.global_step == 2
    assert all(resumed.lambdas[m] > after_one[m] for m in ("mm", "um"))
    assert resumed.state.log_history[-2]["lambda_mm"] == pytest.approx(after_one["mm"])


def test_pdu_rejects_bad_settings(tmp_path):
    _, config_cls = get_method("pdu")
    with pytest.raises(UmuError, match="dual_step_size"):
        config_cls(output_dir=str(tmp_path), dual_step_size=-1.0)
    with pytest.raises(UmuError, match="modality_weighting"):
        config_cls(output_dir=str(tmp_path), modality_weighting="auto")
    with pytest.raises(UmuError, match="lora_l1"):
        config_cls(output_dir=str(tmp_path), lora_l1=float("nan"))


# ---- adaptive modality weighting --------------------------------------------------------------------------

def test_softmax_weights_sum_to_one_and_favour_the_lower_nll():
    w = modality_softmax_weights({"mm": 0.5, "um": 2.0})
    assert sum(w.values()) == pytest.approx(1.0) and w["mm"] > w["um"]
    w = modality_softmax_weights({"mm": 3.0, "um": 1.0})
    assert sum(w.values()) == pytest.approx(1.0) and w["um"] > w["mm"]
    assert modality_softmax_weights({"mm": 1.0, "um": 1.0}) == {"mm": 0.5, "um": 0.5}
    assert modality_softmax_weights({"um": 4.0}) == {"um": 1.0}


def test_adaptive_weighting_first_step(tiny_model_dir, synth_dir, tmp_path):
    alpha = 0.5
    trainer = _trainer("ga", tiny_model_dir, synth_dir, tmp_path, modality_weighting="adaptive", alpha=alpha)
    inputs = _first_batch(trainer)
    model = trainer.model.train()
    with torch.no_grad():
        nll = {m: float(answer_nll(*_nll(model, inputs, "forget", m))) for m in ("mm", "um")}
    p = {m: torch.exp(torch.tensor(-v, dtype=torch.float64)) for m, v in nll.items()}
    w = {m: (1 + alpha) * float(p[m] / (p["mm"] + p["um"])) for m in p}
    got = float(trainer.compute_loss(model, inputs).detach())
    assert got == pytest.approx(sum(w[m] * -nll[m] for m in nll), rel=1e-5)
    assert trainer._terms["weight_mm"][0] == pytest.approx(w["mm"], rel=1e-6)
    assert trainer._terms["weight_mm"][0] + trainer._terms["weight_um"][0] == pytest.approx(1 + alpha)
    lower = min(nll, key=nll.get)
    assert trainer._terms[f"weight_{lower}"][0] > (1 + alpha) / 2


@pytest.mark.parametrize("method", ["gd", "pdu"])
def test_options_off_leave_the_first_step_loss_unchanged(method, tiny_model_dir, synth_dir, tmp_path):
    """Defaults are ``fixed`` and 0: the loss is today's ``L_mm + alpha · L_um``, with no extra term logged."""
    trainer = _trainer(method, tiny_model_dir, synth_dir, tmp_path, alpha=0.7)
    assert (trainer.args.modality_weighting, trainer.args.lora_l1) == ("fixed", 0.0)
    inputs = _first_batch(trainer)
    model = trainer.model.train()
    got = float(trainer.compute_loss(model, inputs).detach())
    if method == "pdu":
        trainer.lambdas = {m: trainer.args.initial_lambda for m in ("mm", "um")}
    with torch.no_grad():
        expected = sum(w * float(trainer.modality_loss(model, inputs, m)["loss"])
                       for m, w in (("mm", 1.0), ("um", 0.7)))
    assert got == pytest.approx(expected, rel=1e-6)
    assert not any(k.startswith(("weight_", "lora_l1")) for k in trainer._terms)
    record = trainer.args.protocol_record()
    assert (record["modality_weighting"], record["lora_l1"]) == ("fixed", 0.0)  # the defaults, recorded


def test_adaptive_weighting_needs_the_true_forget_answers(tiny_model_dir, synth_dir, tmp_path):
    with pytest.raises(UmuError, match="needs the true forget answers"):
        _trainer("po", tiny_model_dir, synth_dir, tmp_path, modality_weighting="adaptive")


# ---- L1 on the LoRA parameters ------------------------------------------------------------------------------

def test_lora_l1_adds_exactly_the_penalty(tiny_model_dir, synth_dir, tmp_path):
    l1 = 1e-3
    base = _trainer("ga", tiny_model_dir, synth_dir, tmp_path / "a")
    penalised = _trainer("ga", tiny_model_dir, synth_dir, tmp_path / "b", lora_l1=l1)
    inputs = _first_batch(base)
    plain = float(base.compute_loss(base.model.train(), inputs).detach())
    norm = sum(float(p.detach().abs().sum()) for n, p in penalised.model.named_parameters()
               if p.requires_grad and "lora_" in n)
    assert norm > 0
    got = float(penalised.compute_loss(penalised.model.train(), inputs).detach())
    assert got == pytest.approx(plain + l1 * norm, rel=1e-5)
    assert penalised._terms["lora_l1"] == [pytest.approx(l1 * norm, rel=1e-5)]
    assert penalised.args.protocol_record()["lora_l1"] == l1
