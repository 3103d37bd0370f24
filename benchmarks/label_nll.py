"""Which tokens the original protocol's unlearning loss is made of, for a given vanilla model.

The original scripts score every non-pad token of ``USER: [<image>\\n]{q}\\nASSISTANT: {a}`` (docs/protocol.md,
``label_mode="full"``). A pretrained-then-fine-tuned model predicts the prompt tokens well, so that loss moves
with the answers. A model that never learned to predict its prompts (the embedded tiny LLaVA trained from
scratch with answer-only labels) puts most of the loss, and so most of gradient ascent's push, on prompt tokens
it assigns near-zero probability, which carry no knowledge of the person. This script prints, for the
``MM_QA`` and ``UM_QA`` training pairs of a split, the mean NLL of prompt tokens and of answer tokens, and the
share of the full-label loss that the prompt tokens make up.

    python benchmarks/label_nll.py --model umu-bench-out/models/vanilla-XXXX --data umu-bench-out/data/synth-XXXX

Measured on the embedded bench (forget15, seed 0, 60 pairs per modality; prompt tokens are 80 % and 83 % of
the scored tokens): the tiny vanilla trained with answer-only labels has prompt-token NLL 17.5 (MM_QA) and 17.7
(UM_QA) against answer-token NLL 0.02 and 0.002 — the model is confidently wrong on every prompt token, and
the full-label loss is almost entirely that; trained with full labels, 0.15 and 0.29 against 0.009 and 0.003.
That is why the embedded vanilla fine-tuning uses full labels (docs/protocol.md).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def token_nll(model: Any, adapter: Any, pairs: list, images: dict, batch_size: int = 16) -> dict[str, float]:
    """Mean NLL of prompt tokens and of answer tokens over ``pairs``, scored as the original protocol's
    training text (no EOS), by :class:`umu_hf.data.collate.UMUCollator`'s own label masks."""
    import torch

    from umu_hf.data.collate import IGNORE_INDEX, UMUCollator

    full = UMUCollator(adapter, images, {}, label_mode="full")
    answer = UMUCollator(adapter, images, {}, label_mode="answer")
    sums = {"prompt": 0.0, "answer": 0.0}
    counts = {"prompt": 0, "answer": 0}
    device = next(model.parameters()).device
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        answers = [p.answer for p in chunk]
        batch = full.encode(chunk, answers)
        answer_labels = answer.encode(chunk, answers)["labels"]
        labels = batch.pop("labels")
        inputs = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad():
            logits = model(**inputs).logits.float().cpu()
        nll = torch.nn.functional.cross_entropy(
            logits[:, :-1].transpose(1, 2), labels[:, 1:], ignore_index=IGNORE_INDEX, reduction="none"
        )
        scored = labels[:, 1:] != IGNORE_INDEX
        is_answer = answer_labels[:, 1:] != IGNORE_INDEX
        for name, mask in (("answer", is_answer), ("prompt", scored & ~is_answer)):
            sums[name] += float(nll[mask].sum())
            counts[name] += int(mask.sum())
    total = sums["prompt"] + sums["answer"]
    return {
        "prompt_nll": sums["prompt"] / max(counts["prompt"], 1),
        "answer_nll": sums["answer"] / max(counts["answer"], 1),
        "prompt_tokens": counts["prompt"],
        "answer_tokens": counts["answer"],
        "prompt_share_of_loss": sums["prompt"] / total if total else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    from umu_hf.data.collate import flat_qa
    from umu_hf.data.decode import decode_images
    from umu_hf.data.load import load_umu_split
    from umu_hf.models.loading import load_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="forget15", help="dataset config whose training pairs are scored")
    parser.add_argument("--limit", type=int, default=200, help="at most this many pairs per modality")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    model, _, adapter = load_model(args.model, device=args.device)
    split = load_umu_split(args.data, args.config)
    images = decode_images(split)
    report = {}
    for column, with_image in (("MM_QA", True), ("UM_QA", False)):
        pairs = flat_qa(split, column, with_image, args.config)[: args.limit]
        report[column] = {k: round(v, 4) for k, v in token_nll(model, adapter, pairs, images).items()}
    print(json.dumps({"model": args.model, "config": args.config, **report}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
