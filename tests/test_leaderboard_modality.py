"""The leaderboard read per modality: per-modality cells, selectivity, misalignment, trajectories and matched
forgetting (umu_hf.leaderboard.modality / .trajectory)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from umu_hf.data.schema import MODALITIES, SETS, TASKS
from umu_hf.leaderboard import Run, build_board, to_markdown, write_leaderboard
from umu_hf.leaderboard.trajectory import matched_point

PEOPLE = {"forget": range(1, 6), "retain": range(10, 35), "real": range(40, 46)}


def _modality(rng: np.random.Generator, rates: dict[tuple[str, str], float]) -> dict:
    """Per-question 0/100 terms: six questions per person, right with probability ``rates[(set, modality)]``
    (default 1) for every task."""
    terms = {}
    for set_name in SETS:
        for task in TASKS:
            for modality in MODALITIES:
                p = rates.get((set_name, modality), 1.0)
                terms[(set_name, task, modality)] = {
                    (pid, i): 100.0 * float(rng.random() < p) for pid in PEOPLE[set_name] for i in range(6)
                }
    return terms


def _runs(seeds=(0, 1, 2)) -> list[Run]:
    """vanilla knows everything; 'image' forgets the forget set with the portrait only (a selective, misaligned
    method); 'eraser' forgets everything in both modalities."""
    rng = np.random.default_rng(0)
    models = {
        "vanilla": {},
        "image": {("forget", "multimodal"): 0.1, ("retain", "multimodal"): 0.9},
        "eraser": {(s, m): 0.05 for s in SETS for m in MODALITIES},
    }
    return [Run(name, 15, seed, {}, modality=_modality(rng, rates)) for seed in seeds for name, rates in models.items()]


def test_per_modality_cells_selectivity_and_misalignment():
    board = build_board(_runs())
    rows = {r["model"]: r for r in board["rows"]}
    image = rows["image"]
    cell = image["per_modality"]["forget/classification/multimodal"]
    assert cell["mean"] < 20 and cell["n_questions"] == 30 and cell["vs_vanilla"]["significant"]
    assert image["per_modality"]["forget/classification/unimodal"]["mean"] == 100.0
    sel = image["selectivity"]["retain-forget/classification/multimodal"]
    assert sel["mean"] > 60 and sel["significant"] and sel["ci"][0] > 0 and len(sel["values"]) == 3
    assert image["selectivity"]["retain-forget/classification/unimodal"]["mean"] == 0.0
    mis = image["misalignment"]["forget/classification"]
    assert mis["mean"] > 80 and mis["significant"]
    eraser = rows["eraser"]
    assert abs(eraser["selectivity"]["retain-forget/cloze/multimodal"]["mean"]) < 15
    assert not eraser["selectivity"]["retain-forget/cloze/multimodal"]["significant"]
    # methods are compared per modality too: the selective one keeps far more of the retain set with the image
    pairs = board["comparisons"]["15"]["retain/classification/multimodal"]
    assert any({p["a"], p["b"]} == {"image", "eraser"} and p["significant"] for p in pairs)


def test_markdown_has_the_per_modality_tables_and_gap_lines(tmp_path):
    table = write_leaderboard(_runs(), tmp_path)
    assert "Per modality, forget set" in table and "Selectivity" in table
    assert "- forget 15%, retain Cls mm ↑: image > eraser" in table
    saved = json.loads((tmp_path / "leaderboard.json").read_text())
    assert {"per_modality", "selectivity", "misalignment"} <= set(saved["rows"][1])


def test_one_seed_gives_numbers_but_no_marks():
    board = build_board(_runs(seeds=(0,)))
    sel = {r["model"]: r for r in board["rows"]}["image"]["selectivity"]["retain-forget/classification/multimodal"]
    assert sel["mean"] > 50 and sel["ci"] is None and sel["significant"] is None
    assert "not enough seeds" in sel["reason"]


def test_matched_point_interpolates_and_says_not_reached():
    points = [{"values": {"forget/classification/multimodal": f, "retain/classification/multimodal": r}}
              for f, r in ((100, 100), (80, 96), (40, 70), (10, 30))]
    # half of 100 is reached between 80 and 40, three quarters of the way: retain 96 - 0.75 * 26
    assert matched_point(points, "classification", "multimodal") == pytest.approx(76.5)
    assert matched_point(points[:2], "classification", "multimodal") is None


def test_trajectories_and_matched_forgetting_in_the_board(tmp_path):
    runs = _runs()
    for run in runs:
        if run.model == "vanilla":
            continue
        slow = run.model == "image"
        points = []
        for step in range(0, 25, 5):
            forget = 100.0 - step * (4 if slow else 5)
            retain = 100.0 - step * (0.5 if slow else 5) - run.seed
            values = {f"{s}/{t}/{m}": (forget if s == "forget" else retain) for s in ("forget", "retain")
                      for t in ("classification", "cloze") for m in MODALITIES}
            points.append({"step": step, "epoch": step / 10, "values": values})
        run.trajectory = {"scoring": "test", "every": 5, "points": points}
    board = build_board(runs)
    rows = {r["model"]: r for r in board["rows"]}
    matched = rows["image"]["matched_forgetting"]["classification/multimodal"]
    assert matched["reached"] == 3 and matched["mean"] == pytest.approx(92.75) and matched["ci"] is not None
    assert rows["eraser"]["matched_forgetting"]["classification/multimodal"]["mean"] == pytest.approx(49.0)
    path = board["trajectory"]["15"]["image"]
    assert path["steps"] == [0, 5, 10, 15, 20] and path["mean"]["forget/classification/multimodal"][-1] == 20.0
    assert "vanilla" not in board["trajectory"]["15"]
    table = to_markdown(board)
    assert "Matched forgetting" in table and "| 15 | image | 92.8" in table
    write_leaderboard(runs, tmp_path)  # the PNG with its trajectory row draws without error
    assert (tmp_path / "leaderboard.png").stat().st_size > 10_000
