"""``umu-hf bench --sequential``: deletion requests served one after another (the sequence, each request's people,
a request's training data, the split of one evaluation by request, retention and utility decay, the leaderboard
section), and the reduced bench end to end, rerun and killed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from umu_hf.errors import UmuError
from umu_hf.leaderboard.sequential import SequenceRun, markdown, sequential_section


def test_a_sequence_is_at_least_two_increasing_forget_ratios():
    from umu_hf.data.schema import check_sequence

    assert check_sequence("5,10,15") == (5, 10, 15) and check_sequence([10, "15"]) == (10, 15)
    for bad, why in (("15,10", "must increase"), ("5,5", "must increase"), ("10", "at least two"),
                     ("", "at least two"), ("5,12", "unknown forget ratio")):
        with pytest.raises(UmuError, match=why):
            check_sequence(bad)


def test_each_request_is_the_people_its_forget_set_adds(synth_dir, small_synth_dir):
    from umu_hf.data.load import config_ids, request_people
    from umu_hf.errors import DataError

    people = request_people(synth_dir, (5, 10, 15))
    f05, f10, f15 = (set(config_ids(synth_dir, f"forget{r:02d}")) for r in (5, 10, 15))
    assert [set(p) for p in people] == [f05, f10 - f05, f15 - f10] and all(people)
    assert request_people(synth_dir, (5, 15))[1] == sorted(f15 - f05)
    # 12 fictitious profiles: forget05 and forget10 are both one person, so the second request would be empty
    with pytest.raises(DataError, match="forget10 adds no one to forget05"):
        request_people(small_synth_dir, (5, 10, 15))


def test_a_later_request_trains_on_its_own_people_and_its_ratios_retain_set(synth_dir):
    from umu_hf.data.load import config_ids, request_people
    from umu_hf.trainers.jobs import build_unlearning_dataset

    new = set(request_people(synth_dir, (5, 10))[1])
    data = build_unlearning_dataset(synth_dir, 10, after=5)
    streams = data.all_streams
    assert {p.profile_id for p in streams[("forget", "mm")] + streams[("forget", "um")]} == new
    retain = {p.profile_id for p in streams[("retain", "mm")] + streams[("retain", "um")]}
    assert retain and retain <= set(config_ids(synth_dir, "retain90"))
    whole = build_unlearning_dataset(synth_dir, 10)  # the plain run: every forget10 person, the same retain streams
    assert {p.profile_id for p in whole.all_streams[("forget", "mm")]} == set(config_ids(synth_dir, "forget10"))
    assert whole.all_streams[("retain", "mm")] == streams[("retain", "mm")]
    for after, why in ((10, "must be smaller than --forget_ratio 10"), (7, "--forget_after: unknown forget ratio")):
        with pytest.raises(UmuError, match=why):
            build_unlearning_dataset(synth_dir, 10, after=after)


def test_one_evaluation_is_split_by_request():
    from umu_hf.evaluation.results import people_terms

    terms = {("forget", "cloze", "multimodal"): {(1, 0): 100.0, (1, 1): 0.0, (2, 0): 50.0, (9, 0): 10.0},
             ("retain", "cloze", "multimodal"): {(5, 0): 100.0}}
    split = people_terms(terms, "forget", {"request1": [1], "request2": [2, 3]})
    assert split == {("request1", "cloze", "multimodal"): {(1, 0): 100.0, (1, 1): 0.0},
                     ("request2", "cloze", "multimodal"): {(2, 0): 50.0}}  # person 9 is in no request: left out


#: three requests (two people, one, two), two retain people and one real person, one question each
PEOPLE = [[1, 2], [3], [4, 5]]


def _terms(forget: dict[int, float], retain: float, real: float = 80.0) -> dict:
    """One evaluation's terms: the same score for every task and modality (the statistics do not mix them)."""
    from umu_hf.data.schema import MODALITIES, TASKS

    out = {}
    for task in TASKS:
        for modality in MODALITIES:
            out[("forget", task, modality)] = {(pid, 0): value for pid, value in forget.items()}
            out[("retain", task, modality)] = {(10, 0): retain, (11, 0): retain}
            out[("real", task, modality)] = {(20, 0): real}
    return out


def _runs(seeds=(0, 1, 2), wobble: float = 0.0) -> list[SequenceRun]:
    """A method whose request-1 people climb back from 0 to 50 after request 3 while request 2's stay at 0, whose
    retain score falls from 90 to 60 over three requests (10 per request), where unlearning at once leaves every
    forget person at 0 and retain at 75. ``wobble``: seed s's retain scores shifted by ``wobble * s``."""
    runs = []
    for seed in seeds:
        w = wobble * seed
        steps = [
            _terms({1: 100, 2: 100, 3: 100, 4: 100, 5: 100}, 90 + w),
            _terms({1: 0, 2: 0, 3: 100, 4: 100, 5: 100}, 80 + w),
            _terms({1: 0, 2: 0, 3: 0, 4: 100, 5: 100}, 70 + w),
            _terms({1: 50, 2: 50, 3: 0, 4: 0, 5: 0}, 60 - w),
        ]
        runs.append(SequenceRun("ga", seed, steps, _terms(dict.fromkeys(range(1, 6), 0.0), 75)))
    return runs


def test_retention_utility_decay_and_the_gap_to_at_once_on_known_inputs():
    section = sequential_section(_runs(), (5, 10, 15), PEOPLE)
    assert [r["people"] for r in section["requests"]] == PEOPLE and section["evaluated_at"] == "forget15"
    entry = section["methods"]["ga"]
    assert entry["seeds"] == [0, 1, 2] and [s["requests"] for s in entry["steps"]] == [0, 1, 2, 3]
    cell = entry["steps"][1]["cells"]["request2/cloze/unimodal"]  # request 2's person before it was made
    assert cell["mean"] == 100.0 and cell["n_questions"] == 1
    assert entry["steps"][3]["cells"]["request1/classification/multimodal"]["mean"] == 50.0
    assert entry["at_once"]["cells"]["retain/cloze/multimodal"]["mean"] == 75.0
    recovery = entry["retention"]["classification/multimodal"]
    # pooled over the earlier requests' three questions: +50, +50 (request 1), 0 (request 2)
    assert recovery["diff"] == pytest.approx(100 / 3, abs=1e-3) and recovery["seeds"] == [0, 1, 2]
    assert recovery["per_request"]["request1"]["diff"] == 50.0 and recovery["per_request"]["request2"]["diff"] == 0
    assert set(recovery["per_request"]) == {"request1", "request2"}  # the last request has no "later"
    decay = entry["utility_decay"]["retain/cloze/unimodal"]
    assert decay["diff"] == 10.0 and decay["ci"] == [10.0, 10.0] and decay["significant"] is True
    assert entry["utility_decay"]["real/cloze/unimodal"]["diff"] == 0.0
    gap = entry["vs_at_once"]
    assert gap["forget/cloze/multimodal"]["diff"] == 20.0  # (50 + 50 + 0 + 0 + 0) / 5 − 0: sequential forgot less
    assert gap["retain/cloze/multimodal"]["diff"] == -15.0  # 60 − 75: sequential kept less
    assert set(gap) == {f"{s}/{t}/{m}" for s in ("forget", "retain", "real")
                        for t in ("classification", "cloze", "generation") for m in ("unimodal", "multimodal")}


def test_intervals_come_from_the_benchs_estimator_over_seeds_and_people():
    """With seeds that disagree, the decay's interval is umu_hf.stats' paired t interval on the scaled scores."""
    import numpy as np

    from umu_hf.stats import compare

    entry = sequential_section(_runs(wobble=3.0), (5, 10, 15), PEOPLE)["methods"]["ga"]
    decay = entry["utility_decay"]["retain/classification/unimodal"]
    before = np.array([[90.0 + 3 * s] * 2 for s in range(3)])
    after = np.array([[60.0 - 3 * s] * 2 for s in range(3)])
    expected = compare(before / 3, after / 3, [10, 11])
    assert decay["diff"] == pytest.approx(expected["diff"], abs=1e-4) == pytest.approx(12.0, abs=1e-4)
    assert decay["ci"] == pytest.approx(expected["ci"], abs=1e-3) and decay["ci"][0] < 12 < decay["ci"][1]
    assert decay["df"] == 1  # min(3 seeds, 2 people) − 1


def test_a_failed_sequence_is_left_out_and_named():
    runs = _runs(seeds=(0, 1)) + [SequenceRun("ga", 2, failed="non-finite loss at step 3")]
    entry = sequential_section(runs, (5, 10, 15), PEOPLE)["methods"]["ga"]
    assert entry["seeds"] == [0, 1] and entry["failed"] == {"2": "non-finite loss at step 3"}
    lines = "\n".join(markdown(sequential_section(runs, (5, 10, 15), PEOPLE)))
    assert "Sequences that failed" in lines and "ga, seed 2" in lines


def test_the_leaderboard_gets_the_sequential_tables_json_and_plot(tmp_path):
    from PIL import Image

    from umu_hf.leaderboard import Run, write_leaderboard
    from umu_hf.leaderboard.sequential import PNG

    section = sequential_section(_runs(), (5, 10, 15), PEOPLE)
    headline = {s: {t: {m: 50.0} for t, m in (("classification", "AccR"), ("cloze", "AccR"), ("generation", "RLR"))}
                for s in ("retain", "real")}
    headline["forget"] = {"classification": {"AccF": 0.0}, "cloze": {"AccF": 0.0}, "generation": {"RLF": 0.0}}
    table = write_leaderboard([Run("vanilla", 15, 0, {"headline": headline})], tmp_path, sequential=section)
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board["sequential"]["methods"]["ga"]["utility_decay"]["retain/cloze/multimodal"]["diff"] == 10.0
    assert "Sequential unlearning (`--sequential 5,10,15`)" in table
    assert "| Cls | requests | request 1 (5 %) | request 2 (10 %) | request 3 (15 %) | retain | real |" in table
    assert "| vanilla | 0 | 100 / 100 | 100 / 100 | 100 / 100 | 90 / 90 | 80 / 80 |" in table
    assert "| ga | 3 | 50 / 50 | 0 / 0 | 0 / 0 | 60 / 60 | 80 / 80 |" in table
    assert "| ga | at once | 0 / 0 | 0 / 0 | 0 / 0 | 75 / 75 | 80 / 80 |" in table
    assert "| ga | +33.3 [-29, 95] |" in table  # recovery of earlier forgetting, Cls image: people disagree
    assert "Sequential − at once" in table and table == (tmp_path / "leaderboard.md").read_text().split("\n\n", 1)[1]
    with Image.open(tmp_path / PNG) as image:
        assert image.format == "PNG" and image.width > 1000
    write_leaderboard([Run("vanilla", 15, 0, {"headline": headline})], tmp_path / "plain")
    assert "sequential" not in json.loads((tmp_path / "plain" / "leaderboard.json").read_text())
    assert not (tmp_path / "plain" / PNG).exists()


def test_an_empty_request_is_refused_before_any_training(tmp_path, small_synth_dir, tiny_model_dir):
    from dataclasses import replace

    from test_bench import _reduced

    from umu_hf.bench.pipeline import Bench

    settings = _reduced(model=str(tiny_model_dir), data=str(small_synth_dir), finetune=False,
                        forget_ratios=(15,), sequential=(5, 10, 15))
    with pytest.raises(UmuError, match=r"--sequential 5,10,15: .*forget10 adds no one to forget05"):
        Bench(tmp_path, settings, log=lambda line: None).run()
    with pytest.raises(UmuError, match=r"--sequential 5,10 ends at forget 10 %.*add 10 to --forget-ratio"):
        Bench(tmp_path, replace(settings, data=None, sequential=(5, 10)), log=lambda line: None).run()
    assert not (tmp_path / "models").exists() and not (tmp_path / "evals").exists()
    assert not (tmp_path / "data").exists()  # the second: refused before the synthetic data is made


# ---- end to end -------------------------------------------------------------------------------------------------
def _sequential_settings(**overrides):
    """The reduced bench (tests/test_bench.py) with 20 fictitious profiles (three requests of one person each) and
    every question of the forget people asked (18 question pairs: three people of six items per task), replies cut
    at 8 tokens (the sections, not the replies, are under test)."""
    from test_bench import _reduced

    return _reduced(**{"methods": ("ga",), "forget_ratios": (15,), "n_fictitious": 20, "eval_limit": 18,
                       "sequential": (5, 10, 15), "eval_every": "", **SHORT_REPLIES, **overrides})


#: the evaluation's generation budgets in the sequential benches here
SHORT_REPLIES = {"eval_max_new_tokens": {"classification": 8, "cloze": 8, "generation": 8}}


@pytest.mark.slow
def test_kill_9_mid_sequence_then_rerun_gives_the_uninterrupted_results(tmp_path):
    """``kill -9`` of ``umu-hf bench --sequential`` while the second request trains (it has checkpointed an epoch);
    the same command again resumes and ends with exactly the sequential numbers of a bench never interrupted."""
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "umu_hf.cli", "bench", "--out", str(out), "--methods", "ga", "--seeds", "1",
                "--sequential", "5,10,15", "--fictitious", "20", "--real", "2", "--vanilla-epochs", "1",
                "--unlearn-epochs", "4", "--eval-limit", "18", "--eval-every", "off", "--min-vanilla-acc", "0",
                "--eval-max-new-tokens", "classification=8,cloze=8,generation=8", "--device", "cpu"]

    def second_request_checkpointed(out: Path) -> bool:
        for run in out.glob("models/ga-*/umu_run.json"):
            if json.loads(run.read_text()).get("identity", {}).get("forget_after") == 5:
                return any(run.parent.glob("checkpoint-*/trainer_state.json"))
        return False

    uninterrupted = subprocess.Popen(command(tmp_path / "a"), env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
    killed = tmp_path / "b"
    victim = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not second_request_checkpointed(killed):
        assert victim.poll() is None, "the bench ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint of the second request after 600 s"
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL and not (killed / "leaderboard.json").exists()
    _, err = uninterrupted.communicate(timeout=900)
    assert uninterrupted.returncode == 0, err[-3000:]
    rerun = subprocess.run(command(killed), env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "request 1 of 3" not in rerun.stderr  # the finished first request is reused, not redone
    assert "request 2 of 3 (forget 10% after 5%, seed 0)" in rerun.stderr

    def sequential(folder: Path) -> dict:
        return json.loads((folder / "leaderboard.json").read_text())["sequential"]

    assert sequential(killed) == sequential(tmp_path / "a")


@pytest.mark.slow
def test_sequential_bench_end_to_end_a_rerun_reuses_every_step_and_workers_give_the_same_numbers(tmp_path):
    """The reduced sequential bench over two seeds in one process: three requests of one person each, every
    request's person scored at every step from one evaluation per step, retention and utility decay, the table and
    plot; the same bench again redoes no stage. Under ``--workers 2`` each method's sequence is a worker task of its
    own, and the section equals the one-process run's at the workers' thread count (as every other number of the
    bench)."""
    import torch

    from umu_hf.bench.parallel import plan_workers
    from umu_hf.bench.pipeline import Bench
    from umu_hf.leaderboard.sequential import PNG

    settings = _sequential_settings(seeds=(0, 1))
    one = tmp_path / "one"
    lines: list[str] = []
    before = torch.get_num_threads()
    torch.set_num_threads(plan_workers(2, "cpu", 2).threads)
    try:
        table = Bench(one, settings, workers=1, log=lines.append).run()
    finally:
        torch.set_num_threads(before)
    section = json.loads((one / "leaderboard.json").read_text())["sequential"]
    assert [len(r["people"]) for r in section["requests"]] == [1, 1, 1]
    entry = section["methods"]["ga"]
    assert entry["seeds"] == [0, 1]
    assert [s["requests"] for s in entry["steps"]] == [0, 1, 2, 3] and entry["at_once"] is not None
    for step in entry["steps"]:  # every request's person scored at every step, from the one evaluation at forget15
        assert all(step["cells"][f"request{k}/cloze/multimodal"]["n_questions"] == 6 for k in (1, 2, 3))
    assert set(entry["retention"]) >= {"classification/multimodal", "cloze/unimodal"}
    assert set(entry["utility_decay"]) >= {"retain/cloze/multimodal", "real/classification/unimodal"}
    assert "Sequential unlearning" in table and (one / PNG).is_file()
    stages = [line for line in lines if "done in" in line]
    for seed in (0, 1):
        for k, what in ((1, "forget 5%"), (2, "forget 10% after 5%"), (3, "forget 15% after 10%")):
            assert sum(f"unlearn ga, request {k} of 3 ({what}, seed {seed})" in line for line in stages) == 1
    assert sum("evaluate ga-seq" in line for line in stages) == 6  # one evaluation per step and seed
    records = [json.loads(p.read_text()) for p in (one / "models").glob("ga-*/umu_training.json")]
    assert sorted(str(r.get("forget_after")) for r in records) == ["10", "10", "5", "5", "None", "None", "None",
                                                                    "None"]
    again: list[str] = []
    assert Bench(one, settings, workers=1, log=again.append).run() == table
    redone = [line for line in again if "done in" in line and not line.startswith("[bench] leaderboard")]
    assert redone == [], f"stages were redone: {redone}"

    par_lines: list[str] = []
    Bench(tmp_path / "par", settings, workers=2, log=par_lines.append).run()
    assert any("2 worker processes" in line for line in par_lines)
    assert not [line for line in par_lines if "done in" in line and "request" in line]  # the workers did every step
    par = json.loads((tmp_path / "par" / "leaderboard.json").read_text())["sequential"]
    assert par == section
