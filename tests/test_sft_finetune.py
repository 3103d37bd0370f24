"""The fine-tuning stage on TRL's SFTTrainer: TRL's image prompt-completion rows, the original protocol's text,
labels and data order kept, the first step's batch and loss those of the Trainer it replaced."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("trl")


def _trainer(tiny_model_dir, synth_dir, tmp_path, **fields):
    from umu_hf.models.loading import load_model
    from umu_hf.trainers.finetune import FinetuneConfig, FinetuneTrainer
    from umu_hf.trainers.jobs import build_finetune_dataset

    config = FinetuneConfig(output_dir=str(tmp_path / "ft"), use_cpu=True, report_to="none", disable_tqdm=True,
                            save_strategy="no", seed=3, **fields)
    model, _processor, adapter = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    data = build_finetune_dataset(synth_dir, streams=config.streams)
    return FinetuneTrainer(model=model, args=config, train_dataset=data, adapter=adapter), data, adapter


def test_finetune_is_trls_sft_trainer_with_the_originals_defaults():
    from trl import SFTConfig, SFTTrainer

    from umu_hf.trainers.finetune import FinetuneConfig, FinetuneTrainer

    config = FinetuneConfig(output_dir="unused", use_cpu=True)
    assert issubclass(FinetuneTrainer, SFTTrainer) and isinstance(config, SFTConfig)
    # the original finetune.py's, not TRL's: no bf16 autocast, no gradient checkpointing, lr 2e-5, batch 4
    assert (config.bf16, config.gradient_checkpointing, config.learning_rate, config.per_device_train_batch_size) == (
        False, False, 2e-5, 4)
    assert config.label_mode == "full" and config.completion_only_loss is False  # full labels = TRL's whole-text loss
    assert FinetuneConfig(output_dir="unused", use_cpu=True, label_mode="answer").completion_only_loss is True


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"packing": True}, "--packing True"), ({"max_length": 64}, "never truncated"),
     ({"completion_only_loss": True}, "contradicts --label_mode full"), ({"loss_type": "dft"}, "--loss_type dft")],
)
def test_finetune_config_refuses_sft_options_it_does_not_do(fields, message):
    from umu_hf.errors import UmuError
    from umu_hf.trainers.finetune import FinetuneConfig

    with pytest.raises(UmuError, match=message):
        FinetuneConfig(output_dir="unused", use_cpu=True, **fields)


def test_rows_are_trls_image_prompt_completion_format(synth_dir):
    """One row per pair, TRL's conversational prompt-completion with the portrait in ``images`` (decoded once,
    the same object in every row of the profile) -- and back to the same pairs."""
    from umu_hf.data.sft import row_pairs, to_sft_dataset
    from umu_hf.trainers.jobs import build_finetune_dataset

    stream = build_finetune_dataset(synth_dir)  # the original's one stream, every pair with the portrait
    rows, order = to_sft_dataset(stream)
    pairs = stream.all_streams[("train", "mm")]
    assert order == "train/mm" and len(rows) == len(pairs)
    first = rows[0]
    assert first["prompt"] == [{"role": "user", "content": [{"type": "image"},
                                                            {"type": "text", "text": pairs[0].question}]}]
    assert first["completion"] == [{"role": "assistant", "content": [{"type": "text", "text": pairs[0].answer}]}]
    assert first["images"][0] is stream.images[pairs[0].profile_id]
    assert [row_pairs(rows[i])[0] for i in range(len(rows))] == pairs

    paired = build_finetune_dataset(synth_dir, streams="paired")
    rows, order = to_sft_dataset(paired)
    assert order is None and len(rows) == len(paired.pairs)
    assert row_pairs(rows[5]) == list(paired.pairs[5])
    assert rows[5]["unimodal_prompt"][0]["content"] == [{"type": "text", "text": paired.pairs[5][1].question}]


def test_first_batch_and_loss_are_the_originals(tiny_model_dir, synth_dir, tmp_path):
    """The SFTTrainer's first batch is the original stream's first step (same pairs in the same order, same
    tensors), its text is the original's ``USER: <image>\\n{q}\\nASSISTANT: {a}`` without EOS with every
    non-pad, non-image token labelled, and its loss is the plain cross-entropy of that batch."""
    from umu_hf.data.collate import IGNORE_INDEX, UMUCollator

    trainer, stream, adapter = _trainer(tiny_model_dir, synth_dir, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    stream.set_epoch(0)
    old = UMUCollator(adapter, stream.images, {"train": ("train", "answer")})([stream[0]])  # the StreamDataset step
    assert batch.keys() == old.keys()
    for key in batch:
        assert torch.equal(batch[key], old[key]), key

    pairs = stream[0]["groups"][("train", "mm")]
    texts = [f"USER: <image>\n{p.question}\nASSISTANT: {p.answer}" for p in pairs]
    expected = adapter.processor(text=texts, images=[[stream.images[p.profile_id]] for p in pairs],
                                 return_tensors="pt", padding=True, padding_side="right")
    assert torch.equal(batch["train_mm_input_ids"], expected["input_ids"])
    labels = expected["input_ids"].masked_fill(expected["attention_mask"] == 0, IGNORE_INDEX)
    labels = labels.masked_fill(expected["input_ids"] == adapter.processor.image_token_id, IGNORE_INDEX)
    assert torch.equal(batch["train_mm_labels"], labels)

    model = trainer.model
    logits = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"],
                   pixel_values=expected["pixel_values"]).logits
    reference = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                                  labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    loss = trainer.compute_loss(model, batch)
    torch.testing.assert_close(loss, reference, rtol=0, atol=0)


def test_paired_rows_keep_the_paired_batches(tiny_model_dir, synth_dir, tmp_path):
    """umu-hf's paired streams: the sampler draws rows as it drew QADataset examples, and each batch holds the
    multimodal pairs with the portrait and their unimodal partners without it."""
    from umu_hf.data.collate import UMUCollator

    trainer, data, adapter = _trainer(tiny_model_dir, synth_dir, tmp_path, protocol="umu-hf",
                                      per_device_train_batch_size=3)
    indices = list(trainer._get_train_sampler())
    assert sorted(indices) == list(range(len(data)))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in indices[:3]])
    old = UMUCollator(adapter, data.images, {"train": ("train", "answer")}, label_mode="answer",
                      eos=True)([data[i] for i in indices[:3]])
    assert batch.keys() == old.keys() and {k.split("_")[1] for k in batch} == {"mm", "um"}
    for key in batch:
        assert torch.equal(batch[key], old[key]), key


def test_a_users_own_trl_rows_train(tiny_model_dir, synth_dir, tmp_path):
    """Rows a user wrote in TRL's format (PIL portraits in ``images``) train directly: the trained weights move,
    the frozen ones (none here: full fine-tuning of a LoRA-less model) and the row data stay as given."""
    import datasets

    from umu_hf.data.collate import QAPair
    from umu_hf.data.sft import sft_row
    from umu_hf.models.loading import load_model
    from umu_hf.trainers.finetune import FinetuneConfig, FinetuneTrainer
    from umu_hf.trainers.jobs import build_finetune_dataset

    stream = build_finetune_dataset(synth_dir)
    pid = next(iter(stream.images))
    rows = [sft_row(QAPair(pid, "Who is this?", "A person I made up.", True), stream.images[pid]),
            sft_row(QAPair(pid, "Where was she born?", "Nowhere at all.", False))]
    user = datasets.Dataset.from_list(rows)  # images stored by datasets (decoded again on access)
    model, _processor, adapter = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = FinetuneConfig(output_dir=str(tmp_path / "own"), use_cpu=True, report_to="none", disable_tqdm=True,
                            save_strategy="no", max_steps=2, per_device_train_batch_size=2, learning_rate=1e-3)
    trainer = FinetuneTrainer(model=model, args=config, train_dataset=user, adapter=adapter)
    batch = next(iter(trainer.get_train_dataloader()))
    assert {k.split("_")[0] for k in batch} == {"train"} and "train_um_input_ids" in batch
    trainer.train()
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert "lm_head.weight" in changed and len(changed) > len(before) // 2


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["original", "umu-hf"])
def test_training_ends_on_the_weights_the_plain_trainer_gave(tiny_model_dir, small_synth_dir, tmp_path, protocol):
    """Bit for bit: the SFTTrainer on TRL's rows and the ``transformers.Trainer`` the fine-tuning ran on before (a
    UMUTrainer fed the StreamDataset / QADataset directly, the loss as before) end on the same weights, in the
    original's one shuffled stream (two epochs: the second epoch's shuffle too) and in umu-hf's paired streams."""
    from umu_hf.models.loading import load_model
    from umu_hf.trainers.base import UMUTrainer
    from umu_hf.trainers.finetune import FinetuneConfig, FinetuneTrainer
    from umu_hf.trainers.jobs import build_finetune_dataset
    from umu_hf.trainers.losses import answer_nll

    class PlainTrainer(UMUTrainer):  # the fine-tuning trainer before TRL
        method = "finetune"
        streams = {"train": ("train", "answer")}

        def modality_loss(self, model, inputs, modality):
            return {"loss": answer_nll(*self.stream_logits(model, inputs, "train", modality))}

    weights = []
    for cls in (PlainTrainer, FinetuneTrainer):
        config = FinetuneConfig(output_dir=str(tmp_path / cls.__name__), use_cpu=True, report_to="none",
                                disable_tqdm=True, save_strategy="no", seed=1, protocol=protocol,
                                learning_rate=5e-3, per_device_train_batch_size=24, num_train_epochs=2)
        model, _processor, adapter = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
        data = build_finetune_dataset(small_synth_dir, streams=config.streams)
        cls(model=model, args=config, train_dataset=data, adapter=adapter).train()
        weights.append({n: p.detach().clone() for n, p in model.named_parameters()})
    plain, sft = weights
    for name in plain:
        assert torch.equal(plain[name], sft[name]), name


@pytest.mark.parametrize("family", ["gemma3", "qwen2_vl"])
def test_chat_template_families_train_on_their_own_template(family, small_synth_dir, tmp_path):
    """The same rows on a chat-template family: the batch is the family's chat template around each question (the
    adapter's, as every other path of umu-hf renders it), and one SFTTrainer step moves the weights."""
    from helpers import tiny_gemma3, tiny_qwen2_vl

    from umu_hf.data.sft import row_pairs
    from umu_hf.models.adapters import get_adapter
    from umu_hf.trainers.finetune import FinetuneConfig, FinetuneTrainer
    from umu_hf.trainers.jobs import build_finetune_dataset

    model, processor = {"gemma3": tiny_gemma3, "qwen2_vl": tiny_qwen2_vl}[family]()
    adapter = get_adapter(processor, model.config)
    config = FinetuneConfig(output_dir=str(tmp_path / family), use_cpu=True, report_to="none", disable_tqdm=True,
                            save_strategy="no", max_steps=1, per_device_train_batch_size=2, learning_rate=1e-3)
    trainer = FinetuneTrainer(model=model.train(), args=config, train_dataset=build_finetune_dataset(small_synth_dir),
                              adapter=adapter)
    loader = trainer.get_train_dataloader()
    indices = next(iter(loader.batch_sampler))  # the first batch's rows (the sampler replays its epoch order)
    batch = next(iter(loader))
    rows = [trainer.train_dataset[i] for i in indices]
    texts = [adapter.train_example(p.question, p.answer, True, eos=False)[1] for r in rows for p in row_pairs(r)]
    expected = adapter.encode(texts, [r["images"][0] for r in rows], padding_side="right")
    assert torch.equal(batch["train_mm_input_ids"], expected["input_ids"])
    assert processor.tokenizer.decode(expected["input_ids"][0]).count(rows[0]["completion"][0]["content"][0]["text"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train()
    assert any(not torch.equal(p, before[n]) for n, p in model.named_parameters())
