"""The command-line parser of every front end whose flags are dataclass fields: the training front end
(:class:`umu_hf.trainers.front.TrainParser`) and ``umu-hf bench`` (:mod:`umu_hf.bench.cli`).

A flag is declared once, as a dataclass field with ``metadata={"help": ...}``; ``HfArgumentParser`` turns each
field into ``--field_name`` and, for names with underscores, the dashed ``--field-name`` (the same flag). This
parser adds what both front ends want on top: no abbreviations (``--out`` is never ``--output_dir``), an unknown
flag is an error naming it, and every error is one line (:class:`~umu_hf.errors.UmuError`), not argparse's
usage dump.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from typing import Any, NoReturn

from transformers import HfArgumentParser

from umu_hf.errors import UmuError


class FlagParser(HfArgumentParser):
    """``HfArgumentParser`` with one spelling per flag (no abbreviations) and one-line errors."""

    def __init__(self, dataclass_types: Sequence[type], **kwargs: Any) -> None:
        super().__init__(dataclass_types, allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UmuError(f"{message} (see {self.prog} --help)")

    def parse_namespace(self, argv: Sequence[str]) -> argparse.Namespace:
        """Every flag of ``argv``; an unknown one is an error naming it."""
        namespace, rest = self.parse_known_args(list(argv))
        if rest:
            self.error(f"unrecognized arguments: {' '.join(rest)}")
        return namespace

    def dataclasses_of(self, namespace: argparse.Namespace) -> tuple[Any, ...]:
        """One instance of each dataclass the parser was built from, filled from ``namespace``."""
        values = vars(namespace)
        return tuple(
            dtype(**{f.name: values[f.name] for f in dataclasses.fields(dtype) if f.init})
            for dtype in self.dataclass_types
        )

    def parse_dataclasses(self, argv: Sequence[str]) -> tuple[Any, ...]:
        """``argv`` as one instance of each dataclass, in the order the parser was given them."""
        return self.dataclasses_of(self.parse_namespace(argv))
