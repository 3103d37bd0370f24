"""The Space (umu_hf.space): its logic on a tiny bench output, the app through gradio_client, a real browser.

The bench output is built once per session without running the bench: a synthetic dataset (12 + 4 profiles),
two untrained tiny LLaVAs (``vanilla`` seed 0, ``ga`` seed 1), a real evaluation of each (the runner, first
question pair of every set and task, 4 new tokens), the leaderboard and ``bench.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from umu_hf.errors import UmuError

BUDGET = 4  # new tokens per reply everywhere in these tests: the runner's and the Space's
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def bench_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny but complete bench folder (read-only for the tests)."""
    from umu_hf.bench.manifest import Manifest, ModelEntry, write_manifest
    from umu_hf.data.synth import generate_dataset
    from umu_hf.evaluation.results import headline_terms
    from umu_hf.evaluation.runner import evaluate_model
    from umu_hf.evaluation.store import load_records
    from umu_hf.leaderboard import Run, write_leaderboard
    from umu_hf.models.tiny import build_tiny_from_dataset

    root = tmp_path_factory.mktemp("space") / "bench"
    data = generate_dataset(root / "data", n_fictitious=12, n_real=4, seed=0)
    results, entries = {}, []
    for name, seed, method in (("vanilla", 0, None), ("ga", 1, "ga")):
        model = build_tiny_from_dataset(data, root / "models" / name, size="small", seed=seed)
        results[name] = evaluate_model(
            str(model),
            str(data),
            5,
            root / "evals" / name,
            limit=1,
            device="cpu",
            max_new_tokens=dict.fromkeys(("classification", "cloze", "generation"), BUDGET),
            progress=False,
        )
        entries.append(ModelEntry(name, f"models/{name}", f"evals/{name}/results.json", method))
    runs = [Run(name, 5, 0, res, headline_terms(load_records(root / "evals" / name).values()))
            for name, res in results.items()]
    write_leaderboard(runs, root)
    write_manifest(root, Manifest(forget_ratio=5, data="data", models=entries))
    return root


@pytest.fixture(scope="module")
def space(bench_dir: Path):
    from umu_hf.space.logic import BenchSpace

    return BenchSpace(bench_dir, device="cpu")


def _predictions(bench_dir: Path, name: str) -> dict[str, dict]:
    lines = (bench_dir / "evals" / name / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return {record["id"]: record for record in map(json.loads, lines)}


# -- pure logic ----------------------------------------------------------------------------------------------
def test_clip_text_cuts_at_the_documented_limit() -> None:
    from umu_hf.space.logic import MAX_INPUT_CHARS, clip_text

    assert clip_text("  hi  ") == ("hi", False)
    assert clip_text(None) == ("", False)
    text, cut = clip_text("x" * (MAX_INPUT_CHARS + 5))
    assert cut and len(text) == MAX_INPUT_CHARS


def test_judge_follows_the_benchmark_rule() -> None:
    from umu_hf.evaluation.items import Question
    from umu_hf.space.logic import judge

    options = ("Rome", "Oslo", "Bern", "Riga")
    exact = Question("forget", "classification", "unimodal", 1, 0, "city", "Where?", "Oslo", options, 0)
    assert judge(exact, "Oslo").correct is True
    assert judge(exact, "Osl").correct is False  # exact matching off the real set
    closest = Question("real", "classification", "unimodal", 1, 0, "city", "Where?", "Oslo", options, 0)
    verdict = judge(closest, "Osl")
    assert verdict.correct is True and "Oslo" in verdict.text
    cloze = Question("retain", "cloze", "multimodal", 1, 0, "city", "Born in ___.", "Oslo.", None, 0)
    assert judge(cloze, "She was born in oslo").correct is True
    gen = Question(
        "retain", "generation", "unimodal", 1, 0, "city", "Where?", "She was born in Oslo.", None, 0
    )
    verdict = judge(gen, "She was born in Oslo.")
    assert verdict.correct is None and verdict.score == pytest.approx(1.0) and "ROUGE-L" in verdict.text


# -- the bench folder seen by the Space ----------------------------------------------------------------------
def test_models_profiles_and_questions(space, bench_dir: Path) -> None:
    from umu_hf.data.load import load_umu_split
    from umu_hf.evaluation.items import iter_items

    assert space.model_names() == ["vanilla", "ga"] and space.default_pair() == ("vanilla", "ga")
    for set_name, config in (("forget", "forget05"), ("retain", "retain95"), ("real", "real")):
        split = load_umu_split(bench_dir / "data", config)
        assert [pid for _, pid in space.profile_choices(set_name)] == split["ID"]
        pid = split["ID"][-1]
        expected = [q for q in iter_items(split, set_name, tasks=("cloze",)) if q.profile_id == pid]
        got = space.questions(set_name, pid, "cloze", "multimodal")
        assert got == [q for q in expected if q.modality == "multimodal"] and got
        assert space.portrait(set_name, pid).mode == "RGB"


def test_compare_replies_are_the_runners(space, bench_dir: Path) -> None:
    """The first question pair of a set and task, both modalities: the Space's reply and verdict equal the
    evaluation runner's stored prediction (same adapter, prompt, image, budget). Each task once, each set once
    (real: closest option matching)."""
    records = {name: _predictions(bench_dir, name) for name in ("vanilla", "ga")}
    for set_name, task in (("real", "classification"), ("forget", "cloze"), ("retain", "generation")):
        pid = space.profile_choices(set_name)[0][1]
        for modality in ("unimodal", "multimodal"):
            result = space.compare(["vanilla", "ga"], set_name, pid, task, modality, 0)
            uid = result.question.uid()
            for name in ("vanilla", "ga"):
                record = records[name][uid]
                assert result.replies[name] == record["reply"], (name, uid)
                verdict = result.verdicts[name]
                if task == "generation":
                    assert verdict.score == pytest.approx(record["score"])
                else:
                    assert verdict.correct == record["correct"]
    assert space.budget("vanilla", "generation") == BUDGET  # read from the model's results.json settings


def test_models_load_once_and_stay_cached(space) -> None:
    first = space.model("ga")
    space.ask(
        ["ga", "ga"], "Who is the person in the image?", "forget", space.profile_choices("forget")[0][1], True
    )
    assert space.model("ga") is first
    assert set(space.loaded_models()) <= {"vanilla", "ga"}


def test_ask_cuts_long_questions(bench_dir: Path) -> None:
    from umu_hf.space.logic import MAX_INPUT_CHARS, BenchSpace

    space = BenchSpace(bench_dir, device="cpu", max_new_tokens={"generation": 2})
    replies, cut = space.ask(["vanilla", "ga"], "Where was she born? " * 100)
    assert cut and set(replies) == {"vanilla", "ga"} and all(isinstance(r, str) for r in replies.values())
    assert len("Where was she born? " * 100) > MAX_INPUT_CHARS
    with pytest.raises(UmuError, match="type a question"):
        space.ask(["vanilla"], "   ")
    with pytest.raises(UmuError, match="needs a profile"):
        space.ask(["vanilla"], "hello", with_image=True)


def test_visitor_choices_are_checked(space) -> None:
    pid = space.profile_choices("forget")[0][1]
    with pytest.raises(UmuError, match="unknown model"):
        space.compare(["vanilla", "/etc"], "forget", pid, "cloze", "unimodal", 0)
    with pytest.raises(UmuError, match="not in the forget set"):
        space.compare(["vanilla"], "forget", 999, "cloze", "unimodal", 0)
    with pytest.raises(UmuError, match="out of range"):
        space.compare(["vanilla"], "forget", pid, "cloze", "unimodal", 99)
    with pytest.raises(UmuError, match="unknown set"):
        space.profile_choices("../data")
    with pytest.raises(UmuError, match="unknown task"):
        space.questions("forget", pid, "essay", "unimodal")
    with pytest.raises(UmuError, match="whole number"):
        space.portrait("forget", "3; rm -rf /")


def test_only_paths_inside_the_bench_folder_are_opened(bench_dir: Path, tmp_path: Path) -> None:
    from umu_hf.bench.manifest import Manifest, ModelEntry, read_manifest, write_manifest
    from umu_hf.space.logic import BenchSpace

    copy = tmp_path / "bench"
    shutil.copytree(bench_dir, copy, ignore=shutil.ignore_patterns("models", "evals"))
    manifest = read_manifest(bench_dir)
    outside = ModelEntry("outside", str(bench_dir / "models" / "ga"))
    write_manifest(copy, Manifest(5, "data", [ModelEntry("escape", "../../models/ga"), outside]))
    with pytest.raises(UmuError, match="no model inside the bench folder"):
        BenchSpace(copy)
    write_manifest(copy, Manifest(5, "../elsewhere", manifest.models))
    with pytest.raises(UmuError, match="outside the bench folder"):
        BenchSpace(copy)


def test_leaderboard_is_read_with_directions(bench_dir: Path) -> None:
    from umu_hf.leaderboard import columns
    from umu_hf.space.logic import directions_note, read_leaderboard

    board = read_leaderboard(bench_dir)
    assert board.columns == [c[2] for c in columns()] and board.plot is not None
    assert [row[1] for row in board.table()] == ["vanilla", "ga"]
    assert board.headers()[:2] == ["forget %", "model"]
    assert all(("↓" in c) == c.startswith("forget") for c in board.columns)
    assert "lower is better" in directions_note() and "higher is better" in directions_note()


def test_missing_bench_output_says_how_to_create_it(tmp_path: Path) -> None:
    from umu_hf.space.app import build_app

    demo = build_app(tmp_path / "nothing-here")
    texts = [c.get("props", {}).get("value") or "" for c in demo.config["components"]]
    assert any("umu-hf bench --out" in str(text) for text in texts)


def test_cli_defaults_bind_to_loopback() -> None:
    from umu_hf.bench.cli import DEFAULT_OUT
    from umu_hf.cli import build_parser

    args = build_parser().parse_args(["space"])
    assert (args.bench_dir, args.host, args.port) == (DEFAULT_OUT, "127.0.0.1", 7860)
    args = build_parser().parse_args(["space", "--bench-dir", "b", "--host", "0.0.0.0", "--port", "8000"])
    assert (args.bench_dir, args.host, args.port) == ("b", "0.0.0.0", 8000)


# -- the served app ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(bench_dir: Path):
    """The app on 127.0.0.1 (a free port), closed after the module."""
    from umu_hf.space.app import build_app, launch

    demo = build_app(bench_dir, device="cpu")
    _app, url, _share = launch(demo, port=None, prevent_thread_lock=True, quiet=True)
    try:
        assert url.startswith("http://127.0.0.1:")
        yield url
    finally:
        demo.close()


def test_every_event_is_scriptable(served: str, space) -> None:
    from gradio_client import Client

    client = Client(served, verbose=False)
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/compare", "/ask", "/profiles", "/profile", "/questions", "/leaderboard"} <= endpoints

    pid = space.profile_choices("real")[1][1]
    expected = space.compare(["vanilla", "ga"], "real", pid, "classification", "multimodal", 2)
    shown, reference, reply_a, verdict_a, reply_b, verdict_b = client.predict(
        "vanilla", "ga", "real", pid, "classification", "multimodal", 2, api_name="/compare"
    )
    assert (reply_a, reply_b) == (expected.replies["vanilla"], expected.replies["ga"])
    assert reference == expected.question.reference and expected.question.question in shown
    assert verdict_a.startswith("**vanilla**") and verdict_b.startswith("**ga**")

    free_a, free_b, note = client.predict("vanilla", "ga", "real", pid, "Who is this?", True, api_name="/ask")
    replies, _ = space.ask(["vanilla", "ga"], "Who is this?", "real", pid, True)
    assert (free_a, free_b) == (replies["vanilla"], replies["ga"]) and "portrait" in note

    profiles = client.predict("retain", api_name="/profiles")
    assert profiles["value"] == space.profile_choices("retain")[0][1]
    table, plot, note = client.predict(api_name="/leaderboard")
    assert [row[1] for row in table["data"]] == ["vanilla", "ga"] and plot and "lower is better" in note


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_browser_compare(served: str, space, tmp_path: Path) -> None:
    """Headless Chromium: pick the retain set and its third profile, a cloze question asked with the portrait,
    compare, and find both models' replies on the page."""
    from playwright.sync_api import expect, sync_playwright

    label, pid = space.profile_choices("retain")[2]
    expected = space.compare(["vanilla", "ga"], "retain", pid, "cloze", "multimodal", 0)
    shot = tmp_path / "umu-space.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(served, timeout=60_000)
            page.get_by_label("Set", exact=True).click()
            page.get_by_role("option", name="retain (should be kept)", exact=True).click()
            page.get_by_label("Profile", exact=True).click()
            page.get_by_role("option", name=label, exact=True).click()
            expect(page.get_by_label("Profile", exact=True)).to_have_value(label)
            page.locator("#task").get_by_text("cloze").click()
            expect(page.get_by_label("Question", exact=True)).to_have_value(
                f"1. {expected.question.key}: {expected.question.question}"
            )
            page.locator("#compare-btn").click()
            reply_a, reply_b = page.locator("#reply-a textarea"), page.locator("#reply-b textarea")
            expect(reply_a).to_have_value(expected.replies["vanilla"], timeout=60_000)
            expect(reply_b).to_have_value(expected.replies["ga"], timeout=60_000)
            expect(page.locator("#reference textarea")).to_have_value(expected.question.reference)
            expect(page.locator("#verdict-b")).to_contain_text("ga")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("UMU_SCREENSHOT_DIR"):
        target = Path(os.environ["UMU_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / "umu-space-screenshot.png")


def test_model_cache_is_capped_least_recently_used_first(bench_dir: Path) -> None:
    from umu_hf.space.logic import BenchSpace

    space = BenchSpace(bench_dir, device="cpu", max_loaded_models=1)
    space.model("vanilla")
    space.model("ga")
    assert space.loaded_models() == ["ga"]
    with pytest.raises(UmuError, match="max_loaded_models must be a positive integer"):
        BenchSpace(bench_dir, max_loaded_models=0)


def test_unexpected_errors_reach_visitors_as_one_generic_line(caplog) -> None:
    import gradio as gr

    from umu_hf.space.app import INTERNAL_ERROR, _guard

    def broken() -> None:
        raise RuntimeError("CUDA error at /home/someone/secret/model.safetensors")

    with caplog.at_level("ERROR"), pytest.raises(gr.Error) as error:
        _guard(gr, broken)()
    assert str(error.value.message) == INTERNAL_ERROR and "secret" not in str(error.value)
    assert "secret/model.safetensors" in caplog.text  # logged server-side

    def refused() -> None:
        raise UmuError("unknown model 'x'; choose one of vanilla, ga")

    with pytest.raises(gr.Error, match="unknown model 'x'"):
        _guard(gr, refused)()


def test_launch_caps_the_queue_and_request_size(bench_dir: Path) -> None:
    from umu_hf.space.app import QUEUE_MAX_SIZE, build_app, launch

    demo = build_app(bench_dir, device="cpu")
    launch(demo, port=None, prevent_thread_lock=True)
    try:
        assert demo._queue.max_size == QUEUE_MAX_SIZE
        assert demo.max_file_size == 1024 * 1024  # "1mb": the app takes no uploads
    finally:
        demo.close()


def test_every_file_the_space_opens_follows_one_rule(bench_dir: Path, tmp_path: Path) -> None:
    """A ``hub:`` value cannot smuggle a path, and leaderboard files are resolved inside the bench folder too."""
    from umu_hf.bench.manifest import Manifest, read_manifest, write_manifest
    from umu_hf.space.logic import BenchSpace, read_leaderboard

    copy = tmp_path / "copy"
    shutil.copytree(bench_dir, copy)
    manifest = read_manifest(copy)
    for data in ("hub:../elsewhere", "hub:/etc", f"hub:{bench_dir / 'data'}"):
        write_manifest(copy, Manifest(5, data, manifest.models))
        with pytest.raises(UmuError, match="not a Hub repo id"):
            BenchSpace(copy)
    outside = tmp_path / "planted.json"
    outside.write_text((copy / "leaderboard.json").read_text())
    (copy / "leaderboard.json").unlink()
    (copy / "leaderboard.json").symlink_to(outside)
    with pytest.raises(UmuError, match="outside the bench folder"):
        read_leaderboard(copy)
