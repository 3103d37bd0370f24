"""leaderboard.json's payload: one row per (forget ratio, model) with its cells, per-modality numbers and
trajectory summary, and the comparisons between methods."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import umu_hf.leaderboard.modality as modality
import umu_hf.leaderboard.trajectory as trajectory
from umu_hf.leaderboard.columns import (
    BASELINE,
    PRIVACY_COLUMNS,
    RETAIN_MODEL,
    SIGNIFICANCE_NOTE,
    PrivacyColumn,
    column_specs,
    columns,
)
from umu_hf.scoring import headline_metric


@dataclass
class Run:
    """One evaluated model on one seed at one forget ratio: its results.json and per-question headline terms
    (``{(set, task): {(profile_id, index): term}}``, :func:`umu_hf.evaluation.results.headline_terms`)."""

    model: str
    forget_ratio: int
    seed: int
    results: Mapping[str, Any]
    terms: Mapping[tuple[str, str], Mapping[tuple[int, int], float]] = field(default_factory=dict)
    #: per-question per-modality scores, ``{(set, task, modality): {(profile_id, index): value}}``
    #: (:func:`umu_hf.evaluation.results.modality_terms`)
    modality: Mapping[tuple[str, str, str], Mapping[tuple[int, int], float]] = field(default_factory=dict)
    #: the unlearning run's probed trajectory (``umu_trajectory.json``), when it was recorded
    trajectory: Mapping[str, Any] | None = None
    #: why this run has no results (e.g. the method diverged); its cells are then null
    failed: str | None = None

    def privacy(self, column: PrivacyColumn) -> float | None:
        """This run's value of a privacy column (None without a ``privacy`` block)."""
        block = self.results.get("privacy")
        return column.value(block) if isinstance(block, Mapping) else None

    def value(self, set_name: str, task: str) -> float | None:
        cell = self.results.get("headline", {}).get(set_name, {}).get(task, {})
        value = cell.get(headline_metric(task, set_name))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)


def _matrix(runs: Sequence[Run], set_name: str, task: str) -> tuple[Any, list[int]] | None:
    """The seeds × questions array of headline terms (questions every seed answered) and the person (profile ID)
    each question is about, or None."""
    from umu_hf.leaderboard.modality import terms_matrix

    return terms_matrix([r.terms.get((set_name, task)) for r in runs])


def _comparison(a: Sequence[Run], b: Sequence[Run], set_name: str, task: str) -> dict[str, Any] | None:
    """Paired comparison a − b over the seeds both have (same seed = same vanilla), clustered by seed and person."""
    from umu_hf.leaderboard.modality import verdict
    from umu_hf.stats import compare

    seeds = sorted({r.seed for r in a} & {r.seed for r in b})
    by_a, by_b = {r.seed: r for r in a}, {r.seed: r for r in b}
    ma = _matrix([by_a[s] for s in seeds], set_name, task)
    mb = _matrix([by_b[s] for s in seeds], set_name, task)
    if ma is None or mb is None or ma[0].shape != mb[0].shape or ma[1] != mb[1]:
        return None
    return verdict(compare(ma[0], mb[0], ma[1]), seeds)


def build_board(runs: Sequence[Run], title: str = "UMU-Bench", baseline: str = BASELINE) -> dict[str, Any]:
    """The leaderboard.json payload from every run of a bench."""
    from umu_hf.stats import clipped, mean_ci, seed_summary

    groups: dict[tuple[int, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.forget_ratio, run.model), []).append(run)
    rows, comparisons = [], {}
    trajectories: dict[str, dict[str, Any]] = {}
    privacy = any(isinstance(r.results.get("privacy"), Mapping) for r in runs)
    robust = any(isinstance(r.results.get("robustness"), Mapping) for r in runs)
    for (ratio, model), group in groups.items():
        group = sorted(group, key=lambda r: r.seed)
        cells = {}
        for s, t, _ in columns():
            cell = seed_summary([r.value(s, t) for r in group])
            matrix = _matrix(group, s, t)
            cell["seeds"] = [r.seed for r in group]
            cell["n_questions"] = int(matrix[0].shape[1]) if matrix is not None else None
            ci = clipped(mean_ci(*matrix), 0.0, 100.0) if matrix is not None else None
            cell["ci"] = [_finite(v) for v in ci] if ci else None
            base = groups.get((ratio, baseline))
            cell["vs_vanilla"] = _comparison(group, base, s, t) if base and model != baseline else None
            cell["mean"], cell["sd"] = _finite(cell["mean"]), _finite(cell["sd"])
            cells[f"{s}/{t}"] = cell
        if privacy:
            for column in PRIVACY_COLUMNS:
                cells[column.key] = _privacy_cell([r.privacy(column) for r in group], [r.seed for r in group])
        if robust:
            from umu_hf.leaderboard.robustness import robustness_cells

            row_robustness = robustness_cells([r.results.get("robustness") for r in group], [r.seed for r in group])
        failed = {str(r.seed): r.failed for r in group if r.failed}
        row: dict[str, Any] = {"model": model, "forget_ratio": ratio, "cells": cells}
        if any(r.modality for r in group):
            base = groups.get((ratio, baseline)) if model != baseline else None
            row.update(per_modality=modality.modality_cells(group, base),
                       selectivity=modality.selectivity(group), misalignment=modality.misalignment(group))
        if any(r.trajectory for r in group):
            paths = {r.seed: r.trajectory for r in group}
            row["matched_forgetting"] = trajectory.matched_forgetting(paths)
            trajectories.setdefault(str(ratio), {})[model] = trajectory.mean_trajectory(paths)
        if robust:
            row["robustness"] = row_robustness
        rows.append({**row, **({"failed": failed} if failed else {})})
    for ratio in sorted({r for r, _ in groups}):
        methods = [m for (r, m) in groups if r == ratio and m not in (baseline, RETAIN_MODEL)]
        per_column = {}
        for s, t, _ in columns():
            pairs = []
            for i, a in enumerate(methods):
                for b in methods[i + 1 :]:
                    result = _comparison(groups[(ratio, a)], groups[(ratio, b)], s, t)
                    if result is not None:
                        pairs.append({"a": a, "b": b, **result})
            per_column[f"{s}/{t}"] = pairs
        per_column.update(modality.method_comparisons({m: groups[(ratio, m)] for m in methods}))
        comparisons[str(ratio)] = per_column
    return {
        "title": title,
        "columns": column_specs(privacy),
        "modality_columns": modality.modality_columns(),
        "rows": rows,
        "comparisons": comparisons,
        "significance": SIGNIFICANCE_NOTE,
        **({"trajectory": trajectories} if trajectories else {}),
        **({"robustness_columns": _robustness_columns()} if robust else {}),
    }


def _robustness_columns() -> list[dict[str, str]]:
    from umu_hf.leaderboard.robustness import robustness_columns

    return robustness_columns()


def _privacy_cell(values: Sequence[float | None], seeds: Sequence[int]) -> dict[str, Any]:
    """A privacy cell: mean ± sd over seeds, and (several seeds) a t interval over seeds only."""
    from umu_hf.stats import seed_interval, seed_summary

    cell = seed_summary(values)
    ci = seed_interval(values) if cell["mean"] is not None else None
    cell["ci"] = [_significant(v) for v in ci] if ci else None
    cell.update(seeds=list(seeds), n_questions=None, vs_vanilla=None, mean=_significant(cell["mean"]),
                sd=_significant(cell["sd"]))
    return cell


def _significant(value: float | None) -> float | None:
    """Four significant digits (a forget-quality p-value of 3e-9 stays 3e-9, not 0), None if not finite.

    >>> _significant(3.14159e-9), _significant(80.04567), _significant(float("nan"))
    (3.142e-09, 80.05, None)
    """
    return None if value is None or not math.isfinite(value) else float(f"{value:.4g}")


