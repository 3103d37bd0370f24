"""``umu-hf space``: serve the Gradio app of a bench folder (the same app as ``spaces/umu_bench/app.py``)."""

from __future__ import annotations

import argparse
from typing import Any

from umu_hf.utils import DTYPES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``space`` to the ``umu-hf`` parser."""
    from umu_hf.bench.cli import DEFAULT_OUT

    p = subparsers.add_parser(
        "space",
        help="serve the Gradio app of a bench folder: before/after answers and the leaderboard",
        description="Compare the answers of the bench's models (vanilla vs unlearned) profile by profile and "
        "show "
        "the leaderboard. Only the models and data listed in the folder's bench.json are opened.",
    )
    p.add_argument(
        "--bench-dir", default=DEFAULT_OUT, help=f"the `umu-hf bench --out` folder (default: {DEFAULT_OUT})"
    )
    p.add_argument(
        "--bench-repo",
        help="instead of --bench-dir: a Hub dataset repo (ORG/NAME) holding a bench folder, downloaded first (as "
        "the Space does with $BENCH_REPO)",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1, this machine only)"
    )
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860)")
    p.add_argument(
        "--device", default="auto", help="device for the models: auto, cpu, cuda, cuda:N, mps (default: auto)"
    )
    p.add_argument("--dtype", default="auto", choices=DTYPES)
    p.add_argument(
        "--max-loaded-models", type=int, default=2,
        help="models kept in memory at once, least recently used dropped first (default 2: one comparison)",
    )
    p.set_defaults(func=_space)


def _space(args: argparse.Namespace) -> Any:
    from umu_hf.errors import UmuError
    from umu_hf.models.loading import resolve_device
    from umu_hf.space.app import build_app, launch

    if not 0 < args.port < 65536:
        raise UmuError(f"--port {args.port}: choose a port between 1 and 65535")
    resolve_device(args.device)  # a bad --device fails now, not at the first question
    bench_dir = args.bench_dir
    if args.bench_repo:
        from umu_hf.space.source import bench_from_hub

        bench_dir = bench_from_hub(args.bench_repo)
    launch(
        build_app(bench_dir, device=args.device, dtype=args.dtype, max_loaded_models=args.max_loaded_models),
        host=args.host,
        port=args.port,
    )
    return 0
