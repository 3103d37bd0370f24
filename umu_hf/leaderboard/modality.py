"""Per-modality scores, selectivity and misalignment: what UMU-Bench exists to show, read per modality.

The headline metrics mix the two modalities on purpose (AccF: right in *at least one*; AccR: right in *both*), so a
method that forgets with the portrait but not in text reads "forgot nothing" on the forget set and "broke it" on
the retain set. Beside them every bench row carries, per set × task × modality, the plain score and, per method,
two derived numbers:

- **score** of a modality: the mean over a set's questions of 100 × correct (classification, cloze) or 100 ×
  ROUGE-L F1 (generation) — results.json's ``unimodal_acc``/``multimodal_acc``/``*_rougeL``;
- **selectivity** (per task and modality): ``retain score − forget score`` and ``real score − forget score``.
  Vanilla knows both (≈ 0), a method that erases everything knows neither (≈ 0); a method that forgets what it
  should and keeps the rest scores high. Higher is better;
- **misalignment** (per task): ``forget unimodal − forget multimodal``: > 0 the text still answers what the image
  no longer does, < 0 the reverse; 0 = both modalities forgot alike.

Each comes with its 95 % interval over seeds and people (:mod:`umu_hf.stats`): the same seeds answer every set,
and questions about one person are one cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from umu_hf.data.schema import MODALITIES, SETS, TASKS

_TASK_LABEL = {"classification": "Cls", "cloze": "Cloze", "generation": "Gen"}
_MOD_LABEL = {"unimodal": "uni", "multimodal": "mm"}
#: the sets selectivity compares with the forget set
KEPT_SETS = ("retain", "real")
#: a per-question value map of one run: ``{(profile_id, index): value}``
TermMap = Mapping[tuple[int, int], float]


def score_name(task: str) -> str:
    """``acc`` for classification and cloze, ``rougeL`` for generation."""
    return "rougeL" if task == "generation" else "acc"


def modality_columns() -> list[dict[str, str]]:
    """leaderboard.json's description of each per-modality column (key ``set/task/modality``)."""
    return [
        {"key": f"{s}/{t}/{m}", "header": f"{s} {_TASK_LABEL[t]} {_MOD_LABEL[m]} {'↓' if s == 'forget' else '↑'}",
         "set": s, "task": t, "modality": m, "metric": score_name(t),
         "direction": "lower" if s == "forget" else "higher"}
        for s in SETS for t in TASKS for m in MODALITIES
    ]


def terms_matrix(maps: Sequence[TermMap | None]) -> tuple[Any, list[int]] | None:
    """``(S × Q array, people)`` from one ``{(profile_id, index): value}`` map per seed, over the questions every
    seed answered; the person of a question is its profile ID. None when a seed has no values."""
    import numpy as np

    if not maps or any(not m for m in maps):
        return None
    keys = sorted(set.intersection(*(set(m) for m in maps)))
    if not keys:
        return None
    return np.array([[m[k] for k in keys] for m in maps], dtype=float), [k[0] for k in keys]


def finite(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded, or None when it is missing or not finite."""
    import math

    return None if value is None or not math.isfinite(value) else round(float(value), digits)


def verdict(result: Mapping[str, Any], seeds: Sequence[int]) -> dict[str, Any]:
    """A :mod:`umu_hf.stats` comparison of two percentages for leaderboard.json: rounded numbers, the interval
    within −100–100, and the seeds it used."""
    from umu_hf.stats import clipped

    ci = clipped(result["ci"], -100.0, 100.0)
    out = {"diff": finite(result["diff"]), "ci": [finite(v) for v in ci] if ci else None,
           "significant": result["significant"], "df": result["df"], "seeds": list(seeds)}
    if "reason" in result:
        out["reason"] = result["reason"]
    return out


def _modality_maps(runs: Sequence[Any], key: tuple[str, str, str]) -> list[TermMap | None]:
    return [r.modality.get(key) for r in runs]


def score_cell(maps: Sequence[TermMap | None], seeds: Sequence[int]) -> dict[str, Any]:
    """One score (percent) over seeds from its per-question maps, one per seed: mean ± sd over seeds, per-seed
    values, the number of questions and the interval over seeds and people (within 0–100)."""
    from umu_hf.stats import clipped, mean_ci, seed_summary

    cell = seed_summary([sum(m.values()) / len(m) if m else None for m in maps])
    matrix = terms_matrix(maps)
    ci = clipped(mean_ci(*matrix), 0.0, 100.0) if matrix is not None else None
    cell.update(mean=finite(cell["mean"]), sd=finite(cell["sd"]), seeds=list(seeds),
                n_questions=int(matrix[0].shape[1]) if matrix is not None else None,
                ci=[finite(v) for v in ci] if ci else None)
    cell["values"] = [finite(v) for v in cell["values"]]
    return cell


def modality_cells(runs: Sequence[Any], baseline: Sequence[Any] | None) -> dict[str, dict[str, Any]]:
    """``{"set/task/modality": cell}`` of one model's runs (sorted by seed): mean ± sd over seeds, per-seed values,
    the interval over seeds and people and, given the baseline's runs, the paired comparison with it."""
    from umu_hf.stats import compare

    cells = {}
    for spec in modality_columns():
        key = (spec["set"], spec["task"], spec["modality"])
        cell = {**score_cell(_modality_maps(runs, key), [r.seed for r in runs]), "vs_vanilla": None}
        if baseline is not None:
            paired = paired_matrices(runs, baseline, key)
            if paired is not None:
                (a, b, people), seeds = paired
                cell["vs_vanilla"] = verdict(compare(a, b, people), seeds)
        cells[spec["key"]] = cell
    return cells


def paired_matrices(a_runs: Sequence[Any], b_runs: Sequence[Any], key: tuple[str, str, str]) -> Any:
    """``((A, B, people), seeds)`` of two models on the seeds both have and the questions both answered, or None."""
    seeds = sorted({r.seed for r in a_runs} & {r.seed for r in b_runs})
    by_a, by_b = {r.seed: r for r in a_runs}, {r.seed: r for r in b_runs}
    paired = paired_terms([by_a[s].modality.get(key) for s in seeds], [by_b[s].modality.get(key) for s in seeds])
    return None if paired is None else (paired, seeds)


def paired_terms(a_maps: Sequence[TermMap | None], b_maps: Sequence[TermMap | None]) -> Any:
    """``(A, B, people)``: two S × Q arrays of per-question values, seed by seed (``a_maps[i]`` and ``b_maps[i]``
    are seed i's), over the questions both answered on every seed, and each question's person; None when a seed
    has no values or no question is shared."""
    import numpy as np

    maps = list(zip(a_maps, b_maps, strict=True))
    if not maps or any(not a or not b for a, b in maps):
        return None
    keys = sorted(set.intersection(*(set(a) & set(b) for a, b in maps)))
    if not keys:
        return None
    a = np.array([[m[k] for k in keys] for m, _ in maps], dtype=float)
    b = np.array([[m[k] for k in keys] for _, m in maps], dtype=float)
    return a, b, [k[0] for k in keys]


def _summary(per_seed: Sequence[float], result: Mapping[str, Any], seeds: Sequence[int]) -> dict[str, Any]:
    from umu_hf.stats import seed_summary

    summary = seed_summary(list(per_seed))
    return {"mean": finite(summary["mean"]), "sd": finite(summary["sd"]),
            "values": [finite(v) for v in summary["values"]], **verdict(result, seeds)}


def selectivity(runs: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``{"<kept>-forget/task/modality": estimate}`` for kept = retain, real: kept score − forget score with its
    interval (the same seeds, different people: :func:`umu_hf.stats.contrast`)."""
    from umu_hf.stats import contrast

    out = {}
    for kept in KEPT_SETS:
        for task in TASKS:
            for modality in MODALITIES:
                keep = terms_matrix(_modality_maps(runs, (kept, task, modality)))
                forget = terms_matrix(_modality_maps(runs, ("forget", task, modality)))
                if keep is None or forget is None:
                    continue
                per_seed = keep[0].mean(axis=1) - forget[0].mean(axis=1)
                result = contrast((keep[0], [(kept, p) for p in keep[1]]),
                                  (forget[0], [("forget", p) for p in forget[1]]))
                out[f"{kept}-forget/{task}/{modality}"] = _summary(per_seed, result, [r.seed for r in runs])
    return out


def misalignment(runs: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """``{"forget/task": estimate}``: forget unimodal − forget multimodal score, paired on the same questions."""
    from umu_hf.stats import compare

    out = {}
    for task in TASKS:
        maps = {m: _modality_maps(runs, ("forget", task, m)) for m in MODALITIES}
        uni, multi = terms_matrix(maps["unimodal"]), terms_matrix(maps["multimodal"])
        if uni is None or multi is None or uni[1] != multi[1]:
            continue
        per_seed = uni[0].mean(axis=1) - multi[0].mean(axis=1)
        out[f"forget/{task}"] = _summary(per_seed, compare(uni[0], multi[0], uni[1]), [r.seed for r in runs])
    return out


def method_comparisons(groups: Mapping[str, Sequence[Any]]) -> dict[str, list[dict[str, Any]]]:
    """Every pair of methods compared on every per-modality column: ``{column key: [{"a", "b", …}]}``."""
    from umu_hf.stats import compare

    names = list(groups)
    out: dict[str, list[dict[str, Any]]] = {}
    for spec in modality_columns():
        key = (spec["set"], spec["task"], spec["modality"])
        pairs = []
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                paired = paired_matrices(groups[a], groups[b], key)
                if paired is not None:
                    (ma, mb, people), seeds = paired
                    pairs.append({"a": a, "b": b, **verdict(compare(ma, mb, people), seeds)})
        out[spec["key"]] = pairs
    return out


def interval_text(est: Mapping[str, Any] | None, fmt: str = ".1f") -> str:
    """``mean [lo, hi]`` with a ``*`` when the interval excludes 0 (``–`` when missing)."""
    if not est or est.get("mean") is None:
        return "–"
    text = f"{est['mean']:{fmt}}"
    if est.get("ci"):
        lo, hi = est["ci"]
        text += f" [{lo:{fmt}}, {hi:{fmt}}]"
    return text + ("*" if est.get("significant") else "")


def markdown(board: Mapping[str, Any], cell_text: Any) -> list[str]:
    """The per-modality tables (one per set) and the selectivity/misalignment table, as Markdown lines."""
    rows = board["rows"]
    if not any(r.get("per_modality") for r in rows):
        return []
    lines: list[str] = []
    for set_name in SETS:
        specs = [c for c in modality_columns() if c["set"] == set_name]
        better = "lower is better" if set_name == "forget" else "higher is better"
        lines += ["", f"Per modality, {set_name} set ({better}; accuracy %, generation ROUGE-L %; `*` differs "
                  "from vanilla):", "",
                  "| forget % | model | " + " | ".join(c["header"] for c in specs) + " |",
                  "|---:|---|" + "---:|" * len(specs)]
        for row in rows:
            cells = [cell_text((row.get("per_modality") or {}).get(c["key"]) or {}) for c in specs]
            lines.append(f"| {row['forget_ratio']} | {row['model']} | " + " | ".join(cells) + " |")
    keys = [f"{k}-forget/{t}/{m}" for k in KEPT_SETS for t in ("classification", "cloze") for m in MODALITIES]
    heads = [f"{k}−forget {_TASK_LABEL[t]} {_MOD_LABEL[m]} ↑" for k in KEPT_SETS for t in ("classification", "cloze")
             for m in MODALITIES]
    mis = [f"forget/{t}" for t in TASKS]
    heads += [f"misalign. {_TASK_LABEL[t]} (uni−mm)" for t in TASKS]
    lines += ["", "Selectivity (kept set − forget set, per modality; higher is better) and misalignment (forget "
              "unimodal − forget multimodal; 0 = aligned): mean over seeds [95 % interval over seeds and people], "
              "`*` the interval excludes 0:", "",
              "| forget % | model | " + " | ".join(heads) + " |", "|---:|---|" + "---:|" * len(heads)]
    for row in rows:
        sel, mal = row.get("selectivity") or {}, row.get("misalignment") or {}
        cells = [interval_text(sel.get(k)) for k in keys] + [interval_text(mal.get(k)) for k in mis]
        lines.append(f"| {row['forget_ratio']} | {row['model']} | " + " | ".join(cells) + " |")
    return lines
