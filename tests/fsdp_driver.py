"""Run under ``torchrun --nproc_per_node 2``: train every named method a few steps under FSDP2 (gloo, CPU) in one
process group and write, from rank 0, each method's logged losses and whether its weights stayed finite, and how
many device meshes outlived ``close_process_group`` (each would keep a gloo group alive until interpreter exit).

    torchrun --nproc_per_node 2 tests/fsdp_driver.py MODEL DATA OUT.json lora=METHOD,... [full=METHOD,...]

``lora``: a small LoRA adapter (the reference is the adapter switched off); ``full``: every weight trains (methods
with a reference get a frozen copy, sharded the same way). Both modes run in one launch (one process group: the
two interpreters start once). The test (test_fsdp.py) reads OUT.json: ``{"methods": {mode: {method: result}},
"meshes_alive": N}``.
"""

from __future__ import annotations

import faulthandler
import gc
import json
import math
import sys
from pathlib import Path

import torch
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[1]
FSDP_CONFIG = ROOT / "trainers" / "accelerate" / "fsdp2.json"


def run_method(method: str, model_dir: str, data: str, out: Path, lora: bool) -> dict:
    """Two FSDP2 steps of ``method``; its losses, the first step's terms and the world size it ran with."""
    from umu_hf.models.loading import load_model
    from umu_hf.trainers.fsdp import is_sharded
    from umu_hf.trainers.jobs import build_unlearning_dataset
    from umu_hf.trainers.lora import LoraArguments, apply_lora
    from umu_hf.trainers.registry import get_method

    trainer_cls, config_cls = get_method(method)
    model, _, adapter = load_model(model_dir, device="cpu", dtype="float32")
    ref_model = None
    if lora:
        torch.manual_seed(0)
        model = apply_lora(model, LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings())
    elif trainer_cls.needs_reference:
        ref_model = load_model(model_dir, device="cpu", dtype="float32")[0]
    config = config_cls(
        output_dir=str(out / method), max_steps=2, per_device_train_batch_size=1, learning_rate=1e-2,
        use_cpu=True, save_strategy="no", disable_tqdm=True, ddp_backend="gloo", fsdp=True,
        fsdp_config=str(FSDP_CONFIG), report_to="none",
    )
    dataset = build_unlearning_dataset(data, 5, streams=config.streams)
    kwargs = {"ref_model": ref_model} if ref_model is not None else {}
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter, **kwargs)
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    finite = all(bool(torch.isfinite(p.full_tensor() if hasattr(p, "full_tensor") else p).all())
                 for p in trainer.model.parameters())
    return {
        "losses": [entry["loss"] for entry in logs],
        "first": logs[0] if logs else {},
        "last": logs[-1] if logs else {},
        "finite": finite and all(math.isfinite(entry["loss"]) for entry in logs),
        "sharded": is_sharded(trainer.model),
        "ref_sharded": trainer.ref_model is not None and is_sharded(trainer.ref_model),
        "world_size": trainer.accelerator.num_processes,
    }


def main(argv: list[str]) -> int:
    from umu_hf.utils import close_process_group

    model_dir, data, out_json, *groups = argv
    results: dict[str, dict] = {}
    for group in groups:
        mode, _, methods = group.partition("=")
        if mode not in ("lora", "full") or not methods:
            raise SystemExit(f"fsdp_driver: expected lora=METHOD,... or full=METHOD,..., got {group!r}")
        results[mode] = {m: run_method(m, model_dir, data, Path(out_json).parent / f"runs-{mode}", mode == "lora")
                         for m in methods.split(",")}
    rank = dist.get_rank() if dist.is_initialized() else 0
    close_process_group()
    # the meshes still alive hold process groups that would only be freed at interpreter exit (the abort
    # close_process_group prevents); the test asserts there are none
    from torch.distributed.device_mesh import DeviceMesh

    alive = sum(isinstance(obj, DeviceMesh) for obj in gc.get_objects())
    if rank == 0:
        Path(out_json).write_text(json.dumps({"methods": results, "meshes_alive": alive}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    faulthandler.enable()  # an abort in C++ (SIGABRT) prints every thread's Python stack
    sys.exit(main(sys.argv[1:]))
