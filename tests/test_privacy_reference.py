"""Privacy against the retain model: its training data, forget quality and PrivLeak in
``umu-hf eval --retain-model``, and the leaderboard's privacy columns."""

from __future__ import annotations

import json

import pytest

from umu_hf.cli import main
from umu_hf.errors import UmuError
from umu_hf.leaderboard import PRIVACY_COLUMNS, RETAIN_MODEL, Run, build_board, to_markdown, write_leaderboard
from umu_hf.privacy.reference import REFERENCE_FILE, compare_with_retain, privleak

MODALITIES = ("unimodal", "multimodal")


def test_retain_model_trains_on_every_part_but_the_forget_set(synth_dir):
    from umu_hf.data.load import load_umu_split
    from umu_hf.data.schema import check_training_configs, retain_model_config
    from umu_hf.trainers.jobs import build_finetune_dataset, load_training_split

    assert retain_model_config(5) == "retain95+real"
    union = load_training_split(str(synth_dir), "retain85+real")
    ids = set(union["ID"])
    forget = set(load_umu_split(str(synth_dir), "forget15")["ID"])
    full = set(load_umu_split(str(synth_dir), "full")["ID"])
    assert ids == full - forget and not ids & forget
    sizes = {c: len(build_finetune_dataset(str(synth_dir), c, streams="paired")) for c in ("retain85", "real")}
    assert len(build_finetune_dataset(str(synth_dir), "retain85+real", streams="paired")) == sum(sizes.values())
    with pytest.raises(UmuError, match="unknown config 'retian85'"):
        check_training_configs("retian85+real")
    with pytest.raises(UmuError, match="no dataset config"):
        check_training_configs("+")


def test_finetune_front_end_takes_a_joined_config(tmp_path):
    from umu_hf.trainers.front import make_parser

    argv = ["--model", "m", "--data", "d", "--output_dir", str(tmp_path), "--config_name", "retain90+real"]
    args, _lora, _config = make_parser("finetune", argv).parse(argv)
    assert args.config_name == "retain90+real"


def test_relearn_checks_the_baseline_before_any_work(tiny_model_dir, synth_dir, tmp_path, capsys):
    out = tmp_path / "relearn"
    argv = ["relearn", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--forget-ratio", "5", "--out",
            str(out), "--steps", "1", "--device", "cpu", "--baseline", str(tmp_path / "missing")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "missing does not exist" in err and err.count("\n") == 1
    assert not out.exists()


def _block(auc: float, ratios: list[float]) -> dict:
    mia = {"loss": {"unimodal": auc, "multimodal": auc / 2, "gap": -auc / 2},
           "min_k": {"unimodal": auc, "multimodal": auc, "gap": 0.0}}  # fmt: skip
    return {"mia": mia, "truth_ratios": {m: list(ratios) for m in MODALITIES}}


def test_privleak_is_muses_convention():
    """MUSE scores members *low* (its AUC labels the holdout 1: ``1 − ours``) and divides by the retain AUC on that
    scale; a model that memorised the forget set is near −100, an over-unlearned one positive."""
    from umu_hf.privacy.auc import auc

    def muse_auc(forget: list[float], holdout: list[float]) -> float:  # the holdout is MUSE's positive class
        return auc(holdout, forget)

    memorised = ([-0.1, -0.2, -0.3, -0.4], [-2.0, -2.5, -3.0, -0.35])  # (forget, holdout) Min-K scores
    retain = ([-2.0, -1.0, -3.0, -0.5], [-2.5, -1.5, -0.2, -1.8])
    broken = ([-4.0, -5.0, -1.0, -6.0], [-2.0, -2.5, -3.0, -0.35])
    expected = lambda m, r: (muse_auc(*m) - muse_auc(*r)) / muse_auc(*r) * 100  # noqa: E731
    for model in (memorised, retain, broken):
        assert privleak(auc(*model), auc(*retain)) == pytest.approx(expected(model, retain))
    assert -100 < privleak(auc(*memorised), auc(*retain)) < -80  # still recognised: negative, near -100
    assert privleak(auc(*broken), auc(*retain)) > 0  # over-unlearned: positive
    assert privleak(0.99, 0.48) == pytest.approx(-98.08, abs=0.01)  # the README's vanilla against its retain model
    assert privleak(None, 0.5) is None and privleak(0.5, 1.0) is None


def test_compare_with_retain_by_hand():
    assert privleak(0.75, 0.5) == -50.0 and privleak(0.5, 0.0) == -50.0
    same = compare_with_retain(_block(0.6, [0.1, 0.5, 0.9]), _block(0.6, [0.1, 0.5, 0.9]), "m")
    assert {m: same["forget_quality"][m]["forget_quality"] for m in MODALITIES} == dict.fromkeys(MODALITIES, 1.0)
    assert same["privleak"]["min_k"] == {"unimodal": 0.0, "multimodal": 0.0, "gap": 0.0}
    leak = compare_with_retain(_block(0.9, [0.01, 0.02, 0.03, 0.04]), _block(0.5, [0.9, 1.0, 1.1, 1.2]))
    assert leak["privleak"]["loss"]["unimodal"] == pytest.approx(-80.0)
    # multimodal 0.45 against 0.25: MUSE's 0.55 against 0.75, −26.7 %
    assert leak["privleak"]["loss"]["gap"] == pytest.approx(-20 / 0.75 + 80.0)
    assert leak["forget_quality"]["unimodal"]["ks_statistic"] == 1.0
    assert leak["forget_quality"]["unimodal"]["forget_quality"] < 0.05
    assert leak["retain_model"]["mia"]["loss"]["unimodal"] == 0.5
    with pytest.raises(UmuError, match="retain model's privacy block"):
        compare_with_retain(_block(0.9, [1.0]), {"mia": {}})


def test_privleak_compares_the_same_pairs_only():
    """A retain model block whose UM_QA pairs were laid out otherwise gives no unimodal PrivLeak (and says so);
    the multimodal one, the same pairs, stays."""
    model, retain = _block(0.9, [0.1, 0.2]), _block(0.5, [0.1, 0.2])
    model["layout"] = {"unimodal": "UM_QA with portrait"}
    retain["layout"] = {"unimodal": "UM_QA text only"}
    out = compare_with_retain(model, retain)
    assert out["privleak"]["min_k"]["unimodal"] is None and out["privleak"]["min_k"]["multimodal"] == -80.0
    assert "UM_QA with portrait" in out["privleak_note"] and out["retain_model"]["layout"] == retain["layout"]
    retain["layout"] = dict(model["layout"])
    assert "privleak_note" not in compare_with_retain(model, retain)


def test_eval_retain_model_against_itself(tiny_model_dir, synth_dir, tmp_path, capsys, monkeypatch):
    """A model compared with itself as the retain model: forget quality 1 and PrivLeak 0 in both modalities; the
    retain model's measurement is cached in the evaluation folder and reused by a rerun. Each model is loaded
    once: the privacy block is measured on the model the evaluation loaded."""
    from umu_hf.models import loading

    loads: list[str] = []
    original = loading.load_model

    def counting(model, *args, **kwargs):
        loads.append(model)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(loading, "load_model", counting)
    out = tmp_path / "eval"
    # the privacy block asks no generation question: a 4-token generation budget (not 200) keeps the runs short
    argv = ["eval", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--out", str(out), "--forget-ratio",
            "15", "--sets", "forget", "--limit", "2", "--device", "cpu", "--no-progress",
            "--retain-model", str(tiny_model_dir), "--max-new-tokens", "generation=4"]  # fmt: skip
    assert main(argv) == 0
    assert loads == [str(tiny_model_dir)] * 2  # the retain model, then the evaluated model: once each
    printed = capsys.readouterr().out
    block = json.loads((out / "results.json").read_text(encoding="utf-8"))["privacy"]
    for modality in MODALITIES:
        assert block["forget_quality"][modality]["forget_quality"] == 1.0
        assert block["forget_quality"][modality]["n_unlearned"] == 2  # --limit 2 classification items
        assert all(block["privleak"][attack][modality] == 0.0 for attack in block["privleak"])
        # the reference attack against itself: every pair's loss difference is 0, so chance, flagging nobody
        assert block["mia"]["reference"][modality] == 0.5
        assert block["tpr_at_fpr"]["reference"][modality] == {"1%": 0.0, "5%": 0.0}
    assert block["retain_model"]["model"] == str(tiny_model_dir.resolve())
    assert "forget quality" in printed and "PrivLeak" in printed
    cache = out / REFERENCE_FILE
    stamp = cache.stat().st_mtime_ns
    loads.clear()
    assert main([*argv, "--overwrite"]) == 0
    assert cache.stat().st_mtime_ns == stamp  # reused, not measured again
    assert loads == [str(tiny_model_dir)]


def _run(model: str, seed: int, auc: float, fq: float | None, leak: float | None) -> Run:
    privacy = {"mia": {"min_k": {"unimodal": auc, "multimodal": auc, "gap": 0.0}}}
    if fq is not None:
        privacy["forget_quality"] = {m: {"forget_quality": fq} for m in MODALITIES}
        privacy["privleak"] = {"min_k": {"unimodal": leak, "multimodal": leak, "gap": 0.0}}
    headline = {s: {t: {"AccF": 50.0, "AccR": 50.0, "RLF": 50.0, "RLR": 50.0}
                    for t in ("classification", "cloze", "generation")} for s in ("forget", "retain", "real")}
    return Run(model, 15, seed, {"headline": headline, "privacy": privacy})


def test_leaderboard_privacy_columns(tmp_path):
    runs = [_run(RETAIN_MODEL, s, 0.5, None, None) for s in (0, 1)]
    runs += [_run("vanilla", s, 0.9 + s / 100, 1e-4, 80.0 + s) for s in (0, 1)]
    runs += [_run("ga", s, 0.5, 0.5 + s / 10, 0.0) for s in (0, 1)]
    board = build_board(runs)
    keys = [c["key"] for c in board["columns"] if c["set"] == "privacy"]
    assert keys == [c.key for c in PRIVACY_COLUMNS]
    rows = {r["model"]: r["cells"] for r in board["rows"]}
    cell = rows["vanilla"]["privacy/privleak_unimodal"]
    assert (cell["mean"], cell["values"], cell["vs_vanilla"]) == (80.5, [80.0, 81.0], None)
    assert cell["ci"] == [74.15, 86.85]  # t interval over 2 seeds: 80.5 ± 12.71 · 0.707 / √2
    assert rows[RETAIN_MODEL]["privacy/forget_quality_multimodal"]["mean"] is None  # the reference: blank
    assert rows["ga"]["privacy/forget_quality_unimodal"]["mean"] == pytest.approx(0.55)
    table = to_markdown(board)
    assert "FQ uni ↑" in table and "PrivLeak % mm →0" in table and "MIA AUC uni →0.5" in table
    assert "0.91 ± 0.01" in table and "Privacy (min_k" in table
    # comparisons are between methods only: the retain model is a reference like vanilla
    assert all(RETAIN_MODEL not in (p["a"], p["b"]) for ps in board["comparisons"]["15"].values() for p in ps)
    write_leaderboard(runs, tmp_path)
    assert (tmp_path / "leaderboard.png").stat().st_size > 0
    from umu_hf.space.tables import read_leaderboard

    space = read_leaderboard(tmp_path)
    row = dict(zip(space.headers(), space.table()[1], strict=True))
    assert row["model"] == "vanilla" and row["FQ uni ↑"] == "0.0001 ± 0" and row["MIA AUC mm →0.5"] == "0.91 ± 0.01"


def test_no_privacy_no_privacy_columns():
    runs = [Run("vanilla", 15, 0, {"headline": {}})]
    assert all(c["set"] != "privacy" for c in build_board(runs)["columns"])


def test_bench_privacy_refuses_early(tmp_path, tiny_model_dir):
    from umu_hf.bench.pipeline import Bench
    from umu_hf.bench.settings import BenchSettings
    from umu_hf.data.synth import generate_dataset

    data = generate_dataset(tmp_path / "plain", 20, 2, 0, n_holdout=0)
    settings = BenchSettings(data=str(data), model="m", methods=("ga",), seeds=(0,), privacy=True)
    with pytest.raises(UmuError, match="bench --privacy: .*holdout"):
        Bench(tmp_path / "bench", settings).run()
    assert not (tmp_path / "bench" / "models").exists()  # refused before any training
    assert main(["bench", "--out", str(tmp_path / "b3"), "--retain-model", "r"]) == 2
    assert main(["bench", "--out", str(tmp_path / "b4"), "--privacy", "--no-finetune", "--model", "m"]) == 2
    assert main(["bench", "--out", str(tmp_path / "b5"), "--no-finetune", "--model", "m",
                 "--retain-model", str(tmp_path / "missing")]) == 2
    assert main(["bench", "--out", str(tmp_path / "b6"), "--privacy", "--unimodal-layout", "text-only"]) == 2
    assert not any((tmp_path / name).exists() for name in ("b3", "b4", "b5", "b6"))
    from umu_hf.bench.cli import bench_settings, parse_args

    argv = ["--no-finetune", "--model", "m", "--retain-model", str(tiny_model_dir), "--unimodal-layout",
            "with-portrait"]  # fmt: skip
    assert bench_settings(*parse_args(argv)).unimodal_layout == "with-portrait"
    given = BenchSettings(finetune=False, model="m", methods=("ga",), seeds=(0,), privacy=True)
    with pytest.raises(UmuError, match="needs --retain-model"):
        Bench(tmp_path / "b2", given).retain_model("m", "k", "d", "dk", 15, 0)
