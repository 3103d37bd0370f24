"""Per-GPU memory of LLaVA-1.5-7B / -13B under DDP, FSDP2 and ZeRO-3, from parameter counts and dtypes, checked
against the tiny LLaVA trained on CPU with one rank and with two (FSDP2, gloo).

    python benchmarks/scale_memory.py [--gpus 8] [--lora-r 64]          # the table
    python benchmarks/scale_memory.py --measure [--json out.json]      # + the tiny model, 1 vs 2 ranks (torchrun)

The formula counts the *model state* each GPU keeps: weights, gradients and AdamW's two moments (and, for
full-weight mixed-precision training, the fp32 master weights), plus the reference p_ref. Under DDP every GPU holds
all of it; FSDP2 (full shard) and ZeRO-3 partition all of it over the GPUs, so the per-GPU state is divided by
their number, plus the weights of the layers gathered for the moment they run (two units: the one running and the
one prefetched). Activations, the CUDA context, allocator fragmentation and communication buffers are NOT included:
add them for your batch size and sequence length (for LLaVA-1.5 a 576-token image plus the text per sample).

Precision (the usual setups): LoRA keeps the frozen base in bf16 (2 B/param) and trains an fp32 adapter (4 B
weight + 4 B gradient + 8 B AdamW moments); full-weight training is mixed precision as in the ZeRO paper: bf16
weights and gradients (2 + 2 B) plus fp32 master weights and moments (12 B) = 16 B/param. Reference: with LoRA it
is the adapter switched off (0 extra bytes); full-weight methods with a reference keep a frozen bf16 copy (2
B/param), sharded like the model under FSDP2 / ZeRO-3.

The measurement sums, on each rank, the bytes of the tensors local to that rank at the optimiser step (parameters,
gradients, AdamW state, and the reference copy when there is one) — what sharding divides; process RSS on CPU is
dominated by the Python/torch runtime and too noisy to show it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3
STRATEGIES = ("DDP", "FSDP2", "ZeRO-3")


@dataclass(frozen=True)
class LlavaSpec:
    """The sizes of a LLaVA-1.5 model: CLIP ViT-L/14-336 tower, 2-layer MLP projector, Llama/Vicuna decoder."""

    name: str
    layers: int
    hidden: int
    ffn: int
    vocab: int = 32064
    vision_layers: int = 24
    vision_hidden: int = 1024
    vision_ffn: int = 4096
    positions: int = 577  # (336 / 14)² patches + the class token

    def vision_params(self) -> int:
        d, f = self.vision_hidden, self.vision_ffn
        embeddings = 3 * 14 * 14 * d + d + self.positions * d + 2 * d  # patch conv, class, positions, pre-norm
        layer = 4 * (d * d + d) + (d * f + f) + (f * d + d) + 4 * d
        return embeddings + self.vision_layers * layer + 2 * d

    def projector_params(self) -> int:
        return self.vision_hidden * self.hidden + self.hidden + self.hidden * self.hidden + self.hidden

    def layer_params(self) -> int:
        """One decoder layer (attention, SwiGLU MLP, two RMSNorms)."""
        d = self.hidden
        return 4 * d * d + 3 * d * self.ffn + 2 * d

    def language_params(self) -> int:
        return 2 * self.vocab * self.hidden + self.layers * self.layer_params() + self.hidden

    def total_params(self) -> int:
        return self.vision_params() + self.projector_params() + self.language_params()

    def lora_params(self, r: int) -> int:
        """LoRA on the original targets (q/k/v/o/gate/up/down): the decoder's 7 and the vision tower's q/k/v."""
        d, f, vd = self.hidden, self.ffn, self.vision_hidden
        decoder = self.layers * r * (4 * (d + d) + 3 * (d + f))
        vision = self.vision_layers * r * 3 * (vd + vd)
        return decoder + vision

    def largest_unit(self) -> int:
        """Parameters of the largest FSDP unit gathered at once (a decoder layer or the embedding)."""
        return max(self.layer_params(), self.vocab * self.hidden)


LLAVA_7B = LlavaSpec("LLaVA-1.5-7B", layers=32, hidden=4096, ffn=11008)
LLAVA_13B = LlavaSpec("LLaVA-1.5-13B", layers=40, hidden=5120, ffn=13824)


@dataclass(frozen=True)
class Precision:
    """Bytes per parameter: frozen weights; trainable weights + gradients + optimiser state (incl. master copy)."""

    frozen: float
    trainable: float
    reference: float  # a frozen reference copy, per parameter
    compute: float  # the dtype a gathered unit has while it runs


LORA_BF16 = Precision(frozen=2, trainable=4 + 4 + 8, reference=2, compute=2)
FULL_MIXED = Precision(frozen=2, trainable=2 + 2 + 12, reference=2, compute=2)
FP32 = Precision(frozen=4, trainable=4 + 4 + 8, reference=4, compute=4)  # the tiny model on CPU


def model_state_bytes(
    total: int, trainable: int, world: int, sharded: bool, precision: Precision, reference_copy: bool,
    gathered_unit: int = 0,
) -> float:
    """Per-rank bytes of the model state (see the module docstring); ``trainable`` of the ``total`` params train.

    ``total`` counts every parameter of the model as trained, a LoRA adapter's included (as the tiny measurement
    counts them): the frozen part is ``total − trainable``.

    >>> model_state_bytes(100, 100, 1, False, FP32, False)
    1600.0
    >>> model_state_bytes(100, 100, 2, True, FP32, True)   # 16 B + a 4 B reference, halved
    1000.0
    """
    frozen = total - trainable if trainable < total else 0
    state = frozen * precision.frozen + trainable * precision.trainable
    if reference_copy:
        state += total * precision.reference
    if not sharded:
        return float(state)
    return state / world + 2 * gathered_unit * precision.compute


def guide_rows(gpus: int, lora_r: int) -> list[dict]:
    """The table: each model × strategy × LoRA / full weights × reference, per-GPU GiB of model state."""
    rows = []
    for spec in (LLAVA_7B, LLAVA_13B):
        base = spec.total_params()
        for lora in (True, False):
            trainable = spec.lora_params(lora_r) if lora else base
            total = base + trainable if lora else base  # the adapter comes on top of the frozen base
            precision = LORA_BF16 if lora else FULL_MIXED
            for with_ref in (False, True):
                copy = with_ref and not lora  # with LoRA the reference is the adapter switched off
                row = {"model": spec.name, "params_B": base / 1e9, "training": f"LoRA r{lora_r}" if lora else "full",
                       "reference": ("adapter off" if lora else "frozen copy") if with_ref else "none"}
                for strategy in STRATEGIES:
                    sharded = strategy != "DDP"
                    bytes_ = model_state_bytes(total, trainable, gpus, sharded, precision, copy,
                                               spec.largest_unit() if sharded else 0)
                    row[strategy] = bytes_ / GIB
                rows.append(row)
    return rows


def _gib(value: float) -> str:
    """GiB to three significant figures for the usual sizes (15.7, 2.71): a tenth of a GiB hides a LoRA adapter."""
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def format_table(rows: list[dict], gpus: int) -> str:
    """The guide as a Markdown table (the README's "Memory guide")."""
    lines = [f"Model state per GPU in GiB ({gpus} GPUs for FSDP2 / ZeRO-3; activations not included):", "",
             "| model | training | reference (p_ref) | DDP | FSDP2 | ZeRO-3 |", "|---|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} ({r['params_B']:.2f}B) | {r['training']} | {r['reference']} | "
                     + " | ".join(_gib(r[s]) for s in STRATEGIES) + " |")
    return "\n".join(lines)


# ---- the tiny model on CPU ----------------------------------------------------------------------------------------

def _local_bytes(tensor) -> int:
    local = tensor.to_local() if hasattr(tensor, "to_local") else tensor
    return local.numel() * local.element_size()


def _child(model_dir: str, data: str, out_json: str, mode: str) -> None:
    """One training run (1 rank plain, or FSDP2 under torchrun): per-rank local bytes at the first optimiser step."""
    import torch
    import torch.distributed as dist
    from transformers import TrainerCallback

    from umu_hf.models.loading import load_model
    from umu_hf.trainers.jobs import build_unlearning_dataset
    from umu_hf.trainers.lora import LoraArguments, apply_lora
    from umu_hf.trainers.registry import get_method
    from umu_hf.utils import close_process_group

    world = int(os.environ.get("WORLD_SIZE", "1"))
    trainer_cls, config_cls = get_method("npo")
    model, _, adapter = load_model(model_dir, device="cpu", dtype="float32")
    ref_model = None
    if mode == "lora":
        torch.manual_seed(0)
        model = apply_lora(model, LoraArguments(lora_r=4, lora_alpha=8, lora_dropout=0.0).settings())
    else:
        ref_model = load_model(model_dir, device="cpu", dtype="float32")[0]
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    found: dict = {}

    class Measure(TrainerCallback):
        def on_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
            if found:
                return
            params = list(trainer.model.parameters())
            found["params"] = sum(_local_bytes(p) for p in params)
            found["grads"] = sum(_local_bytes(p.grad) for p in params if p.grad is not None)
            found["optimizer"] = sum(_local_bytes(v) for s in trainer.optimizer.state.values() for v in s.values()
                                     if torch.is_tensor(v) and v.dim() > 0)
            found["reference"] = (sum(_local_bytes(p) for p in trainer.ref_model.parameters())
                                  if trainer.ref_model is not None else 0)

    extra = {"ddp_backend": "gloo", "fsdp": True,
             "fsdp_config": str(Path(__file__).resolve().parents[1] / "trainers" / "accelerate" / "fsdp2.json")}
    config = config_cls(output_dir=tempfile.mkdtemp(), max_steps=1, per_device_train_batch_size=1, use_cpu=True,
                        save_strategy="no", disable_tqdm=True, report_to="none", **(extra if world > 1 else {}))
    dataset = build_unlearning_dataset(data, 5, streams=config.streams)
    kwargs = {"ref_model": ref_model} if ref_model is not None else {}
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter, callbacks=[Measure()],
                          **kwargs)
    trainer.train()
    rank = dist.get_rank() if dist.is_initialized() else 0
    record = {"mode": mode, "world": world, "rank": rank, "total_params": total, "trainable_params": trainable,
              **found, "state": sum(found.values())}
    Path(f"{out_json}.{mode}.{world}.{rank}").write_text(json.dumps(record), encoding="utf-8")
    close_process_group()


def measure_tiny(model_dir: str, data: str) -> list[dict]:
    """The tiny model's per-rank state bytes, one rank (plain) and two (FSDP2), LoRA and full weights (NPO)."""
    work = Path(tempfile.mkdtemp())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")])}
    for mode in ("lora", "full"):
        base = [__file__, "--child", mode, "--model", model_dir, "--data", data, "--out", str(work / "m")]
        for cmd in ([sys.executable, *base],
                    [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                     str(_free_port()), *base]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                raise SystemExit(f"measurement failed ({' '.join(cmd[:4])}): {proc.stderr[-3000:]}")
    return [json.loads(p.read_text()) for p in sorted(work.glob("m.*"))]


def check_tiny(records: list[dict]) -> list[dict]:
    """The formula's prediction (fp32, no gathered unit: measured after the step) against each measured rank."""
    rows = []
    for r in records:
        copy = r["mode"] == "full"
        predicted = model_state_bytes(r["total_params"], r["trainable_params"], r["world"], r["world"] > 1, FP32,
                                      copy)
        rows.append({**r, "predicted": predicted, "ratio": r["state"] / predicted})
    return rows


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tiny_model() -> tuple[str, str]:
    """A tiny LLaVA and synthetic data built in a temporary folder (as the tests do)."""
    from umu_hf.data.synth import generate_dataset
    from umu_hf.models.tiny import build_tiny_from_dataset

    work = Path(tempfile.mkdtemp())
    data = generate_dataset(work / "umu", 40, 8, 0)
    model = build_tiny_from_dataset(data, work / "tiny-llava", size="small", seed=0)
    return str(model), str(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, default=8, help="GPUs the sharded strategies split over (default 8)")
    parser.add_argument("--lora-r", type=int, default=64, help="LoRA rank (default 64, the unlearning default)")
    parser.add_argument("--measure", action="store_true", help="also measure the tiny model, 1 vs 2 ranks")
    parser.add_argument("--model", help="tiny model folder for --measure (default: build one)")
    parser.add_argument("--data", help="dataset folder for --measure (default: build one)")
    parser.add_argument("--json", help="write the table (and measurement) here")
    parser.add_argument("--child", choices=("lora", "full"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.model, args.data, args.out, args.child)
        return 0
    rows = guide_rows(args.gpus, args.lora_r)
    for spec in (LLAVA_7B, LLAVA_13B):
        print(f"{spec.name}: {spec.total_params() / 1e9:.3f}B parameters (vision {spec.vision_params() / 1e6:.1f}M, "
              f"projector {spec.projector_params() / 1e6:.1f}M, language {spec.language_params() / 1e9:.3f}B); "
              f"LoRA r{args.lora_r}: {spec.lora_params(args.lora_r) / 1e6:.1f}M trainable")
    print(format_table(rows, args.gpus))
    report: dict = {"gpus": args.gpus, "rows": rows}
    if args.measure:
        model, data = (args.model, args.data) if args.model and args.data else _tiny_model()
        checked = check_tiny(measure_tiny(model, data))
        print("\ntiny LLaVA, NPO, per-rank model state at the first optimiser step (bytes local to the rank):")
        print("| training | ranks | rank | params | grads | AdamW | reference | total | formula | measured/formula |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in checked:
            print(f"| {r['mode']} | {r['world']} | {r['rank']} | {r['params']} | {r['grads']} | {r['optimizer']} | "
                  f"{r['reference']} | {r['state']} | {r['predicted']:.0f} | {r['ratio']:.3f} |")
        report["tiny"] = checked
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
