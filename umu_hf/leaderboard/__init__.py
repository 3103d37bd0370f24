"""The leaderboard: one row per (forget ratio, model), each cell the mean ± sd over seeds with its uncertainty,
written as Markdown, JSON and a PNG with error bars.

Columns follow docs/protocol.md ("Metrics"): on the forget set AccF (classification, cloze) and RLF
(generation), lower is better; on the retain and real sets AccR and RLR, higher is better. Every header carries
its direction. A cell (``leaderboard.json``) holds the mean and sample sd over seeds, the per-seed values, the
number of seeds and questions, a 95 % interval of the mean over seeds *and* people (a t interval with two-way
cluster-robust variance, :mod:`umu_hf.stats`), and — for a method — the paired comparison with vanilla. Pairwise comparisons of the
methods are stored per column. In Markdown, ``*`` marks a cell that differs from vanilla beyond its uncertainty;
"Which gaps are real" lists, per column, the methods from better to worse with ``>`` where the gap to the next is
significant and ``≈`` where it is not. A value that cannot be computed is ``null`` in JSON and "–" in the table.

Beside the headline every row carries, per set × task × modality, the plain score with its interval and mark
(``per_modality``), and per method ``selectivity`` (kept set − forget set, per modality) and ``misalignment``
(forget unimodal − forget multimodal) with their intervals (:mod:`.modality`); unlearning runs probed with
``--eval_every`` add ``trajectory`` (forget vs retain accuracy over the steps, mean over seeds) and
``matched_forgetting`` (retain accuracy where forget accuracy first halves; :mod:`.trajectory`).

A bench run with ``--privacy`` adds the privacy columns (:data:`PRIVACY_COLUMNS`, per modality): the
membership-inference AUC of the forget set against the holdout (→ 0.5), forget quality against the retain model
(↑) and PrivLeak (→ 0) (:mod:`umu_hf.privacy.reference`). Each is one number per seed, so its cell has the mean ±
sd and a t interval over seeds only, and no significance mark.
"""

from __future__ import annotations

from umu_hf.leaderboard.board import Run, build_board
from umu_hf.leaderboard.columns import (
    BASELINE,
    PRIVACY_COLUMNS,
    PRIVACY_NOTE,
    REFERENCE_ROWS,
    RETAIN_MODEL,
    SIGNIFICANCE_NOTE,
    PrivacyColumn,
    column_specs,
    columns,
    direction,
)
from umu_hf.leaderboard.markdown import cell_text, to_markdown
from umu_hf.leaderboard.plot import plot
from umu_hf.leaderboard.write import write_leaderboard

__all__ = [
    "BASELINE", "PRIVACY_COLUMNS", "PRIVACY_NOTE", "REFERENCE_ROWS", "RETAIN_MODEL", "SIGNIFICANCE_NOTE",
    "PrivacyColumn", "Run", "build_board", "cell_text", "column_specs", "columns", "direction", "plot",
    "to_markdown", "write_leaderboard",
]
