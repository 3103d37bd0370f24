"""Trajectories in the leaderboard: each method's probed forget and retain accuracy over its unlearning steps
(:mod:`umu_hf.trainers.trajectory`), averaged over seeds, and **matched forgetting**.

Matched forgetting compares methods at the same amount of forgetting instead of at one learning rate: per seed,
the retain accuracy of a modality at the point of the trajectory where that modality's forget accuracy first
falls to half of its starting value (the vanilla model's), linearly interpolated between the two probes around
it; "not reached" when it never does. Higher is better: the method kept more of the retain set for the same
forgetting. The headline number is classification with the portrait (``classification/multimodal``); every probed
task × modality is kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from umu_hf.data.schema import MODALITIES

#: matched forgetting's target: forget accuracy at this fraction of its starting value
TARGET_FRACTION = 0.5
PROBED = ("classification", "cloze")


def matched_point(points: Sequence[Mapping[str, Any]], task: str, modality: str,
                  fraction: float = TARGET_FRACTION) -> float | None:
    """Retain accuracy where forget accuracy first reaches ``fraction`` × its value at the first point
    (interpolated), or None when it never does.

    >>> pts = [{"values": {"forget/cloze/multimodal": 100.0, "retain/cloze/multimodal": 100.0}},
    ...        {"values": {"forget/cloze/multimodal": 60.0, "retain/cloze/multimodal": 90.0}},
    ...        {"values": {"forget/cloze/multimodal": 20.0, "retain/cloze/multimodal": 50.0}}]
    >>> matched_point(pts, "cloze", "multimodal")
    80.0
    """
    forget_key, retain_key = f"forget/{task}/{modality}", f"retain/{task}/{modality}"
    series = [(p["values"].get(forget_key), p["values"].get(retain_key)) for p in points]
    series = [(f, r) for f, r in series if f is not None and r is not None]
    if not series:
        return None
    target = fraction * series[0][0]
    for (f0, r0), (f1, r1) in zip(series, series[1:], strict=False):
        if f1 <= target:
            share = 1.0 if f0 == f1 else (f0 - target) / (f0 - f1)
            return r0 + share * (r1 - r0)
    return None


def matched_forgetting(trajectories: Mapping[int, Mapping[str, Any] | None]) -> dict[str, dict[str, Any]]:
    """``{"task/modality": {"values": per seed (None = not reached), "reached", "n", "mean", "sd", "ci"}}`` from
    ``{seed: trajectory}``; mean, sd and interval (over seeds) only when every seed reached the target."""
    from umu_hf.stats import clipped, seed_interval, seed_summary

    out = {}
    for task in PROBED:
        for modality in MODALITIES:
            values = [matched_point(t["points"], task, modality) if t else None for t in trajectories.values()]
            reached = sum(v is not None for v in values)
            cell: dict[str, Any] = {"values": [_round(v) for v in values], "seeds": list(trajectories),
                                    "reached": reached, "n": len(values), "mean": None, "sd": None, "ci": None}
            if values and reached == len(values):
                summary = seed_summary(values)
                ci = clipped(seed_interval(values), 0.0, 100.0)
                cell.update(mean=_round(summary["mean"]), sd=_round(summary["sd"]),
                            ci=[_round(v) for v in ci] if ci else None)
            out[f"{task}/{modality}"] = cell
    return out


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 2)


def mean_trajectory(trajectories: Mapping[int, Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """``{"steps", "epochs", "mean": {key: [...]}, "per_seed": {seed: {key: [...]}}, "scoring"}`` over the steps
    every seed probed (the same data gives every seed the same steps), or None without trajectories."""
    present = {seed: t for seed, t in trajectories.items() if t and t.get("points")}
    if not present:
        return None
    common = sorted(set.intersection(*({p["step"] for p in t["points"]} for t in present.values())))
    by_step = {seed: {p["step"]: p for p in t["points"]} for seed, t in present.items()}
    first = next(iter(present.values()))
    keys = list(first["points"][0]["values"])
    per_seed = {str(seed): {k: [by_step[seed][s]["values"].get(k) for s in common] for k in keys}
                for seed in present}
    mean = {k: [_round(sum(per_seed[str(seed)][k][i] for seed in present) / len(present)) for i in
                range(len(common))] for k in keys}
    return {"scoring": first.get("scoring"), "every": first.get("every"), "steps": common,
            "epochs": [by_step[next(iter(present))][s]["epoch"] for s in common], "seeds": list(present),
            "mean": mean, "per_seed": per_seed}


def markdown(board: Mapping[str, Any]) -> list[str]:
    """The matched-forgetting table as Markdown lines (empty without trajectories)."""
    rows = [r for r in board["rows"] if r.get("matched_forgetting")]
    if not rows:
        return []
    keys = [f"{t}/{m}" for t in PROBED for m in ("multimodal", "unimodal")]
    heads = [f"retain {'Cls' if k.startswith('class') else 'Cloze'} {'mm' if 'multi' in k else 'uni'} ↑" for k in keys]
    lines = ["", f"Matched forgetting: retain accuracy (probe) where the same modality's forget accuracy first falls "
             f"to {TARGET_FRACTION:.0%} of vanilla's, mean [95 % interval over seeds]; 'not reached k/n' when only k of "
             "n seeds got there:", "", "| forget % | model | " + " | ".join(heads) + " |",
             "|---:|---|" + "---:|" * len(heads)]
    for row in rows:
        cells = []
        for key in keys:
            cell = row["matched_forgetting"].get(key) or {}
            if cell.get("mean") is None:
                cells.append(f"not reached {cell.get('reached', 0)}/{cell.get('n', 0)}")
            else:
                ci = cell.get("ci")
                cells.append(f"{cell['mean']:.1f}" + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""))
        lines.append(f"| {row['forget_ratio']} | {row['model']} | " + " | ".join(cells) + " |")
    return lines
