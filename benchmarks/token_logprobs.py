"""Per-token log-probabilities, ours (log_softmax then gather) against TRL's ``selective_log_softmax`` (gather minus
a row-wise logsumexp): peak memory and time of forward + backward at a LLaVA-1.5-sized batch.

    python benchmarks/token_logprobs.py [--batch 4 --seq 700 --vocab 32064 --repeats 3]

Each variant runs in a fresh process (its peak RSS is its own); the script prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

VARIANTS = ("log_softmax+gather", "trl.selective_log_softmax")


def _one(variant: str, batch: int, seq: int, vocab: int, repeats: int) -> dict:
    import resource
    import time

    import torch

    torch.manual_seed(0)
    logits = torch.randn(batch, seq, vocab, requires_grad=True)
    labels = torch.randint(0, vocab, (batch, seq))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        if variant == VARIANTS[0]:
            logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        else:
            from trl.trainer.utils import selective_log_softmax

            logp = selective_log_softmax(logits.float(), labels)
        logp.sum().backward()
        times.append(time.perf_counter() - start)
        logits.grad = None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"variant": variant, "seconds": min(times), "extra_peak_mib": (peak - base) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=700)
    parser.add_argument("--vocab", type=int, default=32064)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.batch, args.seq, args.vocab, args.repeats)))
        return
    size = args.batch * args.seq * args.vocab * 4 / 2**20
    print(f"batch {args.batch} x seq {args.seq} x vocab {args.vocab} (float32 logits: {size:.0f} MiB)\n")
    print(f"| variant | forward + backward, s (best of {args.repeats}) | peak memory above the logits, MiB |")
    print("|---|---:|---:|")
    for variant in VARIANTS:
        out = subprocess.run([sys.executable, __file__, "--one", variant, "--batch", str(args.batch), "--seq",
                              str(args.seq), "--vocab", str(args.vocab), "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"| {row['variant']} | {row['seconds']:.2f} | {row['extra_peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
