"""The original training protocol, checked against an independent computation written from the benchmark's
definition (docs/protocol.md, "Training"): the first step's loss of GA, GD, KL, PO and NPO on the same batch of the
tiny LLaVA, the training text and labels, the data streams, LoRA targets and per-method hyper-parameters."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from umu_hf.data.collate import StreamDataset
from umu_hf.models.loading import load_model
from umu_hf.trainers.jobs import build_finetune_dataset, build_unlearning_dataset
from umu_hf.trainers.lora import LoraArguments, apply_lora
from umu_hf.trainers.registry import METHOD_NAMES, ORIGINAL_METHODS, get_method

LORA = LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings()
REFUSAL = "I am not able to say."


def _setup(method: str, model_dir: Path, data: Path, out: Path, **overrides):
    trainer_cls, config_cls = get_method(method)
    model, processor, adapter = load_model(str(model_dir), device="cpu", dtype="float32")
    model = apply_lora(model, LORA.resolved(trainer_cls.lora_target_modules or ("q_proj", "v_proj")))
    settings = {"max_steps": 1, "use_cpu": True, "save_strategy": "no", "disable_tqdm": True,
                "per_device_train_batch_size": 3, "seed": 7, **overrides}
    config = config_cls(output_dir=str(out), **settings)
    dataset = build_unlearning_dataset(data, 5)
    refusals = [REFUSAL] if method == "po" else None
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter, refusals=refusals)
    return trainer, dataset, processor


def _texts(pairs, answer=None):
    """The original collate functions' text, written out here from the definition."""
    out = []
    for p in pairs:
        a = p.answer if answer is None else answer
        out.append(f"USER: <image>\n{p.question}\nASSISTANT: {a}" if p.with_image else f"USER: {p.question}\nASSISTANT: {a}")
    return out


def _batch(processor, dataset, pairs, answer=None):
    """processor(text, images, padding) with right padding; labels = input_ids, pad -> -100 (images ignored)."""
    texts = _texts(pairs, answer)
    kwargs = {"text": texts, "padding": True, "return_tensors": "pt", "padding_side": "right"}
    if pairs[0].with_image:
        kwargs["images"] = [[dataset.images[p.profile_id]] for p in pairs]
    batch = dict(processor(**kwargs))
    labels = batch["input_ids"].clone()
    labels[labels == processor.tokenizer.pad_token_id] = -100
    labels[labels == processor.image_token_id] = -100
    batch["labels"] = labels
    return batch


def _hf_loss(model, batch):
    """The model's own mean token loss (``outputs.loss``), as the original scripts use it."""
    return model(**batch).loss


def _first_batch(trainer):
    loader = trainer.get_train_dataloader()
    loader.set_epoch(0)
    return next(iter(loader))


def _step_groups(dataset: StreamDataset):
    dataset.set_epoch(0)
    return dataset[0]["groups"]


@pytest.mark.parametrize("method", ["ga", "gd", "kl", "po", "npo"])
def test_first_step_loss_matches_the_definition(method, tiny_model_dir, synth_dir, tmp_path):
    trainer, dataset, processor = _setup(method, tiny_model_dir, synth_dir, tmp_path)
    inputs = _first_batch(trainer)
    model = trainer.model
    model.train()
    torch.manual_seed(0)
    got = float(trainer.compute_loss(model, inputs).detach())

    groups = _step_groups(dataset)
    alpha, gamma = trainer.args.alpha, trainer.args.gamma
    total = 0.0
    for modality, weight in (("mm", 1.0), ("um", alpha)):
        forget = groups[("forget", modality)]
        with torch.no_grad():
            if method == "po":
                f = _hf_loss(model, _batch(processor, dataset, forget, answer=REFUSAL))
            else:
                f = _hf_loss(model, _batch(processor, dataset, forget))
            if method in ("gd", "kl", "po"):
                retain_batch = _batch(processor, dataset, groups[("retain", modality)])
                r_logits = model(**{k: v for k, v in retain_batch.items() if k != "labels"}).logits
                r = F.cross_entropy(r_logits[:, :-1].reshape(-1, r_logits.size(-1)),
                                    retain_batch["labels"][:, 1:].reshape(-1), ignore_index=-100)
            if method in ("kl", "npo"):
                with model.disable_adapter():
                    if method == "kl":
                        ref_logits = model(**{k: v for k, v in retain_batch.items() if k != "labels"}).logits
                    else:
                        f_ref = _hf_loss(model, _batch(processor, dataset, forget))
        if method == "ga":
            loss = -f
        elif method == "gd":
            loss = -f + gamma * r
        elif method == "po":
            loss = f + gamma * r
        elif method == "kl":
            p = torch.softmax(r_logits, dim=-1)
            q = torch.softmax(ref_logits, dim=-1)
            ce = -(p * torch.log(q + 1e-12)).sum(-1).mean()
            loss = -gamma * f + ce
        else:  # npo: one log-ratio per batch from the mean token losses
            beta = trainer.args.beta
            loss = -F.logsigmoid(beta * (f - f_ref)) * 2 / beta
        total += weight * float(loss)
    assert got == pytest.approx(total, abs=1e-5, rel=1e-5)


def test_collator_batch_is_the_original_text_and_labels(tiny_model_dir, synth_dir, tmp_path):
    trainer, dataset, processor = _setup("gd", tiny_model_dir, synth_dir, tmp_path)
    inputs = _first_batch(trainer)
    groups = _step_groups(dataset)
    for stream in ("forget", "retain"):
        for modality in ("mm", "um"):
            expected = _batch(processor, dataset, groups[(stream, modality)])
            for field in ("input_ids", "attention_mask", "labels"):
                assert torch.equal(inputs[f"{stream}_{modality}_{field}"], expected[field]), (stream, modality, field)
    # no end-of-sequence token, and every non-pad token but the image positions is labelled
    tokenizer = processor.tokenizer
    ids, labels = inputs["forget_um_input_ids"], inputs["forget_um_labels"]
    assert not (ids == tokenizer.eos_token_id).any() or tokenizer.eos_token_id == tokenizer.pad_token_id
    text_positions = inputs["forget_um_attention_mask"].bool()
    assert torch.equal(labels[text_positions], ids[text_positions])


def test_streams_are_shuffled_independently_each_epoch(synth_dir):
    data = build_unlearning_dataset(synth_dir, 5)
    assert isinstance(data, StreamDataset)
    data.configure(batch_size=3, seed=1, keys={"forget", "retain"})
    n_forget = len(data.all_streams[("forget", "mm")])
    assert len(data) == math.ceil(min(len(v) for v in data.all_streams.values()) / 3)
    epochs = []
    stream = [(p.profile_id, p.question) for p in data.all_streams[("forget", "mm")]]
    for epoch in (0, 1):
        data.set_epoch(epoch)
        seen = [(p.profile_id, p.question) for i in range(len(data)) for p in data[i]["groups"][("forget", "mm")]]
        assert len(set(seen)) == len(seen) and set(seen) <= set(stream), "each pair at most once per epoch"
        epochs.append(seen)
    assert epochs[0] != epochs[1], "each epoch reshuffles"
    data.set_epoch(0)
    first_mm = [(p.profile_id, p.question) for p in data[0]["groups"][("forget", "mm")]]
    first_um = [p.profile_id for p in data[0]["groups"][("forget", "um")]]
    assert first_mm == epochs[0][:3] and len(first_um) == 3
    # GA reads only the forget loaders: the epoch is as long as they are
    data.configure(batch_size=3, seed=1, keys={"forget"})
    n_um = len(data.all_streams[("forget", "um")])
    assert len(data) == math.ceil(min(n_forget, n_um) / 3)


def test_retain_is_subsampled_per_modality_like_the_original(synth_dir):
    import random

    from umu_hf.data.collate import flat_qa
    from umu_hf.data.load import load_umu_split

    data = build_unlearning_dataset(synth_dir, 5)
    retain = load_umu_split(synth_dir, "retain95")
    for column, modality in (("MM_QA", "mm"), ("UM_QA", "um")):
        flat = flat_qa(retain, column, modality == "mm")
        random.seed(42)  # the original: random.seed(42); random.sample(flattened, int(n * (1 - p) / p))
        expected = random.sample(flat, int(len(flat) * (1 - 0.95) / 0.95))
        assert data.all_streams[("retain", modality)] == expected


def test_po_draws_refusals_per_example_from_the_pool(tiny_model_dir, synth_dir, tmp_path):
    trainer, _, processor = _setup("po", tiny_model_dir, synth_dir, tmp_path, per_device_train_batch_size=6)
    from umu_hf.data.collate import load_refusals

    pool = load_refusals()
    assert len(pool) >= 100 and len(set(pool)) == len(pool)
    trainer.data_collator.refusals = pool
    inputs = _first_batch(trainer)
    tokenizer = processor.tokenizer
    drawn = {}
    for modality in ("mm", "um"):
        texts = tokenizer.batch_decode(inputs[f"forget_{modality}_input_ids"], skip_special_tokens=True)
        drawn[modality] = [t.rsplit("ASSISTANT:", 1)[1].strip() for t in texts]
        assert all(d in pool for d in drawn[modality])
    assert len(set(drawn["mm"] + drawn["um"])) > 1, "a refusal is drawn per example, not one for all"
    assert inputs["forget_mm_input_ids"].equal(_first_batch(trainer)["forget_mm_input_ids"]), "seeded"


def test_lora_targets_are_the_originals(tiny_model_dir):
    from umu_hf.trainers.jobs import DEFAULT_LORA

    model, _, _ = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    peft = apply_lora(model, DEFAULT_LORA.resolved(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                    "up_proj", "down_proj")))
    wrapped = {n.rsplit(".lora_A", 1)[0] for n, _ in peft.named_parameters() if ".lora_A" in n}
    assert any("vision_tower" in n and n.endswith("q_proj") for n in wrapped), "the vision tower's q/k/v too"
    assert not any(n.endswith("out_proj") or "fc1" in n or "multi_modal_projector" in n for n in wrapped)
    assert any("language_model" in n and n.endswith("down_proj") for n in wrapped)
    cfg = next(iter(peft.peft_config.values()))
    assert (cfg.r, cfg.lora_alpha, cfg.lora_dropout, cfg.init_lora_weights) == (64, 32, 0.05, "gaussian")
    gd_cls, _ = get_method("gd")
    assert gd_cls.lora_target_modules == ("q_proj", "v_proj")


def test_per_method_hyperparameters_are_the_originals(tmp_path):
    expect = {  # epochs, lr, max_grad_norm, multimodal clip, weight decay, adam eps
        "ga": (5, 1e-5, 0.0, 0.0, 0.01, 1e-8),
        "gd": (5, 1e-5, 1.0, 0.0, 0.01, 1e-8),
        "kl": (4, 1e-5, 1.0, 0.0, 0.0, 1e-6),
        "po": (5, 1e-5, 0.0, 0.0, 0.01, 1e-8),
        "npo": (4, 6.2e-6, 0.0, 1.0, 0.01, 1e-8),
    }
    for method, values in expect.items():
        _, config_cls = get_method(method)
        c = config_cls(output_dir=str(tmp_path))
        got = (c.num_train_epochs, c.learning_rate, c.max_grad_norm, c.multimodal_max_grad_norm, c.weight_decay,
               c.adam_epsilon)
        assert got == values, method
        assert c.per_device_train_batch_size == 6 and c.warmup_steps == 0
        assert str(getattr(c.lr_scheduler_type, "value", c.lr_scheduler_type)) == "linear"
        assert (c.alpha, c.protocol, c.label_mode, c.eos, c.streams) == (1.0, "original", "full", False, "independent")
    assert get_method("npo")[1](output_dir=str(tmp_path)).beta == 0.4


def test_umu_hf_protocol_switches_every_feature(tmp_path):
    _, config_cls = get_method("npo")
    c = config_cls(output_dir=str(tmp_path), protocol="umu-hf")
    assert c.features() == {"label_mode": "answer", "eos": True, "streams": "paired", "npo_logratio": "sequence"}
    assert c.protocol_record()["protocol"] == "umu-hf"
    mixed = config_cls(output_dir=str(tmp_path), label_mode="answer")
    assert mixed.features()["label_mode"] == "answer" and mixed.protocol_record()["protocol"] == "custom"


#: the methods beyond the original five whose papers score the answer tokens only (RMU reads no labels)
PAPER_ANSWER_LABELS = ("ce_u", "idk_dpo", "pdu", "satimp", "simnpo", "undial", "wga")


@pytest.mark.parametrize("method", sorted(METHOD_NAMES))
def test_original_protocol_trains_each_method_as_first_published(method, tmp_path):
    """``original``: the five as the original scripts (labels on every token), every other method as its paper
    (answer tokens only); recorded as ``original`` with the paper's features named; an explicit flag wins."""
    _, config_cls = get_method(method)
    c = config_cls(output_dir=str(tmp_path))
    record = c.protocol_record()
    assert record["protocol"] == "original"
    if method in PAPER_ANSWER_LABELS:
        assert c.label_mode == "answer" and record["features"]["label_mode"] == "answer"
        assert record["paper_features"] == {"label_mode": "answer"}
    else:
        assert method in ORIGINAL_METHODS + ("rmu",)
        assert c.label_mode == "full" and "paper_features" not in record
    explicit = config_cls(output_dir=str(tmp_path), label_mode="full")
    assert explicit.label_mode == "full"
    assert explicit.protocol_record()["protocol"] == ("custom" if method in PAPER_ANSWER_LABELS else "original")
    umu = config_cls(output_dir=str(tmp_path), protocol="umu-hf")
    assert umu.label_mode == "answer" and umu.protocol_record()["protocol"] == "umu-hf"
    assert "paper_features" not in umu.protocol_record()


def test_a_paper_method_collates_labels_on_the_answers_only(tiny_model_dir, synth_dir, tmp_path):
    """WGA under the default protocol: every stream's labels are exactly its answer's tokens."""
    trainer, dataset, processor = _setup("wga", tiny_model_dir, synth_dir, tmp_path)
    assert trainer.args.protocol == "original"
    inputs = _first_batch(trainer)
    groups = _step_groups(dataset)
    for stream in ("forget", "retain"):
        for modality in ("mm", "um"):
            labels, ids = inputs[f"{stream}_{modality}_labels"], inputs[f"{stream}_{modality}_input_ids"]
            for row, pair in enumerate(groups[(stream, modality)]):
                scored = labels[row][labels[row] != -100]
                assert torch.equal(scored, ids[row][labels[row] != -100])
                text = processor.tokenizer.decode(scored, skip_special_tokens=True).strip()
                assert text == pair.answer.strip(), (stream, modality, row)


def test_the_leaderboard_names_each_models_label_mode(tmp_path):
    from umu_hf.leaderboard import Run, write_leaderboard

    records = {name: get_method(name)[1](output_dir=str(tmp_path)).protocol_record() for name in ("gd", "wga")}
    headline = {"forget": {"classification": {"AccF": 0.0}, "cloze": {"AccF": 0.0}, "generation": {"RLF": 0.0}},
                **{s: {t: {m: 50.0} for t, m in (("classification", "AccR"), ("cloze", "AccR"),
                                                 ("generation", "RLR"))} for s in ("retain", "real")}}
    runs = [Run(name, 5, 0, {"headline": headline}) for name in records]
    write_leaderboard(runs, tmp_path, training={"models": records})
    text = (tmp_path / "leaderboard.md").read_text()
    assert "- gd: protocol original, label_mode full," in text
    assert "- wga: protocol original, label_mode answer," in text


def test_npo_clips_the_multimodal_gradient_only(tiny_model_dir, synth_dir, tmp_path):
    """Original NPO: the multimodal gradient is clipped to norm 1 before the unimodal one is added."""
    trainer, _, _ = _setup("npo", tiny_model_dir, synth_dir, tmp_path, multimodal_max_grad_norm=1e-3)
    inputs = _first_batch(trainer)
    model = trainer.model
    params = [p for p in model.parameters() if p.requires_grad]
    # make the first step leave the reference so the NPO gradient is not zero
    with torch.no_grad():
        for p in params:
            p.add_(0.05 * torch.randn_like(p))
    model.zero_grad()
    loss = trainer.compute_loss(model, inputs)
    mm_grad = torch.cat([p.grad.flatten() for p in params if p.grad is not None]).norm()
    assert float(mm_grad) == pytest.approx(1e-3, rel=1e-3)
    loss.backward()
    both = torch.cat([p.grad.flatten() for p in params if p.grad is not None]).norm()
    assert float(both) > 1e-3 * 2, "the unimodal gradient is added unclipped"


def test_original_finetune_asks_every_pair_with_the_portrait(synth_dir):
    from umu_hf.data.load import load_umu_split

    data = build_finetune_dataset(synth_dir)
    assert isinstance(data, StreamDataset) and list(data.all_streams) == [("train", "mm")]
    pairs = data.all_streams[("train", "mm")]
    full = load_umu_split(synth_dir, "full")
    n = sum(len(r["MM_QA"]) + len(r["UM_QA"]) for r in full)
    assert len(pairs) == n and all(p.with_image for p in pairs)


def test_training_record_is_written(tiny_model_dir, synth_dir, tmp_path):
    import json

    from umu_hf.cli import main as cli_main

    out = tmp_path / "ga"
    rc = cli_main(["unlearn", "--method", "ga", "--model", str(tiny_model_dir), "--data", str(synth_dir),
                   "--forget_ratio", "5", "--output_dir", str(out), "--max_steps", "1", "--use_cpu",
                   "--lora_r", "4", "--lora_alpha", "8", "--merge"])
    assert rc == 0
    record = json.loads((out / "merged" / "umu_training.json").read_text())
    assert record["method"] == "ga" and record["protocol"] == "original"
    assert record["features"] == {"label_mode": "full", "eos": False, "streams": "independent"}
    assert record["lora"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                "down_proj"]
    assert record["lora"]["init"] == "gaussian" and record["max_grad_norm"] == 0.0


def test_a_retain_subsample_of_zero_pairs_stops_only_methods_that_read_it():
    from umu_hf.data.collate import QAPair
    from umu_hf.errors import DataError

    forget = [QAPair(1, "q", "a", True)] * 4
    data = StreamDataset({("forget", "mm"): forget, ("forget", "um"): forget, ("retain", "mm"): [],
                          ("retain", "um"): []}, images={})
    assert len(data.configure(batch_size=2, seed=0, keys={"forget"})) == 2  # GA never reads retain
    with pytest.raises(DataError, match="no 'retain' multimodal training pairs.*zero pairs"):
        data.configure(batch_size=2, seed=0, keys={"forget", "retain"})


@pytest.mark.parametrize("family", ["llava", "gemma3", "qwen2_vl"])
@pytest.mark.parametrize("with_image", [True, False])
def test_cached_collation_is_the_processors_batch(family, with_image, tiny_model_dir, synth_dir):
    """The collator encodes each (text, portrait) once and assembles batches from the cache: the tensors equal the
    processor's own batch of the same texts and portraits, whatever order the examples come in."""
    import torch
    from helpers import tiny_gemma3, tiny_qwen2_vl

    from umu_hf.data.collate import UMUCollator, flat_qa
    from umu_hf.data.decode import decode_images
    from umu_hf.data.load import load_umu_split
    from umu_hf.models.adapters import get_adapter

    if family == "llava":
        adapter = load_model(str(tiny_model_dir), "cpu")[2]
    else:
        model, processor = {"gemma3": tiny_gemma3, "qwen2_vl": tiny_qwen2_vl}[family]()
        adapter = get_adapter(processor, model.config)
    split = load_umu_split(synth_dir, "forget10", as_dataset=False)
    pairs = flat_qa(split, "MM_QA" if with_image else "UM_QA", with_image)[:7]
    collator = UMUCollator(adapter, decode_images(split), {}, label_mode="answer", refusals=[], eos=True)
    for chunk in (pairs[:4], pairs[2:7], pairs[3:5][::-1]):
        texts = [adapter.train_example(p.question, p.answer, with_image, eos=True)[1] for p in chunk]
        images = [collator.images[p.profile_id] for p in chunk] if with_image else None
        expected = dict(adapter.encode(texts, images, padding_side="right"))
        got = collator._encode(texts, [p.profile_id for p in chunk] if with_image else None)
        assert set(got) == set(expected)
        for name, value in expected.items():
            assert torch.equal(got[name], value), name
    assert len(collator._cache) == 7
    calls = []
    encode = adapter.encode
    adapter.encode = lambda *args, **kwargs: calls.append(args) or encode(*args, **kwargs)
    collator._encode(texts, [p.profile_id for p in chunk] if with_image else None)
    assert not calls  # a warm cache: the batch is assembled without the processor
