"""One evaluation request (:class:`EvalRequest`): what to evaluate, how, and into which folder, checked when made;
its ``identity`` is what a results folder is matched against."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from umu_hf.data.schema import SETS, TASKS, check_forget_ratio
from umu_hf.errors import UmuError
from umu_hf.evaluation.batching import check_batch_size, check_positive
from umu_hf.evaluation.items import task_scorings
from umu_hf.identity import source_id


def task_budgets(overrides: Mapping[str, int] | None) -> dict[str, int]:
    """Every task's ``max_new_tokens``: docs/protocol.md's, with ``overrides`` checked and applied."""
    from umu_hf.prompts import MAX_NEW_TOKENS

    budgets = dict(MAX_NEW_TOKENS)
    for task, tokens in (overrides or {}).items():
        if task not in TASKS:
            raise UmuError(f"max_new_tokens: unknown task {task!r}; tasks are {', '.join(TASKS)}")
        budgets[task] = check_positive(tokens, f"max_new_tokens[{task}]")
    return budgets


@dataclass(frozen=True)
class EvalRequest:
    """One evaluation: ``model`` (a local folder or a Hub id) on UMU-Bench ``data`` (likewise) at
    ``forget_ratio`` into ``out_dir``. Checked when made (:class:`UmuError` names a bad value) and normalised:
    ``forget_ratio`` an int, ``sets`` a tuple without repeats, ``max_new_tokens`` every task's budget.

    ``batch_size``: questions per ``generate`` call, or ``"auto"``
    (:func:`umu_hf.evaluation.batching.resolve_batch_size`); it never changes a reply. ``limit``: only the
    first ``limit`` question pairs of each set and task.
    ``device``/``dtype``: where and how the model is loaded. ``classification_scoring``: ``"loglik"`` also
    scores the classification questions by option log-likelihood (``results["loglik"]``; the headline stays
    the original protocol). ``overwrite``: discard another run's results in ``out_dir`` instead of refusing.
    ``max_new_tokens``: per-task overrides of the original budgets (recorded; they change the numbers).
    (The privacy block is measured on top of an evaluation: :func:`umu_hf.privacy.block.evaluate_with_privacy`.)
    """

    model: str
    data: str
    forget_ratio: int | str
    out_dir: str | os.PathLike
    _: KW_ONLY
    batch_size: int | str = "auto"
    limit: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    classification_scoring: str = "generate"
    sets: Sequence[str] = SETS
    overwrite: bool = False
    max_new_tokens: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        from umu_hf.utils import check_dtype

        ratio = check_forget_ratio(self.forget_ratio)
        sets = tuple(dict.fromkeys([self.sets] if isinstance(self.sets, str) else self.sets))
        unknown = [s for s in sets if s not in SETS]
        if unknown or not sets:
            raise UmuError(f"unknown evaluation set(s) {unknown or '(none)'}; choose from {', '.join(SETS)}")
        task_scorings("classification", self.classification_scoring)  # raises on an unknown scoring
        check_dtype(self.dtype)
        budgets = task_budgets(self.max_new_tokens)
        check_batch_size(self.batch_size)
        check_positive(self.limit, "limit", allow_none=True)
        for name, value in (("forget_ratio", ratio), ("sets", sets), ("max_new_tokens", budgets)):
            object.__setattr__(self, name, value)

    @property
    def budgets(self) -> dict[str, int]:
        """Every task's ``max_new_tokens``."""
        return dict(self.max_new_tokens or {})

    def identity(self) -> dict[str, Any]:
        """The settings that change the numbers (``run.json``; a rerun with others is refused). ``dtype`` is
        None until the model is loaded."""
        return {
            "model": source_id(self.model),
            "data": source_id(self.data),
            "forget_ratio": self.forget_ratio,
            "limit": self.limit,
            "classification_scoring": self.classification_scoring,
            "max_new_tokens": self.budgets,
            "dtype": None,
        }
