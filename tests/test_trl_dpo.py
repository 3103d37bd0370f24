"""IDK-DPO's forget term is TRL's DPO sigmoid loss, scaled as TOFU scales it: computed here by a real
``trl.DPOTrainer`` on the tiny model's language model and by :func:`umu_hf.trainers.losses.dpo_loss` on the same
batch's log-probabilities, they agree to float precision once divided by TOFU's 2/β."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("trl")


def _language_model(tiny_model_dir):
    """The tiny LLaVA's language model as a plain causal LM (DPOTrainer's text path), weights copied."""
    from transformers import LlamaForCausalLM

    from umu_hf.models.loading import load_model

    llava, processor, _adapter = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    lm = LlamaForCausalLM(llava.config.text_config)
    lm.model.load_state_dict(llava.model.language_model.state_dict())
    lm.lm_head.load_state_dict(llava.lm_head.state_dict())
    return lm.eval(), processor.tokenizer


def test_idk_dpo_forget_term_is_trls_sigmoid_dpo_times_two_over_beta(tiny_model_dir, tmp_path):
    import datasets
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer

    from umu_hf.trainers.losses import dpo_loss, sequence_logprob

    beta = 0.1
    lm, tokenizer = _language_model(tiny_model_dir)
    # TRL adds the adapter; a random B makes the policy differ from the reference (the adapter switched off)
    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    rows = [
        {"prompt": "USER: Where was Ann Lee born?\nASSISTANT:", "chosen": " I don't know.", "rejected": " In Oslo."},
        {"prompt": "USER: What is Bo Chen's job?\nASSISTANT:", "chosen": " I can't say.", "rejected": " A baker."},
    ]
    config = DPOConfig(output_dir=str(tmp_path), beta=beta, loss_type=["sigmoid"], per_device_train_batch_size=2,
                       use_cpu=True, report_to="none", activation_checkpointing=False, bf16=False,
                       precompute_ref_log_probs=False)
    trainer = DPOTrainer(model=lm, args=config, train_dataset=datasets.Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=lora)
    model = trainer.model
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    with torch.no_grad():
        trl_loss = trainer.compute_loss(trainer.model, dict(batch))

        labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        with model.disable_adapter():
            ref_logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        chosen, rejected = sequence_logprob(logits, labels).chunk(2)  # TRL's batch: chosen rows, then rejected
        ref_chosen, ref_rejected = sequence_logprob(ref_logits, labels).chunk(2)
    ours = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta)
    assert float((chosen - ref_chosen).abs().max()) > 1e-3  # the check is not the trivial ln 2 of policy = reference
    torch.testing.assert_close(ours * beta / 2, trl_loss, rtol=1e-5, atol=1e-6)
