"""Fully sharded training (FSDP2) on CPU: the shipped configs parse, and under ``torchrun --nproc_per_node 2`` (gloo)
fine-tuning and unlearning train, save a full model that the Auto classes load and ``umu-hf eval`` scores, and
match the single-process run.

The loss-match runs compare the same global batch: two ranks of per-device batch 1 against one process of batch 1
with gradient accumulation 2 (both average the gradient of the same two examples; the stream sampler hands rank r
the batches r, r+2, …, one process reads them in order). LoRA dropout is 0 and NPO's separate multimodal clipping
(which needs accumulation 1) is off, so the two runs compute the same numbers up to reduction order. Measured on
this machine (torch 2.13 CPU, 3 steps) the logged losses and the merged weights were bitwise identical; the tests
allow LOSS_RTOL (relative) and WEIGHT_ATOL, room for other CPUs' reduction order.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import free_port

from umu_hf.cli import main as cli_main
from umu_hf.trainers.jobs import TRAINING_LOG

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "trainers" / "accelerate"
FSDP_JSON = CONFIGS / "fsdp2.json"
#: relative tolerance of the per-step loss, FSDP2 on 2 ranks against one process (measured: 0, bitwise equal)
LOSS_RTOL = 1e-4
#: largest absolute difference of a merged weight, FSDP2 against one process (measured: 0)
WEIGHT_ATOL = 1e-4
#: the flags both runs of a loss-match share: 3 steps, tiny LoRA without dropout, same data order
MATCH_FLAGS = ["--max_steps", "3", "--per_device_train_batch_size", "1", "--lora_r", "4", "--lora_alpha", "8",
               "--lora_dropout", "0", "--use_cpu", "True", "--save_strategy", "no", "--learning_rate", "1e-2",
               "--disable_tqdm", "True", "--report_to", "none", "--merge", "True"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def _torchrun(script: Path, args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(script), *args]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _losses(out: Path) -> list[float]:
    history = json.loads((out / TRAINING_LOG).read_text(encoding="utf-8"))
    return [entry["loss"] for entry in history if "loss" in entry]


# ---- the shipped configs ------------------------------------------------------------------------------------------

def test_fsdp2_json_gives_the_trainer_fsdp2_full_shard_with_full_state_dict(tmp_path):
    """trainers/accelerate/fsdp2.json is what ``--fsdp_config`` reads: FSDP2, layer-wise wrap, full state dict."""
    from umu_hf.trainers.front import parse_args

    argv = ["--method", "npo", "--model", "m", "--data", "d", "--output_dir", str(tmp_path), "--use_cpu", "True",
            "--fsdp", "--fsdp_config", str(FSDP_JSON)]
    _, _, config = parse_args("unlearn", argv)
    plugin = config.fsdp_plugin_args
    assert config.fsdp is True and plugin["fsdp_version"] == 2
    assert plugin["state_dict_type"] == "FULL_STATE_DICT" and plugin["reshard_after_forward"] is True
    assert plugin["auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    assert set(plugin["transformer_cls_names_to_wrap"].split(",")) == {"LlamaDecoderLayer", "CLIPEncoderLayer"}


def test_accelerate_yaml_configs_agree_with_the_trainer_config():
    """The accelerate launch configs: DDP, FSDP2 (the same wrap as fsdp2.json) and ZeRO-3 (its JSON file)."""
    ddp = yaml.safe_load((CONFIGS / "ddp.yaml").read_text())
    fsdp = yaml.safe_load((CONFIGS / "fsdp2.yaml").read_text())
    zero3 = yaml.safe_load((CONFIGS / "zero3.yaml").read_text())
    assert ddp["distributed_type"] == "MULTI_GPU"
    assert fsdp["distributed_type"] == "FSDP" and fsdp["fsdp_config"]["fsdp_version"] == 2
    trainer_json = json.loads(FSDP_JSON.read_text())
    assert fsdp["fsdp_config"]["fsdp_transformer_layer_cls_to_wrap"] == ",".join(
        trainer_json["transformer_layer_cls_to_wrap"])
    assert fsdp["fsdp_config"]["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    assert zero3["distributed_type"] == "DEEPSPEED"
    ds = json.loads((ROOT / zero3["deepspeed_config"]["deepspeed_config_file"]).read_text())
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def test_zero3_json_is_accepted_by_the_trainer_arguments(tmp_path):
    """DeepSpeed is optional (not a dependency) and not exercised by the suite: only that the Trainer takes it."""
    pytest.importorskip("deepspeed")
    from umu_hf.trainers.registry import get_method

    _, config_cls = get_method("npo")
    config = config_cls(output_dir=str(tmp_path), deepspeed=str(CONFIGS / "zero3.json"))
    assert config.hf_deepspeed_config.is_zero3()


# ---- torchrun, two ranks ------------------------------------------------------------------------------------------

def _eval_scores(model_dir: Path, synth_dir: Path, out: Path) -> dict:
    """``umu-hf eval`` on one question pair per set and task; the results it wrote."""
    rc = cli_main(["eval", "--model", str(model_dir), "--data", str(synth_dir), "--forget-ratio", "5", "--out",
                   str(out), "--limit", "1", "--device", "cpu", "--no-progress", "--max-new-tokens",
                   "classification=4", "--max-new-tokens", "cloze=4", "--max-new-tokens", "generation=4"])
    assert rc == 0
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def _check_sharded_matches_single(job: str, job_args: list[str], synth_dir: Path, tmp_path: Path) -> None:
    """Train ``job`` under FSDP2 on 2 ranks and in one process (same global batch); the per-step losses agree, the
    merged models agree, the sharded one loads through the Auto classes and ``umu-hf eval`` scores it."""
    from transformers import AutoModelForImageTextToText

    sharded, single = tmp_path / "fsdp", tmp_path / "single"
    proc = _torchrun(ROOT / "trainers" / f"{job}.py", [*job_args, *MATCH_FLAGS, "--output_dir", str(sharded),
                     "--ddp_backend", "gloo", "--fsdp", "--fsdp_config", str(FSDP_JSON)])
    assert "merged" in proc.stdout
    assert cli_main([job, *job_args, *MATCH_FLAGS, "--output_dir", str(single),
                     "--gradient_accumulation_steps", "2"]) == 0
    got, want = _losses(sharded), _losses(single)
    assert len(got) == len(want) == 3
    for a, b in zip(got, want, strict=True):
        assert a == pytest.approx(b, rel=LOSS_RTOL), (got, want)
    # the gathered full state dict: the merged model loads through the Auto classes and equals the single run's
    a = AutoModelForImageTextToText.from_pretrained(sharded / "merged").state_dict()
    b = AutoModelForImageTextToText.from_pretrained(single / "merged").state_dict()
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= WEIGHT_ATOL
    results = _eval_scores(sharded / "merged", synth_dir, tmp_path / "eval")
    assert results["sets"]["forget"]["cloze"]["n"] == 1
    assert set(results["headline"]) == {"forget", "retain", "real"}


@pytest.mark.slow
def test_fsdp2_lora_npo_matches_single_process_and_is_scored(tiny_model_dir, synth_dir, tmp_path):
    """NPO with the adapter-off reference on the sharded model: the step-0 loss is (1 + alpha)·(2/β)·ln 2 and the
    following steps (where p_ref ≠ p_θ) match the single-process run."""
    args = ["--method", "npo", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--forget_ratio", "5",
            "--multimodal_max_grad_norm", "0"]
    _check_sharded_matches_single("unlearn", args, synth_dir, tmp_path)
    first = _losses(tmp_path / "fsdp")[0]
    assert first == pytest.approx(2 * (2 / 0.4) * math.log(2), rel=1e-5)


@pytest.mark.slow
def test_fsdp2_lora_finetune_matches_single_process_and_is_scored(tiny_model_dir, synth_dir, tmp_path):
    args = ["--model", str(tiny_model_dir), "--data", str(synth_dir)]
    _check_sharded_matches_single("finetune", args, synth_dir, tmp_path)


#: the methods with a reference, and GA without one, for the full-weight run (every method runs with LoRA)
FULL_WEIGHT_METHODS = ("ga", "npo", "kl", "idk_dpo", "rmu", "undial")


@pytest.mark.slow
def test_every_method_trains_under_fsdp2(tiny_model_dir, synth_dir, tmp_path):
    """Two FSDP2 steps of each method on 2 ranks (one launch for both modes): with LoRA the reference is the adapter
    switched off on the sharded model; full-weight methods with a reference get a frozen copy sharded the same
    way."""
    from umu_hf.trainers.registry import METHOD_NAMES, get_method

    modes = {"lora": sorted(METHOD_NAMES), "full": list(FULL_WEIGHT_METHODS)}
    out = tmp_path / "results.json"
    _torchrun(ROOT / "tests" / "fsdp_driver.py", [str(tiny_model_dir), str(synth_dir), str(out),
                                                  *(f"{mode}={','.join(methods)}" for mode, methods in modes.items())])
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["meshes_alive"] == 0  # close_process_group let go of every group before interpreter exit
    assert sorted(written["methods"]) == sorted(modes)
    for mode, methods in modes.items():
        results = written["methods"][mode]
        assert sorted(results) == sorted(methods)
        for method, result in results.items():
            assert result["world_size"] == 2 and result["sharded"], (mode, method)
            assert result["finite"] and len(result["losses"]) == 2, (mode, method, result)
            needs_copy = mode == "full" and get_method(method)[0].needs_reference
            assert result["ref_sharded"] == needs_copy, (mode, method)
        npo = results["npo"]
        assert npo["first"]["forget_logratio_mm"] == pytest.approx(0.0, abs=1e-6)  # p_ref = p_θ before the first step
        assert npo["last"]["forget_logratio_mm"] != pytest.approx(0.0, abs=1e-4)  # and differs after it
        assert torch.isfinite(torch.tensor(npo["losses"])).all()


def _scale_memory():
    import importlib.util

    spec = importlib.util.spec_from_file_location("scale_memory", ROOT / "benchmarks" / "scale_memory.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["scale_memory"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_memory_guide_formula():
    """benchmarks/scale_memory.py: LLaVA-1.5 sizes, sharding divides the state, the reference costs only a copy."""
    sm = _scale_memory()
    assert sm.LLAVA_7B.total_params() == pytest.approx(7.06e9, rel=0.01)
    assert sm.LLAVA_13B.total_params() == pytest.approx(13.35e9, rel=0.01)
    assert sm.LLAVA_7B.vision_params() == pytest.approx(303.5e6, rel=0.01)
    n = 1_000_000
    one = sm.model_state_bytes(n, n, 1, False, sm.FP32, True)
    assert one == n * (16 + 4)  # weights + grads + AdamW (16 B) + an fp32 reference copy (4 B)
    assert sm.model_state_bytes(n, n, 2, True, sm.FP32, True) == one / 2
    rows = {(r["model"], r["training"], r["reference"]): r for r in sm.guide_rows(8, 64)}
    lora_ref, lora = rows[("LLaVA-1.5-7B", "LoRA r64", "adapter off")], rows[("LLaVA-1.5-7B", "LoRA r64", "none")]
    assert lora_ref["DDP"] == lora["DDP"]  # the adapter-off reference is free
    full_ref, full = rows[("LLaVA-1.5-7B", "full", "frozen copy")], rows[("LLaVA-1.5-7B", "full", "none")]
    assert full_ref["DDP"] - full["DDP"] == pytest.approx(7.06e9 * 2 / 2**30, rel=0.01)  # a bf16 copy
    assert full["FSDP2"] < full["DDP"] / 7  # 8 GPUs: an eighth plus two gathered layers


def test_memory_guide_lora_rows_keep_the_whole_base():
    """A LoRA row is the whole bf16 base (2 B/param) plus the fp32 adapter (16 B/param): the adapter is not taken
    out of the base. The README's table: 7B 15.7 (DDP) / 2.71 (FSDP2), 13B 28.7 / 4.77 GiB."""
    sm = _scale_memory()
    rows = {(r["model"], r["training"]): r for r in sm.guide_rows(8, 64) if r["reference"] == "none"}
    for spec, ddp, fsdp in ((sm.LLAVA_7B, 15.68, 2.714), (sm.LLAVA_13B, 28.74, 4.774)):
        row = rows[(spec.name, "LoRA r64")]
        base, adapter = spec.total_params(), spec.lora_params(64)
        assert row["DDP"] * 2**30 == pytest.approx(2 * base + 16 * adapter)
        assert row["FSDP2"] * 2**30 == pytest.approx((2 * base + 16 * adapter) / 8 + 2 * 2 * spec.largest_unit())
        assert (round(row["DDP"], 2), round(row["FSDP2"], 3)) == (ddp, fsdp)


def test_memory_guide_matches_the_tiny_measurement():
    """The formula against records of the measured shape (check_tiny): the ratio is computed per rank."""
    sm = _scale_memory()
    record = {"mode": "full", "world": 2, "rank": 0, "total_params": 100, "trainable_params": 100, "state": 1000}
    assert sm.check_tiny([record])[0]["ratio"] == pytest.approx(1.0)
