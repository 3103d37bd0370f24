"""``umu-hf finetune`` and ``umu-hf unlearn``: the training front end of :mod:`umu_hf.trainers.front`, the
same parser as ``python trainers/finetune.py`` / ``trainers/unlearn.py`` (same flags, same ``--help``)."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from umu_hf.trainers.registry import METHOD_NAMES

#: no command-line word starts with NUL, so this sub-parser takes every word after the command as a value and
#: hands them all, ``--help`` included, to the script's parser
_NO_OPTIONS = "\0"
_SUMMARIES = {
    "finetune": "vanilla fine-tuning on all profiles (the model to unlearn from); --help lists every flag",
    "unlearn": f"unlearn a forget set with one method ({', '.join(METHOD_NAMES)}); "
    "--method NAME --help lists every flag",
}


def _run(job: str, args: argparse.Namespace) -> int:
    from umu_hf.trainers.front import main

    return main(job, args.argv, prog=f"umu-hf {job}")


def register(sub: Any) -> None:
    """Add ``finetune`` and ``unlearn`` to the ``umu-hf`` parser."""
    for job, summary in _SUMMARIES.items():
        p = sub.add_parser(job, help=summary, add_help=False, prefix_chars=_NO_OPTIONS)
        p.add_argument("argv", nargs=argparse.REMAINDER)
        p.set_defaults(func=partial(_run, job))
