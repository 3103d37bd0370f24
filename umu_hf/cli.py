"""The ``umu-hf`` command line.

Thin on purpose: each command group lives beside the code it drives (``umu_hf/<area>/cli.py``) and exposes
``register(subparsers)``; heavy libraries are imported only inside the handlers, so ``umu-hf --help`` is fast.
Input problems (:class:`umu_hf.errors.UmuError`) are printed as one line and exit with status 2.

Before any command loads torch, OpenMP threads are told to spin only briefly while they wait for each other
(``GOMP_SPINCOUNT=1000``, read by libgomp, the OpenMP of PyTorch's Linux wheels), unless the user set
``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``. By default they spin 300,000 times, and on a machine whose two cores
are shared with other work a spinning thread burns the time its preempted partner needs: there a two-thread
evaluation of the embedded tiny LLaVA ran 10-35 times slower than with one thread. The short spin is the safe
choice, not always the fastest: with one of two cores kept busy by another process, the runner on the embedded
data took 3.5 s with it against 5.7-9.4 s with the default spin (and 7.5-7.8 s with 30,000 spins); on an idle
machine it cost nothing in earlier measurements but a quarter on 2026-12-06 (the runner at UMU-Bench's size,
interleaved runs: 40.8-42.3 s against 30.5-32.0 s with the default spin; one thread: 41.8-44.0 s). On a machine
you have to yourself, ``GOMP_SPINCOUNT=300000`` restores OpenMP's default. ``OMP_WAIT_POLICY=PASSIVE`` costs a
third on an idle machine.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from umu_hf import __version__
from umu_hf.errors import UmuError
from umu_hf.utils import close_process_group

# module path -> each exposes ``register(subparsers)``; order is the order in ``--help``.
_COMMAND_MODULES = (
    "umu_hf.data.cli",  # data convert | synth | push
    "umu_hf.models.cli",  # model tiny
    "umu_hf.privacy.cli",  # eval (the evaluation's flags from umu_hf.evaluation.cli, the privacy flags added)
    "umu_hf.privacy.relearn",  # relearn
    "umu_hf.trainers.cli",  # finetune, unlearn
    "umu_hf.metrics_install",  # metrics install
    "umu_hf.bench.cli",  # bench
    "umu_hf.hub.cli",  # hub export | push
    "umu_hf.lmms.cli",  # export lmms-eval
    "umu_hf.space.cli",  # space
)


#: OpenMP busy-wait iterations before a waiting thread sleeps (see the module docstring)
SPIN_COUNT = "1000"


def build_parser() -> argparse.ArgumentParser:
    """The full ``umu-hf`` parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="umu-hf",
        description="UMU-Bench on Hugging Face: data, evaluation, unlearning and the leaderboard.",
    )
    parser.add_argument("--version", action="version", version=f"umu-hf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:  # a module that fails to import fails the whole CLI: no command goes missing
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``umu-hf`` console script."""
    if "torch" not in sys.modules and not {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY"} & set(os.environ):
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT  # read once, when torch loads libgomp
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        result = args.func(args)
        close_process_group()  # under torchrun / accelerate launch: every rank leaves together
    except UmuError as exc:
        print(f"umu-hf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"umu-hf {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
