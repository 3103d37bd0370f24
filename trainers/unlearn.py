"""Unlearn a UMU-Bench forget set with one method, Trainer-style; ``umu-hf unlearn`` is this same front end.

    python trainers/unlearn.py --method npo --model MODEL --data DATA --forget_ratio 5 --output_dir out/npo
    python trainers/unlearn.py --config my_npo.yaml --model MODEL --data DATA --output_dir out/npo  # a recipe
    accelerate launch --num_processes 2 trainers/unlearn.py --method npo ...   # data-parallel

Every field of the method's config (``TrainingArguments`` + alpha/gamma/beta/...) is a flag; ``--help`` with
``--method`` lists them. Command-line flags override a ``--config`` recipe (:mod:`umu_hf.trainers.front`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from umu_hf.trainers import front


def make_parser(argv: Sequence[str] = ()) -> front.TrainParser:
    """The parser ``umu-hf unlearn`` uses too; ``argv`` picks the method's Config and the ``--config`` recipe."""
    return front.make_parser("unlearn", argv, prog="unlearn.py")


def main(argv: Sequence[str] | None = None) -> int:
    return front.script_main("unlearn", "unlearn.py", argv)


if __name__ == "__main__":
    sys.exit(main())
