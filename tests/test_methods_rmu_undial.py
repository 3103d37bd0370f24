"""RMU and UNDIAL: the first step's loss on the tiny LLaVA against a computation written from the papers' definitions
(hidden states via ``output_hidden_states``, not the trainer's hook; the target distribution built by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from umu_hf.models.loading import load_model
from umu_hf.trainers.jobs import build_unlearning_dataset
from umu_hf.trainers.lora import LoraArguments, apply_lora
from umu_hf.trainers.methods.rmu import default_layer_id
from umu_hf.trainers.registry import get_method

SMALL_LORA = LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings()


def _trainer(method: str, model_dir: Path, data: Path, out: Path, **overrides):
    trainer_cls, config_cls = get_method(method)
    model, _, adapter = load_model(str(model_dir), device="cpu", dtype="float32")
    model = apply_lora(model, SMALL_LORA)
    settings = {"max_steps": 1, "per_device_train_batch_size": 2, "use_cpu": True, "save_strategy": "no",
                "disable_tqdm": True, **overrides}
    config = config_cls(output_dir=str(out), **settings)
    dataset = build_unlearning_dataset(data, 5, streams=config.streams)
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter)
    return trainer, trainer.data_collator([dataset[0]])


def test_default_layer_is_the_papers_relative_depth():
    assert default_layer_id(32) == 7 and default_layer_id(2) == 0 and default_layer_id(60) == 13


def test_rmu_first_step_is_the_distance_to_the_steering_target(tiny_model_dir, synth_dir, tmp_path):
    coeff, seed = 6.5, 3
    trainer, batch = _trainer("rmu", tiny_model_dir, synth_dir, tmp_path, steering_coeff=coeff, steering_seed=seed)
    model = trainer.model.eval()  # no dropout: the same forward as the check below
    loss = trainer.compute_loss(model, batch)
    layer = default_layer_id(model.config.text_config.num_hidden_layers)

    generator = torch.Generator().manual_seed(seed)
    u = torch.rand(model.config.text_config.hidden_size, generator=generator)
    target = coeff * u / torch.linalg.vector_norm(u)
    total = 0.0
    for modality, weight in (("mm", 1.0), ("um", trainer.args.alpha)):
        sub, _ = trainer.stream_inputs(batch, "forget", modality)
        with torch.no_grad():
            hidden = model(**sub, output_hidden_states=True).hidden_states[layer + 1]  # [0] is the embeddings
        keep = sub["attention_mask"].bool()
        forget = ((hidden - target) ** 2).sum(-1)[keep].sum() / (keep.sum() * hidden.size(-1))
        assert trainer._terms[f"forget_rmu_{modality}"][0] == pytest.approx(float(forget), rel=1e-5)
        # LoRA's B starts at zero (gaussian init draws only A): the adapter-off reference equals the model
        assert trainer._terms[f"retain_mse_{modality}"][0] == pytest.approx(0.0, abs=1e-10)
        total += weight * float(forget)
    assert float(loss.detach()) == pytest.approx(total, rel=1e-5)


def test_rmu_without_retain_reads_only_the_forget_stream(tiny_model_dir, synth_dir, tmp_path):
    trainer, batch = _trainer("rmu", tiny_model_dir, synth_dir, tmp_path, gamma=0.0)
    assert not any(k.startswith("retain_") for k in batch)
    trainer.compute_loss(trainer.model, batch)
    assert not any(k.startswith("retain_") for k in trainer._terms)


def test_undial_first_step_is_the_cross_entropy_to_the_adjusted_reference(tiny_model_dir, synth_dir, tmp_path):
    beta = 3.0
    trainer, batch = _trainer("undial", tiny_model_dir, synth_dir, tmp_path, beta=beta)
    model = trainer.model.eval()
    loss = trainer.compute_loss(model, batch)
    total = 0.0
    for modality, weight in (("mm", 1.0), ("um", trainer.args.alpha)):
        sub, labels = trainer.stream_inputs(batch, "forget", modality)
        with torch.no_grad(), model.disable_adapter():
            ref_logits = model(**sub).logits.float()
        terms = []
        for b in range(labels.size(0)):
            for t in range(labels.size(1) - 1):
                y = int(labels[b, t + 1])
                if y == -100:
                    continue
                z = ref_logits[b, t].clone()
                p_ref = torch.softmax(z, -1)
                z[y] -= beta
                q = torch.softmax(z, -1)
                assert float(q.sum()) == pytest.approx(1.0, abs=1e-5)
                assert q[y] < p_ref[y]
                terms.append(float(-(q * torch.log(p_ref)).sum()))  # θ = ref at the first step
        assert terms
        expected = sum(terms) / len(terms)
        assert trainer._terms[f"forget_undial_{modality}"][0] == pytest.approx(expected, rel=1e-5)
        total += weight * expected
    assert float(loss.detach()) == pytest.approx(total, rel=1e-5)
    assert not any(k.startswith("retain_") for k in batch)  # gamma 0: the paper has no retain term
