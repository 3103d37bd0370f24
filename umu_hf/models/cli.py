"""``umu-hf model …``: build the embedded tiny LLaVA."""

from __future__ import annotations

import argparse
import time


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``model tiny`` to the ``umu-hf`` parser."""
    from umu_hf.models.tiny import TINY_SIZES

    model = subparsers.add_parser("model", help="build the embedded tiny LLaVA model")
    sub = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    tiny = sub.add_parser(
        "tiny",
        help="build a small random LLaVA (tokenizer trained on the dataset text) with no network",
        description="Train a byte-level BPE tokenizer on the dataset's text and save a randomly initialised "
        "LLaVA-1.5-architecture model + processor that AutoModelForImageTextToText/AutoProcessor load.",
    )
    tiny.add_argument(
        "--data",
        required=True,
        help="dataset: Hub-layout folder, published (legacy) folder or Hub repo id; its full config is read",
    )
    tiny.add_argument("--out", required=True, help="output model folder")
    tiny.add_argument(
        "--size", choices=sorted(TINY_SIZES), default="small", help="architecture (default: small)"
    )
    tiny.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default: 0)")
    tiny.add_argument("--overwrite", action="store_true", help="replace an existing --out folder that umu-hf wrote")
    tiny.set_defaults(func=_tiny)
    model.set_defaults(func=lambda args: model.print_help() or 2)


def _tiny(args: argparse.Namespace) -> int:
    from umu_hf.models.tiny import build_tiny_from_dataset

    start = time.perf_counter()
    out = build_tiny_from_dataset(
        args.data, args.out, size=args.size, seed=args.seed, overwrite=args.overwrite
    )
    print(
        f"tiny LLaVA ({args.size}, seed {args.seed}) written to {out} in {time.perf_counter() - start:.1f}s"
    )
    return 0
