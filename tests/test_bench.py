"""A reduced ``umu-hf bench`` through the same code path as the embedded default."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from PIL import Image

from umu_hf.bench.manifest import read_manifest
from umu_hf.bench.pipeline import Bench, VanillaTooWeakError
from umu_hf.bench.settings import BenchSettings, UnlearnTuning
from umu_hf.cli import main as cli_main
from umu_hf.errors import UmuError
from umu_hf.leaderboard import columns


def _reduced(**overrides) -> BenchSettings:
    """Very small data and few steps: the pipeline, not the numbers, is under test."""
    settings = BenchSettings(
        methods=("ga", "npo"),
        seeds=(0,),
        forget_ratios=(5,),
        n_fictitious=12,
        n_real=2,
        vanilla={"num_train_epochs": 1, "learning_rate": 5e-3, "per_device_train_batch_size": 16,
                 "protocol": "umu-hf"},
        unlearn=UnlearnTuning(lr_scale=100.0, epochs=1, lora_r=4),
        eval_limit=2,
        eval_batch_size=16,
        min_vanilla_retain_acc=0.0,
        device="cpu",
    )
    return replace(settings, **overrides)


def _assert_plot_shows_every_model(path, n_models: int) -> None:
    """leaderboard.png decodes as a PNG with the three sets side by side, and each model's colour (matplotlib's
    tab10, in row order) is drawn: its bars and its legend patch."""
    from matplotlib import colormaps
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width >= 1200 and image.height >= 300, image.size
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(maxcolors=1 << 24)}
    for i in range(n_models):
        rgb = tuple(round(255 * c) for c in colormaps["tab10"](i)[:3])
        assert rgb in colours, (i, rgb)


@pytest.fixture(scope="module")
def bench_dir(reduced_bench_run):
    """conftest's :func:`reduced_bench_run`: (folder, table, log lines) of ``Bench(out, _reduced())``."""
    return reduced_bench_run


@pytest.mark.slow
def test_reduced_bench_writes_leaderboard_and_manifest(bench_dir):
    out, table, lines = bench_dir
    board = json.loads((out / "leaderboard.json").read_text())
    rows = board["rows"]
    assert [r["model"] for r in rows] == ["vanilla", "ga", "npo"]
    keys = [f"{c[0]}/{c[1]}" for c in columns()]
    assert all(set(keys) == set(r["cells"]) for r in rows)
    assert [c["key"] for c in board["columns"]] == keys
    assert {c["direction"] for c in board["columns"] if c["set"] == "forget"} == {"lower"}
    assert "forget Cls AccF ↓" in table and "retain Gen RLR ↑" in table
    _assert_plot_shows_every_model(out / "leaderboard.png", n_models=3)
    manifest = read_manifest(out)
    assert [m.name for m in manifest.models] == ["vanilla", "ga", "npo"]
    for entry in manifest.models:
        assert (out / entry.path / "config.json").is_file()  # evaluable model folders inside the bench
        assert (out / entry.results).is_file()
    # one line per stage with its elapsed time
    assert any(line.startswith("[bench] fine-tune vanilla") and "done in" in line for line in lines)
    assert any(line.startswith("[bench] unlearn npo") and "done in" in line for line in lines)
    # read per modality, with each method's trajectory (probed every 10 steps by default) and matched forgetting
    assert "per_modality/forget/classification/multimodal" not in table and "Per modality, forget set" in table
    assert all({"per_modality", "selectivity", "misalignment"} <= set(r) for r in rows)
    assert set(board["trajectory"]["5"]) == {"ga", "npo"} and "matched_forgetting" in rows[1]
    path = board["trajectory"]["5"]["npo"]
    assert path["steps"][0] == 0 and len(path["mean"]["forget/cloze/multimodal"]) == len(path["steps"])


@pytest.mark.slow
def test_privacy_bench_with_workers_adds_the_privacy_columns_and_equals_a_one_process_run(tmp_path, capsys):
    """``bench --privacy --workers 2`` (through the CLI): a retain model per seed, trained on every part of ``full``
    but the forget set as a worker task of its own beside its vanilla, evaluated like the others; every model's
    results carry the privacy block, compared with the retain model's; the leaderboard (table, JSON, PNG) and the
    Space show the privacy columns. The same bench in one process gives the same leaderboard, both at the settings'
    one thread per process (CPU numbers depend on the threads, not on the workers or the order); the plan is
    recorded and this process's thread count is restored after the one-process run. (Without ``privacy`` the
    workers run each seed's chain as one task: the kill -9 and sequential tests' benches.)"""
    import torch

    from umu_hf.bench import cli as bench_cli
    from umu_hf.leaderboard import PRIVACY_COLUMNS, RETAIN_MODEL
    from umu_hf.space.tables import read_leaderboard

    reduced = _reduced(methods=("ga",), seeds=(0, 1))
    assert reduced.threads == 1  # the embedded profile's
    par = tmp_path / "par"
    with pytest.MonkeyPatch.context() as patch:  # the CLI's embedded defaults, reduced for speed
        patch.setattr(bench_cli, "bench_settings", _with_cli_privacy(bench_cli.bench_settings, reduced))
        assert cli_main(["bench", "--out", str(par), "--privacy", "--workers", "2"]) == 0
    assert "2 worker processes × 1 thread" in capsys.readouterr().err
    board = json.loads((par / "leaderboard.json").read_text())
    assert [r["model"] for r in board["rows"]] == [RETAIN_MODEL, "vanilla", "ga"]
    assert [c["key"] for c in board["columns"] if c["set"] == "privacy"] == [c.key for c in PRIVACY_COLUMNS]
    rows = {r["model"]: r["cells"] for r in board["rows"]}
    assert rows["vanilla"]["privacy/mia_auc_unimodal"]["n"] == 2
    assert rows["ga"]["privacy/privleak_multimodal"]["mean"] is not None
    assert rows[RETAIN_MODEL]["privacy/forget_quality_unimodal"]["mean"] is None  # the reference
    (retain_record,) = {json.loads(p.read_text())["config_name"]
                        for p in (par / "models").glob(f"{RETAIN_MODEL}-*/umu-stage.json")}
    assert retain_record == "retain95+real"
    for results in (par / "evals").glob("ga-*/results.json"):
        block = json.loads(results.read_text())["privacy"]
        assert block["retain_model"]["mia"] and set(block["forget_quality"]) == {"unimodal", "multimodal"}
        # the bench's vanilla (paired streams) asked UM_QA in text only: found through ga's record and vanilla's
        assert block["layout"]["unimodal"] == "UM_QA text only" and block["layout"]["source"] == "umu_training.json"
        assert block["retain_model"]["layout"]["unimodal"] == "UM_QA text only" and "privleak_note" not in block
    table = (par / "leaderboard.md").read_text()
    assert "FQ uni ↑" in table and "PrivLeak % mm →0" in table and "Privacy (min_k" in table
    with Image.open(par / "leaderboard.png") as image:  # a second row of panels: taller than without
        assert image.height > 700, image.size
    assert [m.name for m in read_manifest(par).models][:3] == ["vanilla", RETAIN_MODEL, "ga"]
    assert "MIA AUC uni →0.5" in read_leaderboard(par).headers()

    before = torch.get_num_threads()
    Bench(tmp_path / "seq", replace(reduced, privacy=True), workers=1, log=lambda line: None).run()
    assert torch.get_num_threads() == before
    seq = json.loads((tmp_path / "seq" / "leaderboard.json").read_text())
    assert board["training"].pop("execution") == {"workers": 2, "threads": 1}
    assert seq["training"].pop("execution") == {"workers": 1, "threads": 1}
    assert board["training"]["unlearning_tuning"] == seq["training"]["unlearning_tuning"]
    board.pop("training"), seq.pop("training")  # the rest names each model by its (different) folder
    assert set(board) >= {"rows", "comparisons", "trajectory"}
    assert board == seq  # every cell, per-modality number, privacy number, comparison and trajectory
    assert [m.name for m in read_manifest(par).models] == [m.name for m in read_manifest(tmp_path / "seq").models]


def _with_cli_privacy(parse, reduced: BenchSettings):
    """The CLI's settings parser, with everything but ``privacy`` taken from ``reduced``."""

    def settings(args, sizes):
        return replace(reduced, privacy=parse(args, sizes).privacy)

    return settings


@pytest.mark.slow
def test_seeds_and_ratios_give_sd_per_seed_values_and_rows_per_ratio(tmp_path):
    settings = _reduced(seeds=(0, 1), forget_ratios=(5, 10), methods=("ga",))
    Bench(tmp_path, settings, log=lambda line: None).run()
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [(r["forget_ratio"], r["model"]) for r in board["rows"]] == [(5, "vanilla"), (5, "ga"), (10, "vanilla"),
                                                                          (10, "ga")]
    for row in board["rows"]:
        for cell in row["cells"].values():
            assert cell["n"] == 2 and cell["seeds"] == [0, 1] and len(cell["values"]) == 2
            assert cell["sd"] is not None and cell["sd"] >= 0 and cell["ci"][0] <= cell["mean"] <= cell["ci"][1]
            assert (cell["vs_vanilla"] is None) == (row["model"] == "vanilla")
    assert set(board["comparisons"]) == {"5", "10"}
    table = (tmp_path / "leaderboard.md").read_text()
    assert " ± " in table and "over 2 seed(s)" in table
    # same seed, same machine: a forced rerun gives byte-identical results (one seed and ratio of it: its tiny
    # model, vanilla, unlearning and both evaluations redone; the other stages' determinism across processes is what
    # the kill -9 and workers tests compare)
    first = {p.parent.name.rsplit("-", 1)[1]: p.read_bytes() for p in (tmp_path / "evals").glob("*/results.json")}
    assert len(first) == 8  # by each evaluation's key, which a one-seed run's folder names end with too
    lines: list[str] = []
    Bench(tmp_path, replace(settings, seeds=(1,), forget_ratios=(10,)), force=True, log=lines.append).run()
    redone = [line.split(" →")[0] for line in lines if "done in" in line and "→" in line]
    assert redone == ["[bench] data: synthetic 12+2 profiles", "[bench] model: tiny LLaVA (small, seed 1)",
                      "[bench] fine-tune vanilla on full (seed 1)", "[bench] evaluate vanilla",
                      "[bench] unlearn ga (forget 10%, seed 1)", "[bench] evaluate ga"], redone
    again = {p.parent.name: p.read_bytes() for p in (tmp_path / "evals").glob("*/results.json")
             if p.parent.name.count("-") == 1}  # the one-seed run's two folders
    assert len(again) == 2 and all(content == first[name.rsplit("-", 1)[1]] for name, content in again.items())


@pytest.mark.slow
def test_leaderboard_records_how_each_model_was_trained(bench_dir):
    out, _, _ = bench_dir
    training = json.loads((out / "leaderboard.json").read_text())["training"]
    assert training["unlearning_tuning"]["lr_scale"] == 100.0 and training["unlearning_tuning"]["lora_r"] == 4
    npo = training["models"]["npo"]
    assert npo["protocol"] == "original" and npo["features"]["npo_logratio"] == "batch"
    assert npo["learning_rate"] == pytest.approx(6.2e-6 * 100) and npo["num_train_epochs"] == 1
    assert npo["multimodal_max_grad_norm"] == 1.0 and npo["lora"]["r"] == 4 and npo["lora"]["alpha"] == 32
    assert training["models"]["vanilla"]["protocol"] == "umu-hf"
    assert "protocol original" in (out / "leaderboard.md").read_text()


@pytest.mark.slow
def test_second_run_reuses_every_stage(bench_dir):
    out, table, _ = bench_dir
    lines: list[str] = []
    again = Bench(out, _reduced(), log=lines.append).run()
    assert again == table
    stage_lines = [line for line in lines if "done in" in line and not line.startswith("[bench] leaderboard")]
    assert stage_lines == [], f"stages were redone: {stage_lines}"


@pytest.mark.slow
def test_weak_vanilla_stops_with_advice(bench_dir):
    out, _, _ = bench_dir
    with pytest.raises(VanillaTooWeakError, match="fine-tuning did not take.*--vanilla-epochs"):
        Bench(out, _reduced(min_vanilla_retain_acc=101.0), log=lambda line: None).run()


def test_cli_rejects_bad_settings(capsys, tmp_path):
    assert cli_main(["bench", "--out", str(tmp_path), "--methods", "ga,forgetful"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "known methods" in err[0]
    assert cli_main(["bench", "--out", str(tmp_path), "--forget-ratio", "20"]) == 2
    assert "forget ratio" in capsys.readouterr().err
    assert cli_main(["bench", "--out", str(tmp_path), "--eval-every", "sometimes"]) == 2
    assert "--eval_every must be a positive number of steps or 'epoch'" in capsys.readouterr().err
    for bad, why in (("generation", "expected TASK=N"), ("gen=8", "unknown task 'gen'"),
                     ("cloze=0", "must be a positive integer")):
        assert cli_main(["bench", "--out", str(tmp_path), "--eval-max-new-tokens", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--eval-max-new-tokens" in err[0] and why in err[0], err
    with pytest.raises(UmuError, match="unknown task 'gen'"):  # the Python API: refused before any stage runs
        Bench(tmp_path / "api", _reduced(eval_max_new_tokens={"gen": 8}), log=lambda line: None).run()
    assert not (tmp_path / "api" / "data").exists()
    assert cli_main(["bench", "--out", str(tmp_path / "cli0"), "--eval-batch-size", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--eval-batch-size" in err[0] and "positive integer" in err[0], err
    assert not (tmp_path / "cli0" / "data").exists()  # before any stage, not at the first evaluation


def test_bench_eval_every_flag():
    from umu_hf.bench.cli import bench_settings, parse_args

    def parsed(*flags: str) -> str:
        return bench_settings(*parse_args(list(flags))).eval_every

    assert parsed() == "10" and parsed("--eval-every", "off") == "" and parsed("--eval-every", "epoch") == "epoch"
    assert parsed("--model", "m", "--data", "d") == ""  # real runs: off unless asked


def test_second_bench_into_a_busy_folder_is_refused(tmp_path):
    from umu_hf.lock import FolderInUseError, FolderLock

    holder = FolderLock(tmp_path, "umu-hf bench").acquire()
    try:
        with pytest.raises(FolderInUseError, match="in use by PID"):
            Bench(tmp_path, _reduced(), log=lambda line: None).run()
    finally:
        holder.release()


@pytest.mark.parametrize("value", [float("nan"), None])
def test_vanilla_check_refuses_a_metric_that_cannot_be_computed(value, tmp_path):
    """A NaN (fresh) and a null (cached) retain accuracy get the same clear error, not a pass or a TypeError."""
    results = {"headline": {"retain": {"classification": {"AccR": 100.0}, "cloze": {"AccR": value}}}}
    with pytest.raises(VanillaTooWeakError, match="retain cloze AccR cannot be computed"):
        Bench(tmp_path, _reduced(), log=lambda line: None).check_vanilla(results)


def test_leaderboard_writes_null_and_a_dash_for_a_metric_that_cannot_be_computed(tmp_path):
    from umu_hf.leaderboard import Run, write_leaderboard

    headline = {s: {t: {m: 50.0} for t, m in (("classification", "AccR"), ("cloze", "AccR"), ("generation", "RLR"))}
                for s in ("retain", "real")}
    headline["forget"] = {"classification": {"AccF": float("nan")}, "cloze": {"AccF": 0.0}, "generation": {"RLF": 0.0}}
    table = write_leaderboard([Run("vanilla", 5, 0, {"headline": headline})], tmp_path)
    text = (tmp_path / "leaderboard.json").read_text()
    assert "NaN" not in text
    cell = json.loads(text)["rows"][0]["cells"]["forget/classification"]
    assert cell["mean"] is None and cell["values"] == [None]
    assert "| 5 | vanilla | – |" in table


@pytest.mark.parametrize(
    "content",
    ["null", '"a string"', '{"forget_ratio": 5, "data": "d", "models": [{"name": "v", "path": 5}]}',
     '{"forget_ratio": 5, "data": null, "models": []}', '{"forget_ratio": 5, "data": "d", "models": [null]}'],
    ids=["null", "string", "numeric-path", "null-data", "null-entry"],
)
def test_a_malformed_bench_json_gives_one_clear_error(content, tmp_path):
    from umu_hf.errors import UmuError

    (tmp_path / "bench.json").write_text(content)
    with pytest.raises(UmuError, match="not a valid bench manifest.*rerun `umu-hf bench`"):
        read_manifest(tmp_path)


@pytest.mark.slow
def test_a_method_that_diverges_is_recorded_as_failed_and_the_bench_goes_on(tmp_path):
    lines: list[str] = []
    settings = _reduced(method_extra={"ga": {"learning_rate": float("inf")}})
    table = Bench(tmp_path, settings, log=lines.append).run()
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    rows = {r["model"]: r for r in board["rows"]}
    assert "non-finite" in rows["ga"]["failed"]["0"]
    assert all(c["mean"] is None for c in rows["ga"]["cells"].values())
    assert rows["npo"]["cells"]["retain/cloze"]["mean"] is not None and "failed" not in rows["npo"]
    assert "ga (failed: seed 0)" in table and any("unlearn ga" in line and "FAILED" in line for line in lines)


@pytest.mark.slow
def test_other_data_is_never_served_from_the_cache(tmp_path, tiny_model_dir, synth_dir):
    """--no-finetune --data D2 after --data D1 into the same --out: D2 is evaluated, not D1's results reused."""
    import shutil

    from umu_hf.data.synth import generate_dataset

    other = generate_dataset(tmp_path / "d2", 12, 2, 5)  # another seed: other people, other questions
    out = tmp_path / "bench"
    runs = {}
    for name, data in (("d1", synth_dir), ("d2", other)):
        settings = _reduced(model=str(tiny_model_dir), data=str(data), finetune=False, methods=())
        Bench(out, settings, log=lambda line: None).run()
        runs[name] = json.loads((out / "leaderboard.json").read_text())
    evals = sorted(p.name for p in (out / "evals").iterdir())
    assert len(evals) == 2, evals  # one evaluation per dataset
    evaluated = sorted(json.loads((out / "evals" / e / "results.json").read_text())["data"] for e in evals)
    assert evaluated == sorted([str(synth_dir), str(other)])
    assert read_manifest(out).data == str(other)
    # the same path with other content is other data too
    shutil.rmtree(other)
    generate_dataset(other, 12, 2, 6)
    Bench(out, _reduced(model=str(tiny_model_dir), data=str(other), finetune=False, methods=()),
          log=lambda line: None).run()
    assert len(list((out / "evals").iterdir())) == 3


def test_workers_flag_is_checked(tmp_path):
    from umu_hf.bench.parallel import available_cores, plan_workers
    from umu_hf.errors import UmuError

    assert plan_workers("auto", "cuda", 3).workers == 1  # the stages share one card
    assert plan_workers("auto", "cpu", 1).workers == 1  # one seed: nothing to run side by side
    assert plan_workers("2", "cpu", 3).threads == max(1, available_cores() // 2)
    # fixed threads (the embedded profile's 1): auto fills the cores at that many threads each
    plan = plan_workers("auto", "cpu", 8, threads=1)
    assert (plan.workers, plan.threads) == (min(available_cores(), 8), 1)
    assert plan_workers("3", "cpu", 3, threads=1).threads == 1
    with pytest.raises(UmuError, match="--threads"):
        plan_workers("auto", "cpu", 3, threads=0)
    for bad in ("0", "-1", "two", 0):
        with pytest.raises(UmuError, match="--workers"):
            plan_workers(bad, "cpu", 3)
    with pytest.raises(UmuError, match="--workers"):  # refused before any stage runs
        Bench(tmp_path, _reduced(), workers="0", log=lambda line: None).run()
    assert not (tmp_path / "data").exists()


def test_fixed_threads_are_part_of_every_training_key(tmp_path):
    """A model trained with other intra-op threads has other numbers: it is never reused for these settings."""
    one = Bench(tmp_path, _reduced())
    two = Bench(tmp_path, _reduced(threads=2))
    free = Bench(tmp_path, _reduced(threads=None))
    assert len({repr(b._placement()) for b in (one, two, free)}) == 3
    assert free._placement() == ("cpu",)  # real runs: the device alone, as before


@pytest.mark.slow
def test_kill_9_of_a_bench_mid_stage_ends_its_workers_and_a_rerun_gives_the_uninterrupted_results(tmp_path):
    """``kill -9`` of ``umu-hf bench --workers 2`` once vanilla fine-tuning has checkpointed its first epoch: its
    worker processes end within seconds instead of finishing their stages into the folder beside the next run (which
    then refused the half-written folder), and the same command again resumes and ends with exactly the numbers of a
    bench that was never interrupted: seed 0's values equal those of a one-seed bench run beside it in one process
    (each seed's chain is independent of the others and of the workers, at the embedded profile's one thread)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import psutil

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1"}

    def command(out: Path, seeds: int, workers: int) -> list[str]:
        return [sys.executable, "-m", "umu_hf.cli", "bench", "--out", str(out), "--methods", "ga", "--seeds",
                str(seeds), "--workers", str(workers), "--forget-ratio", "5", "--fictitious", "12", "--real", "2",
                "--vanilla-epochs", "2", "--unlearn-epochs", "1", "--eval-limit", "2", "--min-vanilla-acc", "0",
                "--eval-max-new-tokens", "classification=8,cloze=8,generation=8", "--device", "cpu"]

    uninterrupted = subprocess.Popen(command(tmp_path / "a", 1, 1), env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
    killed = tmp_path / "b"
    victim = subprocess.Popen(command(killed, 2, 2), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(killed.glob("models/vanilla-*/checkpoint-*/trainer_state.json")):
        assert victim.poll() is None, "the bench ended before it could be killed"
        assert time.monotonic() < deadline, "no vanilla checkpoint after 300 s"
        time.sleep(0.01)
    workers = [p for p in psutil.Process(victim.pid).children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]
    assert workers, "no worker process found"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL and not (killed / "leaderboard.json").exists()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert not alive, f"workers outlived the bench: {[p.pid for p in alive]}"
    rerun = subprocess.run(command(killed, 2, 2), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _, err = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, err[-3000:]

    def seed_0(folder: Path) -> list:
        board = json.loads((folder / "leaderboard.json").read_text())
        return [(r["model"], {k: c["values"][c["seeds"].index(0)] for k, c in r["cells"].items()})
                for r in board["rows"]]

    assert seed_0(killed) == seed_0(tmp_path / "a")
    results = [json.loads(p.read_text()) for p in killed.glob("evals/*/results.json")]
    assert len(results) == 4 and all(r["settings"]["max_new_tokens"] == {"classification": 8, "cloze": 8,
                                                                          "generation": 8} for r in results)
    assert "replies cut at classification 8, cloze 8, generation 8 new tokens" in (killed / "leaderboard.md").read_text()


@pytest.mark.slow
def test_an_error_in_a_worker_is_the_runs_error(tmp_path):
    with pytest.raises(VanillaTooWeakError, match="does not know the profiles"):
        Bench(tmp_path, _reduced(seeds=(0, 1), min_vanilla_retain_acc=101.0), workers=2,
              log=lambda line: None).run()
    assert not list((tmp_path / "evals").glob("ga-*"))  # no method ran on a vanilla that failed its check


@pytest.mark.slow
def test_bench_robustness_adds_its_table(tmp_path):
    from umu_hf.leaderboard.robustness import run_values

    Bench(tmp_path, _reduced(methods=("ga",), robustness=True), log=lambda line: None).run()
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert board["robustness_columns"]
    manifest = read_manifest(tmp_path)
    for row, entry in zip(board["rows"], manifest.models, strict=True):
        results = json.loads((tmp_path / entry.results).read_text())
        expected = run_values(results["robustness"])
        assert {key: cell["mean"] for key, cell in row["robustness"].items()} == pytest.approx(expected)
    assert "Robustness (`--robustness`" in (tmp_path / "leaderboard.md").read_text()
    with Image.open(tmp_path / "leaderboard.png") as image:  # a fourth row of panels: the robustness ones
        assert image.height > 4 * 300
