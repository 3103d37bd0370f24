"""Why does the embedded model's text pathway forget less than its image pathway?

Three measurements on the bench's vanilla models (from a bench or sweep folder, e.g. the tuning seeds of
``benchmarks/step_size_sweep.py``), GD as the probe method:

1. **Gradients at the vanilla model.** For 60 forget pairs of each modality, laid out as GD trains on them (original
   protocol: labels on every token), the norm of the gradient of the forget NLL on the LoRA parameters (language
   model and vision tower apart), the mean NLL of the answer tokens and of the prompt tokens, and the share of
   the ascent's per-token weight ``1 − p(token)`` (the size of −log p's logit gradient) that sits on answer tokens.
   The same with answer-only labels.
2. **Ablations.** GD at the bench's step size, as the bench runs it, then: with answer-only labels; with the text
   stream weighted ×10 (``alpha 10``); with LoRA on the language model only (no adapter in the vision tower).
   Each evaluated in full; per-modality forget/retain accuracy of classification and cloze.
3. **Answer confidence before and after.** The forget answers' mean NLL per modality at the vanilla model and
   after GD.

    python benchmarks/text_pathway.py --bench /tmp/sweep --seeds 100,101 --lr-scale 400 --out /tmp/why

Writes ``--out/text_pathway.json`` and prints a summary. Numbers go in docs/protocol.md, not in a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("GOMP_SPINCOUNT", "1000")  # as the umu-hf CLI: short OpenMP spins on shared cores

from umu_hf.bench.pipeline import Bench  # noqa: E402
from umu_hf.bench.settings import BenchSettings, UnlearnTuning  # noqa: E402
from umu_hf.utils import write_json  # noqa: E402

RATIO = 15
VARIANTS: dict[str, dict[str, Any]] = {
    "gd": {},
    "gd answer-only labels": {"label_mode": "answer"},
    "gd text stream x10 (alpha 10)": {"alpha": 10.0},
    "gd LoRA on the language model only": {"lora_target_modules": "lm"},
}


def gradient_report(model_path: str, data: str, n_pairs: int = 60) -> dict[str, Any]:
    """Measurement 1 (module docstring) at ``model_path``."""
    import torch

    from umu_hf.data.collate import IGNORE_INDEX, UMUCollator
    from umu_hf.models.loading import load_model
    from umu_hf.trainers.jobs import build_unlearning_dataset
    from umu_hf.trainers.lora import LoraArguments, apply_lora
    from umu_hf.trainers.methods.gd import GDTrainer

    model, _, adapter = load_model(model_path, "cpu", "float32")
    torch.manual_seed(0)
    model = apply_lora(model, LoraArguments(lora_r=16, lora_dropout=0.0).settings().resolved(
        GDTrainer.lora_target_modules))
    dataset = build_unlearning_dataset(data, RATIO, streams="independent")
    out: dict[str, Any] = {}
    for mode in ("full", "answer"):
        collator = UMUCollator(adapter, dataset.images, {}, label_mode=mode, refusals=[], eos=False)
        answers_only = UMUCollator(adapter, dataset.images, {}, label_mode="answer", refusals=[], eos=False)
        for modality in ("mm", "um"):
            pairs = dataset.all_streams[("forget", modality)][:n_pairs]
            batch = collator.encode(pairs, [p.answer for p in pairs])
            labels = batch.pop("labels")
            is_answer = answers_only.encode(pairs, [p.answer for p in pairs])["labels"][:, 1:] != IGNORE_INDEX
            model.zero_grad()
            logits = model(**batch).logits[:, :-1].float()
            targets = labels[:, 1:]
            scored = targets != IGNORE_INDEX
            token_nll = -logits.log_softmax(-1).gather(-1, targets.clamp_min(0).unsqueeze(-1)).squeeze(-1)
            (-token_nll[scored].mean()).backward()  # GD's forget term (ascent)

            def grad_norm(vision: bool) -> float:
                return sum(float(p.grad.norm() ** 2) for n, p in model.named_parameters()
                           if p.grad is not None and ("vision_tower" in n) == vision) ** 0.5

            weight = (1.0 - (-token_nll).exp()).detach()
            prompt = scored & ~is_answer
            out[f"{mode}/{modality}"] = {
                "grad_norm_language_model": round(grad_norm(False), 5),
                "grad_norm_vision_tower": round(grad_norm(True), 5),
                "answer_nll": round(float(token_nll[scored & is_answer].mean()), 5),
                "prompt_nll": round(float(token_nll[prompt].mean()), 4) if bool(prompt.any()) else None,
                "answer_share_of_ascent_weight": round(float(weight[scored & is_answer].sum() / weight[scored].sum()), 4),
            }
    return out


def answer_nll(model_path: str, data: str) -> dict[str, float]:
    """The forget answers' mean token NLL per modality (measurement 3)."""
    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import forget_config
    from umu_hf.models.loading import load_model
    from umu_hf.privacy.mia import split_pairs, token_stats

    model, _, adapter = load_model(model_path, "cpu", "float32")
    pairs, images = split_pairs(load_umu_split(data, forget_config(RATIO), as_dataset=False), "forget")
    out = {}
    for modality, chosen in pairs.items():
        stats = token_stats(model, adapter, chosen, images)
        out[modality] = round(sum(-sum(s.log_probs) / len(s.log_probs) for s in stats) / len(stats), 4)
    return out


def accuracies(results: dict) -> dict[str, float]:
    return {f"{s}/{t}/{m}": round(results["sets"][s][t][f"{m}_acc"], 1) for s in ("forget", "retain")
            for t in ("classification", "cloze") for m in ("unimodal", "multimodal")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="the bench or sweep folder whose vanilla models to use")
    parser.add_argument("--seeds", default="100,101")
    parser.add_argument("--lr-scale", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    base = BenchSettings(eval_every="")
    bench = Bench(args.bench, base)
    data, data_key = bench.data()
    bench._data_key = data_key
    report: dict[str, Any] = {"lr_scale": args.lr_scale, "seeds": {}}
    for seed in (int(s) for s in args.seeds.split(",")):
        model, model_key = bench.base_model(data, data_key, seed)
        vanilla, vanilla_key = bench.vanilla(model, model_key, data, data_key, seed)
        entry: dict[str, Any] = {"gradients": gradient_report(vanilla, data), "answer_nll": {"vanilla": answer_nll(
            vanilla, data)}, "accuracy": {}}
        for name, change in VARIANTS.items():
            lora_target = change.get("lora_target_modules")
            extra = {k: v for k, v in change.items() if k != "lora_target_modules"}
            bench.s = replace(base, unlearn=replace(base.unlearn, lr_scale=args.lr_scale),
                              method_extra={"gd": extra} if extra else {})
            if lora_target:
                bench.s.unlearn = _LmOnly(**vars(bench.s.unlearn))
            path, key = bench.unlearned("gd", vanilla, vanilla_key, data, RATIO, seed)
            results, _ = bench.evaluate(f"{name.replace(' ', '_')}-s{seed}", path, key, data, RATIO)
            entry["accuracy"][name] = accuracies(results)
            if name == "gd":
                entry["answer_nll"]["after gd"] = answer_nll(path, data)
        report["seeds"][str(seed)] = entry
        print(json.dumps({seed: entry}, indent=1), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_json(Path(args.out) / "text_pathway.json", report)
    return 0


class _LmOnly(UnlearnTuning):
    """The bench's unlearning tuning with LoRA on the language model's layers only."""

    def lora(self) -> Any:
        return replace(super().lora(), lora_target_modules="lm")


if __name__ == "__main__":
    sys.exit(main())
