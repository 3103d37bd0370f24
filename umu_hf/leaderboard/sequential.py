"""The leaderboard's sequential section (``umu-hf bench --sequential 5,10,15``): deletion requests served one after
another, each on the model the one before left.

Request 1 is the first ratio's forget set (forget05), request k the people the k-th ratio's forget set adds to the
previous one's (forget10 − forget05, then forget15 − forget10). Every model of a sequence — vanilla before the first
request, then the model after each — is evaluated once at the last ratio (forget15, retain85, real), and its forget
set is split into each request's people (:func:`umu_hf.evaluation.results.people_terms`): a request's people are
scored before it is made (they are still to be known), right after it, and after every later request.

Per method, over seeds (leaderboard.json ``sequential``):

- ``steps``: per number of requests served (0 = vanilla) and ``at_once`` (the bench's run unlearning the last
  ratio's forget set in one go), the per-modality score of each request's people, of retain and of real;
- ``retention`` of earlier forgetting, per task and modality: the forget score of every earlier request's people
  (all but the last request) after the last request minus right after their own request — **recovery**, in
  points: 0 = the forgetting held, > 0 = it climbed back, < 0 = later requests erased more of them; also per
  request;
- ``utility_decay``, per set (retain, real), task and modality: (score before the first request − score after the
  last) / number of requests — points lost per request; > 0 = utility lost;
- ``vs_at_once``, per set (forget = every request's people, retain, real), task and modality: the score after the
  last request minus the score of unlearning it all at once (forget: > 0 = sequential forgot less; retain, real:
  > 0 = sequential kept more).

Every interval is :mod:`umu_hf.stats`' t interval with two-way cluster-robust variance over seeds and people (the
same estimator as every other interval of the leaderboard), paired on the same questions.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from umu_hf.data.schema import MODALITIES, TASKS
from umu_hf.evaluation.results import people_terms
from umu_hf.leaderboard.modality import paired_terms, score_cell, verdict

#: per-question per-modality scores of one evaluation, ``{(set, task, modality): {(profile_id, index): value}}``
Terms = Mapping[tuple[str, str, str], Mapping[tuple[int, int], float]]
#: the sets besides the requests' people
KEPT_SETS = ("retain", "real")
#: the tasks and modalities of the Markdown summary (every task is in leaderboard.json)
SUMMARY_TASKS = ("classification", "cloze")
PNG = "leaderboard-sequential.png"
_TASK_LABEL = {"classification": "Cls", "cloze": "Cloze", "generation": "Gen"}
_MOD_LABEL = {"multimodal": "image", "unimodal": "text"}


@dataclass
class SequenceRun:
    """One method's sequence on one seed: the per-modality terms (:func:`umu_hf.evaluation.results.modality_terms`)
    of the model before the first request and after each one (``steps[k]``: after k requests), all evaluated at the
    last ratio, and ``at_once``, those of the same method unlearning the last ratio's forget set in one go."""

    method: str
    seed: int
    steps: Sequence[Terms] = ()
    at_once: Terms | None = None
    #: why the sequence has no results (a step diverged)
    failed: str | None = None


def group(k: int) -> str:
    """The name of request ``k``'s people (1-based) in keys: ``request1``."""
    return f"request{k}"


def _split(terms: Terms | None, people: Sequence[Sequence[int]]) -> dict[tuple[str, ...], Any]:
    """``terms`` with the forget set also split into each request's people."""
    if terms is None:
        return {}
    return {**terms, **people_terms(terms, "forget", {group(k): ids for k, ids in enumerate(people, start=1)})}


def sequential_section(runs: Sequence[SequenceRun], ratios: Sequence[int],
                       people: Sequence[Sequence[int]]) -> dict[str, Any]:
    """leaderboard.json's ``sequential``: the requests and, per method, its steps, retention, utility decay and
    comparison with unlearning at once (module docstring). ``people[k]``: request k+1's profile IDs."""
    from umu_hf.data.schema import forget_config

    requests = [{"request": k, "ratio": ratio, "config": forget_config(ratio), "people": list(ids),
                 **({"adds_to": forget_config(ratios[k - 2])} if k > 1 else {})}
                for k, (ratio, ids) in enumerate(zip(ratios, people, strict=True), start=1)]
    by_method: dict[str, list[SequenceRun]] = {}
    for run in runs:
        by_method.setdefault(run.method, []).append(run)
    methods = {name: _method(sorted(group_runs, key=lambda r: r.seed), people)
               for name, group_runs in by_method.items()}
    return {"ratios": list(ratios), "evaluated_at": forget_config(ratios[-1]), "requests": requests,
            "groups": [group(k) for k in range(1, len(ratios) + 1)] + list(KEPT_SETS), "methods": methods}


def _method(runs: Sequence[SequenceRun], people: Sequence[Sequence[int]]) -> dict[str, Any]:
    """One method's entry of the section from its runs (one per seed, sorted)."""
    n = len(people)
    done = [r for r in runs if not r.failed and len(r.steps) == n + 1]
    seeds = [r.seed for r in done]
    steps = [[_split(r.steps[k], people) for r in done] for k in range(n + 1)]
    keys = [(g, t, m) for g in [group(k) for k in range(1, n + 1)] + list(KEPT_SETS) for t in TASKS
            for m in MODALITIES]
    out: dict[str, Any] = {
        "seeds": seeds,
        "steps": [{"requests": k, "cells": {"/".join(key): score_cell([m.get(key) for m in steps[k]], seeds)
                                            for key in keys}} for k in range(n + 1)] if done else [],
    }
    with_once = [r for r in done if r.at_once is not None]
    once = [_split(r.at_once, people) for r in with_once]
    once_seeds = [r.seed for r in with_once]
    out["at_once"] = {"seeds": once_seeds, "cells": {"/".join(key): score_cell([m.get(key) for m in once], once_seeds)
                                                     for key in keys}} if with_once else None
    out["retention"] = retention(steps, seeds) if done else {}
    out["utility_decay"] = utility_decay(steps, seeds) if done else {}
    final = [m for r, m in zip(done, steps[-1], strict=True) if r.at_once is not None]
    out["vs_at_once"] = vs_at_once(final, once, once_seeds) if with_once else {}
    failed = {str(r.seed): r.failed or "incomplete" for r in runs if r.seed not in seeds}
    return {**out, **({"failed": failed} if failed else {})}


def retention(steps: Sequence[Sequence[Mapping[tuple[str, ...], Any]]], seeds: Sequence[int]) -> dict[str, Any]:
    """``{"task/modality": recovery}``: the forget score of every earlier request's people after the last request
    minus right after their own (``steps[k][seed]``: the split terms after k requests), paired on the same questions
    and pooled over the earlier requests, with ``per_request`` the same for each alone."""
    import numpy as np

    from umu_hf.stats import compare

    n = len(steps) - 1
    out = {}
    for task in TASKS:
        for modality in MODALITIES:
            blocks, per_request = [], {}
            for k in range(1, n):
                key = (group(k), task, modality)
                paired = paired_terms([m.get(key) for m in steps[n]], [m.get(key) for m in steps[k]])
                if paired is not None:
                    per_request[group(k)] = verdict(compare(*paired), seeds)
                    blocks.append(paired)
            if not blocks:
                continue
            after, own = np.hstack([b[0] for b in blocks]), np.hstack([b[1] for b in blocks])
            people = [p for b in blocks for p in b[2]]
            out[f"{task}/{modality}"] = {**verdict(compare(after, own, people), seeds), "per_request": per_request}
    return out


def utility_decay(steps: Sequence[Sequence[Mapping[tuple[str, ...], Any]]], seeds: Sequence[int]) -> dict[str, Any]:
    """``{"set/task/modality": decay}`` for the kept sets: (score before the first request − after the last) / the
    number of requests, paired on the same questions."""
    from umu_hf.stats import compare

    n = len(steps) - 1
    out = {}
    for set_name in KEPT_SETS:
        for task in TASKS:
            for modality in MODALITIES:
                key = (set_name, task, modality)
                paired = paired_terms([m.get(key) for m in steps[0]], [m.get(key) for m in steps[n]])
                if paired is not None:
                    before, after, people = paired
                    out["/".join(key)] = verdict(compare(before / n, after / n, people), seeds)
    return out


def vs_at_once(final: Sequence[Mapping[tuple[str, ...], Any]], once: Sequence[Mapping[tuple[str, ...], Any]],
               seeds: Sequence[int]) -> dict[str, Any]:
    """``{"set/task/modality": gap}``: the score after the last request minus unlearning everything at once, for the
    forget set (every request's people), retain and real, paired on the same seeds and questions."""
    from umu_hf.stats import compare

    out = {}
    for set_name in ("forget", *KEPT_SETS):
        for task in TASKS:
            for modality in MODALITIES:
                key = (set_name, task, modality)
                paired = paired_terms([m.get(key) for m in final], [m.get(key) for m in once])
                if paired is not None:
                    out["/".join(key)] = verdict(compare(*paired), seeds)
    return out


# ---- Markdown ----------------------------------------------------------------------------------------------------
def _pair(cells: Mapping[str, Any], prefix: str) -> str:
    """``image / text`` means of one group and task (``–`` where missing)."""
    values = [(cells.get(f"{prefix}/{m}") or {}).get("mean") for m in ("multimodal", "unimodal")]
    return " / ".join("–" if v is None else f"{v:.0f}" for v in values)


def _estimate(est: Mapping[str, Any] | None) -> str:
    """``diff [lo, hi]`` with ``*`` when the interval excludes 0."""
    if not est or est.get("diff") is None:
        return "–"
    text = f"{est['diff']:+.1f}"
    if est.get("ci"):
        text += f" [{est['ci'][0]:.0f}, {est['ci'][1]:.0f}]"
    return text + ("*" if est.get("significant") else "")


def markdown(section: Mapping[str, Any] | None) -> list[str]:
    """The sequential tables as Markdown lines (none without a section): per task, each group's score after each
    request; then retention and utility decay per method, and the comparison with unlearning at once."""
    if not section or not section.get("methods"):
        return []
    requests, methods = section["requests"], section["methods"]
    n = len(requests)
    seeds = sorted({s for entry in methods.values() for s in entry["seeds"]})
    who = "; ".join(f"request {r['request']} = " + (f"{r['config']}" if r["request"] == 1 else
                                                      f"the people {r['config']} adds to {r['adds_to']}")
                    + f" ({len(r['people'])})" for r in requests)
    heads = [f"request {r['request']} ({r['ratio']} %)" for r in requests] + list(KEPT_SETS)
    lines = ["", f"Sequential unlearning (`--sequential {','.join(map(str, section['ratios']))}`): deletion requests "
             f"served one after another, each on the model the one before left — {who}; every model evaluated on "
             f"{section['evaluated_at']}'s forget set split by request, retain and real. Score of each group with the "
             f"portrait / in text (%, generation ROUGE-L), mean over {len(seeds)} seed(s); requests 0 = vanilla, "
             "'at once' = the bench's run unlearning every request's people in one go (forget: lower is better, "
             "retain and real: higher):"]
    groups = section["groups"]
    first = next((e for e in methods.values() if e["steps"]), None)
    for task in TASKS:
        lines += ["", f"| {_TASK_LABEL[task]} | requests | " + " | ".join(heads) + " |",
                  "|---|---:|" + "---:|" * len(heads)]
        if first is not None:
            lines.append("| vanilla | 0 | " + " | ".join(_pair(first["steps"][0]["cells"], f"{g}/{task}")
                                                     for g in groups) + " |")
        for name, entry in methods.items():
            for step in entry["steps"][1:]:
                lines.append(f"| {name} | {step['requests']} | "
                             + " | ".join(_pair(step["cells"], f"{g}/{task}") for g in groups) + " |")
            if entry.get("at_once"):
                lines.append(f"| {name} | at once | "
                             + " | ".join(_pair(entry["at_once"]["cells"], f"{g}/{task}") for g in groups) + " |")
    columns = [(t, m) for t in SUMMARY_TASKS for m in ("multimodal", "unimodal")]
    label = [f"{_TASK_LABEL[t]} {_MOD_LABEL[m]}" for t, m in columns]
    lines += ["", "Retention of earlier forgetting — **recovery**: the forget score of requests 1–"
              f"{n - 1}'s people after request {n} minus right after their own request (points; 0 = the forgetting "
              "held, > 0 = it climbed back) — and **utility decay** per request: (score before request 1 − after "
              f"request {n}) / {n} (points lost per request). Mean [95 % interval over seeds and people], `*` the "
              "interval excludes 0:", "",
              "| method | " + " | ".join([f"recovery {h}" for h in label] + [f"decay {s} {h}" for s in KEPT_SETS
                                                                            for h in label]) + " |",
              "|---|" + "---:|" * (len(label) * 3)]
    for name, entry in methods.items():
        cells = [_estimate(entry["retention"].get(f"{t}/{m}")) for t, m in columns]
        cells += [_estimate(entry["utility_decay"].get(f"{s}/{t}/{m}")) for s in KEPT_SETS for t, m in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Sequential − at once (after request {n} minus unlearning {section['evaluated_at']} in one go, "
              "points; forget = every request's people: > 0 sequential forgot less; retain, real: > 0 sequential "
              "kept more), mean [95 % interval], `*` the interval excludes 0:", "",
              "| method | " + " | ".join(f"{s} {h}" for s in ("forget", *KEPT_SETS) for h in label) + " |",
              "|---|" + "---:|" * (len(label) * 3)]
    for name, entry in methods.items():
        cells = [_estimate(entry["vs_at_once"].get(f"{s}/{t}/{m}")) for s in ("forget", *KEPT_SETS)
                 for t, m in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    failed = {name: entry["failed"] for name, entry in methods.items() if entry.get("failed")}
    if failed:
        lines += ["", "Sequences that failed (left out of their method's numbers): "
                  + "; ".join(f"{name}, seed {', '.join(seeds_)}" for name, seeds_ in failed.items())]
    lines += ["", f"Plot: {PNG} (one row per method: each group's score against the number of requests served)."]
    return lines


# ---- PNG ---------------------------------------------------------------------------------------------------------
def plot(section: Mapping[str, Any], path: Path) -> None:
    """One row per method, one panel per task × modality of :data:`SUMMARY_TASKS`: each request's people (a colour
    each, a ring where the request is made) and retain / real (black / grey) against the number of requests served,
    mean over seeds; the at-once run's values as crosses at the last request."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from umu_hf.utils import atomic_write_bytes

    methods = {name: entry for name, entry in section["methods"].items() if entry["steps"]}
    panels = [(t, m) for t in SUMMARY_TASKS for m in ("multimodal", "unimodal")]
    fig, axes = plt.subplots(max(1, len(methods)), len(panels), figsize=(3.6 * len(panels), 2.9 * max(1, len(methods))),
                             squeeze=False)
    cmap = plt.get_cmap("tab10")
    n = len(section["requests"])
    styles = {g: {"color": cmap(k % 10)} for k, g in enumerate(section["groups"][:n])}
    styles.update(retain={"color": "black", "linewidth": 2.0}, real={"color": "0.55", "linewidth": 2.0})
    for row, (name, entry) in enumerate(methods.items()):
        for col, (task, modality) in enumerate(panels):
            ax = axes[row][col]
            for k, g in enumerate(section["groups"], start=1):
                key = f"{g}/{task}/{modality}"
                ys = [step["cells"][key]["mean"] for step in entry["steps"]]
                ax.plot(range(n + 1), [float("nan") if y is None else y for y in ys], marker=".",
                        label=("request " + g.removeprefix("request")) if g.startswith("request") else g, **styles[g])
                if g.startswith("request") and ys[k] is not None:
                    ax.plot([k], [ys[k]], marker="o", markersize=7, fillstyle="none", color=styles[g]["color"])
                once = ((entry.get("at_once") or {}).get("cells") or {}).get(key) or {}
                if once.get("mean") is not None:
                    ax.plot([n], [once["mean"]], marker="x", markersize=8, color=styles[g]["color"])
            ax.set_title(f"{name} — {_TASK_LABEL[task]} {_MOD_LABEL[modality]}", fontsize=9)
            ax.set_xticks(range(n + 1))
            ax.set_ylim(-5, 105)
            ax.grid(alpha=0.3)
            if row == len(methods) - 1:
                ax.set_xlabel("requests served", fontsize=8)
        axes[row][0].set_ylabel("score (%)")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8,
                       title="ring: request made\n×: at once")
    fig.suptitle(f"Sequential unlearning {','.join(map(str, section['ratios']))}: each group's score after each "
                 "request (mean over seeds)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the title above the top row
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, image.getvalue())
