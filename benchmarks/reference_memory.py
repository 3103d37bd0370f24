"""Peak memory of reference-model methods (KL, NPO): adapter-off reference vs a deep-copied reference.

With LoRA, umu-hf's reference p_ref is the same network with the adapter switched off, so no second copy of the
weights exists. The usual alternative keeps a frozen deep copy of the model. Each variant trains a few steps in
a fresh process (so peak RSS is its own) on the *base* tiny LLaVA, and the ratio of peak memory is reported.

    python benchmarks/reference_memory.py [--method npo] [--size base] [--steps 4] [--json out.json]

Numbers go in the issue note, not in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def _child(args: argparse.Namespace) -> None:
    """Train ``args.steps`` steps with one reference variant; print peak RSS and the peak of the weights."""
    import copy

    import torch

    from umu_hf.models.loading import load_model
    from umu_hf.trainers.jobs import build_unlearning_dataset
    from umu_hf.trainers.lora import LoraArguments, apply_lora
    from umu_hf.trainers.registry import get_method

    torch.manual_seed(0)
    trainer_cls, config_cls = get_method(args.method)
    model, _, adapter = load_model(args.model, device="cpu", dtype="float32")
    ref_model = copy.deepcopy(model) if args.variant == "deepcopy" else None
    model = apply_lora(model, LoraArguments().settings())
    config = config_cls(
        output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=args.batch_size, use_cpu=True,
        save_strategy="no", disable_tqdm=True, report_to="none", learning_rate=1e-4,
    )
    dataset = build_unlearning_dataset(args.data, 5)
    kwargs = {"ref_model": ref_model} if ref_model is not None else {}
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, adapter=adapter, **kwargs)
    trainer.train()
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    if ref_model is not None:
        params += sum(p.numel() * p.element_size() for p in ref_model.parameters())
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"variant": args.variant, "peak_rss_mib": peak_kib / 1024, "weights_mib": params / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="npo", choices=["npo", "kl", "idk_dpo"])
    parser.add_argument("--size", default="base", help="tiny model size (default: base, the larger one)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--json", help="also write the numbers here")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        _child(args)
        return

    from umu_hf.data.synth import generate_dataset
    from umu_hf.models.tiny import build_tiny_from_dataset

    with tempfile.TemporaryDirectory() as tmp:
        data = generate_dataset(Path(tmp) / "data", 40, 8, 0)
        model = build_tiny_from_dataset(data, Path(tmp) / "model", size=args.size)
        rows = {}
        for variant in ("adapter_off", "deepcopy"):
            cmd = [sys.executable, __file__, "--variant", variant, "--method", args.method, "--steps", str(args.steps),
                   "--batch-size", str(args.batch_size), "--model", str(model), "--data", str(data),
                   "--out", str(Path(tmp) / variant)]
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
            if done.returncode != 0:
                sys.exit(f"{variant} run failed:\n{done.stderr[-2000:]}")
            rows[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    ratio = rows["adapter_off"]["peak_rss_mib"] / rows["deepcopy"]["peak_rss_mib"]
    weights_ratio = rows["adapter_off"]["weights_mib"] / rows["deepcopy"]["weights_mib"]
    report = {"method": args.method, "size": args.size, "steps": args.steps, **rows,
              "peak_rss_ratio": round(ratio, 3), "weights_ratio": round(weights_ratio, 3)}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
