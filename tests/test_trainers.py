"""Trainer tests on the tiny LLaVA: a few real optimisation steps per method (docs/protocol.md, Training)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import BlowUpAtStep, free_port

from umu_hf.cli import main as cli_main
from umu_hf.data.collate import IGNORE_INDEX, load_refusals
from umu_hf.errors import UmuError
from umu_hf.models.loading import load_model
from umu_hf.trainers.jobs import build_unlearning_dataset
from umu_hf.trainers.lora import LoraArguments, apply_lora
from umu_hf.trainers.losses import answer_nll
from umu_hf.trainers.registry import METHOD_NAMES, get_method

ROOT = Path(__file__).resolve().parents[1]
SMALL_LORA = LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings()


def _config(method: str, out: Path, **overrides):
    _, config_cls = get_method(method)
    settings = {"max_steps": 2, "per_device_train_batch_size": 2, "learning_rate": 1e-2, "use_cpu": True}
    settings.update({"save_strategy": "no", "disable_tqdm": True, **overrides})
    return config_cls(output_dir=str(out), **settings)


def _trainer(method: str, model_dir: Path, data: Path, out: Path, **overrides):
    trainer_cls, _ = get_method(method)
    model, _, adapter = load_model(str(model_dir), device="cpu", dtype="float32")
    model = apply_lora(model, SMALL_LORA)
    config = _config(method, out, **overrides)
    dataset = build_unlearning_dataset(data, 5, streams=config.streams)
    return trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter), dataset


def _snapshot(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("method", sorted(METHOD_NAMES))
def test_lora_params_change_and_base_is_frozen(method, tiny_model_dir, synth_dir, tmp_path):
    trainer, _ = _trainer(method, tiny_model_dir, synth_dir, tmp_path)
    before = _snapshot(trainer.model)
    trainer.train()
    after = dict(trainer.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    frozen = [n for n in before if "lora_" not in n]
    assert lora and frozen
    assert any(not torch.equal(before[n], after[n]) for n in lora), "no LoRA parameter changed"
    for n in frozen:
        assert torch.equal(before[n], after[n]), f"frozen base weight {n} changed"
    # every loss term is logged per modality
    logged = {k for entry in trainer.state.log_history for k in entry}
    assert {"loss_mm", "loss_um"} <= logged


def test_training_on_cpu_says_nothing_about_pinning_or_peft_internals(tiny_model_dir, synth_dir, tmp_path):
    """torch's DataLoader warns once per epoch that it has no accelerator to pin memory for, and peft warns about
    transformers' deprecated alias it reads: neither is the user's business (a default bench printed them 174
    times). Pinning stays on where there is an accelerator."""
    import warnings

    from umu_hf.utils import accelerator_available

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer, _ = _trainer("ga", tiny_model_dir, synth_dir, tmp_path, num_train_epochs=2, max_steps=-1,
                              per_device_train_batch_size=16)
        trainer.train()
    assert trainer.state.epoch == 2
    assert trainer.args.dataloader_pin_memory is accelerator_available()
    said = [str(w.message) for w in caught]
    assert not [m for m in said if "pin_memory" in m or "is_gradient_checkpointing" in m], said


def _forget_nll(trainer, dataset) -> float:
    batch = trainer.data_collator([dataset[0]])
    model = trainer.model.eval()
    with torch.no_grad():
        total = 0.0
        for modality in ("mm", "um"):
            sub, labels = trainer.stream_inputs(batch, "forget", modality)
            total += float(answer_nll(model(**sub).logits, labels))
    model.train()
    return total


def test_ga_raises_forget_nll(tiny_model_dir, synth_dir, tmp_path):
    trainer, dataset = _trainer("ga", tiny_model_dir, synth_dir, tmp_path, max_steps=3, learning_rate=5e-3)
    before = _forget_nll(trainer, dataset)
    trainer.train()
    assert _forget_nll(trainer, dataset) > before + 0.05


def test_npo_first_step_is_two_over_beta_ln2(tiny_model_dir, synth_dir, tmp_path):
    beta = 0.4
    trainer, dataset = _trainer("npo", tiny_model_dir, synth_dir, tmp_path, beta=beta)
    batch = trainer.data_collator([dataset[0]])
    loss = trainer.compute_loss(trainer.model, batch)
    expected = (2 / beta) * math.log(2)
    assert trainer._terms["forget_npo_mm"][0] == pytest.approx(expected, rel=1e-5)
    assert trainer._terms["forget_npo_um"][0] == pytest.approx(expected, rel=1e-5)
    assert float(loss.detach()) == pytest.approx(expected * (1 + trainer.args.alpha), rel=1e-5)


@pytest.mark.parametrize("protocol", ["original", "umu-hf"])
def test_npo_sequence_logratio_first_step_is_two_over_beta_ln2(protocol, tiny_model_dir, synth_dir, tmp_path):
    trainer, dataset = _trainer("npo", tiny_model_dir, synth_dir, tmp_path, protocol=protocol,
                                npo_logratio="sequence")
    examples = [dataset[0]] if protocol == "original" else [dataset[0], dataset[1]]
    trainer.compute_loss(trainer.model, trainer.data_collator(examples))
    assert trainer._terms["forget_npo_mm"][0] == pytest.approx((2 / 0.4) * math.log(2), rel=1e-5)


def test_idk_dpo_has_tofus_two_over_beta_scale(tiny_model_dir, synth_dir, tmp_path):
    """IDK-DPO's forget term is TOFU's / open-unlearning's −(2/β)·log σ(β·margin): (2/β) ln 2 at θ = ref."""
    from umu_hf.trainers.losses import dpo_loss

    zero = torch.zeros(3)
    assert float(dpo_loss(zero, zero, zero, zero, beta=0.1)) == pytest.approx(20 * math.log(2), rel=1e-6)
    chosen = torch.tensor([1.0, 2.0])  # margins 1 and 2 against a zero reference
    expected = -(2 / 0.5) * (math.log(1 / (1 + math.exp(-0.5))) + math.log(1 / (1 + math.exp(-1.0)))) / 2
    got = float(dpo_loss(chosen, torch.zeros(2), torch.zeros(2), torch.zeros(2), beta=0.5))
    assert got == pytest.approx(expected, rel=1e-6)
    trainer, dataset = _trainer("idk_dpo", tiny_model_dir, synth_dir, tmp_path)
    assert trainer.args.beta == 0.1
    trainer.compute_loss(trainer.model, trainer.data_collator([dataset[0]]))
    for modality in ("mm", "um"):  # the LoRA adapter starts at zero: θ = ref
        assert trainer._terms[f"forget_dpo_{modality}"][0] == pytest.approx(20 * math.log(2), rel=1e-5)


def test_kl_term_is_zero_at_first_step(tiny_model_dir, synth_dir, tmp_path):
    """umu-hf's true KL is 0 at the reference (the original's cross-entropy is tested in test_protocol)."""
    trainer, dataset = _trainer("kl", tiny_model_dir, synth_dir, tmp_path, protocol="umu-hf")
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    trainer.compute_loss(trainer.model, batch)
    assert trainer._terms["retain_kl_mm"][0] == pytest.approx(0.0, abs=1e-6)
    assert trainer._terms["retain_kl_um"][0] == pytest.approx(0.0, abs=1e-6)


def test_po_targets_are_refusals(tiny_model_dir, synth_dir, tmp_path):
    trainer, dataset = _trainer("po", tiny_model_dir, synth_dir, tmp_path, protocol="umu-hf")
    batch = trainer.data_collator([dataset[i] for i in range(3)])
    tokenizer = trainer.adapter.tokenizer
    refusals = set(load_refusals())
    for modality in ("mm", "um"):
        labels = batch[f"forget_{modality}_labels"]
        for row in labels:
            text = tokenizer.decode(row[row != IGNORE_INDEX], skip_special_tokens=True).strip()
            assert text in refusals
    # the retain stream keeps the true answers
    retain = batch["retain_um_labels"][0]
    answer = dataset[0]["retain"][1].answer
    assert tokenizer.decode(retain[retain != IGNORE_INDEX], skip_special_tokens=True).strip() == answer


def test_answer_only_labels_cover_exactly_the_answer(tiny_model_dir, synth_dir, tmp_path):
    trainer, dataset = _trainer("ga", tiny_model_dir, synth_dir, tmp_path, protocol="umu-hf")
    batch = trainer.data_collator([dataset[i] for i in range(2)])
    tokenizer = trainer.adapter.tokenizer
    for modality, side in (("mm", 0), ("um", 1)):
        labels = batch[f"forget_{modality}_labels"][0]
        text = tokenizer.decode(labels[labels != IGNORE_INDEX], skip_special_tokens=True).strip()
        assert text == dataset[0]["forget"][side].answer


def test_divergence_guard_stops_and_keeps_last_good(tiny_model_dir, synth_dir, tmp_path):
    from umu_hf.trainers.guard import TrainingDivergedError

    trainer, _ = _trainer("ga", tiny_model_dir, synth_dir, tmp_path, max_steps=4, save_strategy="steps",
                          save_steps=1, save_total_limit=None, learning_rate=1e-3)
    trainer.add_callback(BlowUpAtStep(3))
    with pytest.raises(TrainingDivergedError, match="step 3 left non-finite weights.*checkpoint-2"):
        trainer.train()
    checkpoints = sorted(p.name for p in tmp_path.glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-1", "checkpoint-2"]  # the diverged state was never saved
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "checkpoint-2" / "adapter_model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_bad_inputs_give_one_clear_error(tiny_model_dir, synth_dir, tmp_path, capsys):
    with pytest.raises(UmuError, match="known methods: ga, gd"):
        get_method("gradient-magic")
    with pytest.raises(UmuError, match="beta must be > 0"):
        _config("npo", tmp_path, beta=0)
    rc = cli_main(["unlearn", "--method", "nope", "--model", str(tiny_model_dir), "--data", str(synth_dir),
                   "--forget_ratio", "5", "--output_dir", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "known methods" in err[0]
    rc = cli_main(["unlearn", "--method", "ga", "--model", str(tiny_model_dir), "--data", str(synth_dir),
                   "--forget_ratio", "7", "--output_dir", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "forget ratio" in err[0]


def test_lora_targets_must_exist():
    from transformers import CLIPVisionConfig, CLIPVisionModel

    vision = CLIPVisionModel(CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                              num_attention_heads=2, image_size=16, patch_size=8))
    with pytest.raises(UmuError, match="language_model"):
        apply_lora(vision, LoraArguments(lora_r=4, lora_alpha=8, lora_target_modules="lm").settings())
    with pytest.raises(UmuError, match="no linear layer named gate_x"):
        apply_lora(vision, LoraArguments(lora_r=4, lora_alpha=8, lora_target_modules="gate_x").settings())


def test_cli_unlearn_merge_reloads_and_generates(tiny_model_dir, synth_dir, tmp_path):
    out = tmp_path / "gd"
    rc = cli_main(["unlearn", "--method", "gd", "--model", str(tiny_model_dir), "--data", str(synth_dir),
                   "--forget_ratio", "5", "--output_dir", str(out), "--max_steps", "2", "--per_device_train_batch_size",
                   "2", "--use_cpu", "--lora_r", "4", "--lora_alpha", "8", "--merge"])
    assert rc == 0
    assert (out / "adapter_config.json").is_file()
    model, _, adapter = load_model(str(out / "merged"), device="cpu", dtype="float32")
    assert not hasattr(model, "peft_config")
    from umu_hf.evaluation.runner import EvalRequest, evaluate_model

    request = EvalRequest(str(out / "merged"), str(synth_dir), 5, tmp_path / "eval", limit=1, device="cpu",
                          max_new_tokens={"classification": 4, "cloze": 4, "generation": 4})
    results = evaluate_model(request, progress=False)
    assert results["sets"]["forget"]["cloze"]["n"] == 1
    assert set(results["headline"]) == {"forget", "retain", "real"}


@pytest.mark.slow
def test_two_process_npo_uses_adapter_off_reference(tiny_model_dir, synth_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "trainers" / "unlearn.py"), "--method", "npo", "--model", str(tiny_model_dir),
           "--data", str(synth_dir), "--forget_ratio", "5", "--output_dir", str(tmp_path / "npo"),
           "--max_steps", "2", "--per_device_train_batch_size", "2", "--lora_r", "4", "--lora_alpha", "8",
           "--use_cpu", "True", "--ddp_backend", "gloo", "--save_strategy", "no", "--learning_rate", "1e-2"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "npo" / "adapter_config.json").is_file()
    assert "unlearned model (npo)" in proc.stdout


@pytest.mark.parametrize("method", ["finetune", *METHOD_NAMES])
def test_scripts_default_to_the_original_protocol(method, tmp_path):
    """``trainers/finetune.py`` and ``trainers/unlearn.py --method M`` with no other setting parse into the
    method's Config with the original protocol's settings (what a recipe would only repeat)."""
    import importlib.util

    name = "finetune" if method == "finetune" else "unlearn"
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "trainers" / f"{name}.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    argv = ["--model", "m", "--data", "d", "--output_dir", str(tmp_path)] + ([] if name == "finetune" else
                                                                             ["--method", method])  # fmt: skip
    args, lora, config = script.make_parser(argv).parse(argv)
    if name == "finetune":  # the original finetune.py: LoRA r 8 / alpha 16 on every linear layer, batch 4, merged
        assert (config.per_device_train_batch_size, lora.lora_r, lora.lora_alpha, lora.merge) == (4, 8, 16, True)
        assert lora.lora and config.protocol == "original" and args.config_name == "full"
        return
    _, config_cls = get_method(args.method)
    assert type(config) is config_cls and args.method == method
    assert config.per_device_train_batch_size == 6 and (lora.lora, lora.lora_r, lora.lora_alpha) == (True, 64, 32)
    if method == "npo":
        assert config.beta == 0.4 and config.learning_rate == 6.2e-6
