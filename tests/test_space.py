"""The Space (umu_hf.space): its logic on a tiny bench output, the app through gradio_client, a real browser.

The bench output is built once per session without running the bench: a synthetic dataset (12 + 4 profiles),
two untrained tiny LLaVAs (``vanilla`` seed 0, ``ga`` seed 1), a real evaluation of each (the runner, first
:data:`LIMIT` question pairs of every set and task, 4 new tokens), the leaderboard and ``bench.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from umu_hf.errors import UmuError

BUDGET = 4  # new tokens per reply everywhere in these tests: the runner's and the Space's
LIMIT = 3  # question pairs per set and task that the fixture's evaluation asks (all of the first profile's)
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
    from umu_hf.evaluation.results import headline_terms, modality_terms
    from umu_hf.evaluation.runner import EvalRequest, evaluate_model
    from umu_hf.evaluation.store import load_records
    from umu_hf.leaderboard import Run, write_leaderboard
    from umu_hf.models.tiny import build_tiny_from_dataset

    root = tmp_path_factory.mktemp("space") / "bench"
    data = generate_dataset(root / "data", n_fictitious=12, n_real=4, seed=0)
    results, entries = {}, []
    for name, seed, method in (("vanilla", 0, None), ("ga", 1, "ga")):
        model = build_tiny_from_dataset(data, root / "models" / name, size="small", seed=seed)
        request = EvalRequest(
            str(model),
            str(data),
            5,
            root / "evals" / name,
            limit=LIMIT,
            device="cpu",
            max_new_tokens=dict.fromkeys(("classification", "cloze", "generation"), BUDGET),
        )
        results[name] = evaluate_model(request, progress=False)
        entries.append(ModelEntry(name, f"models/{name}", f"evals/{name}/results.json", method))
    records = {name: list(load_records(root / "evals" / name).values()) for name in results}
    runs = [Run(name, 5, 0, res, headline_terms(records[name]), modality_terms(records[name]))
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


def _bench_paths(bench_dir: Path) -> list[str]:
    """Every spelling of the fixture bench's paths that a visitor must never see."""
    paths = {str(bench_dir), str(bench_dir.resolve()), str(bench_dir.parent)}
    for name in ("vanilla", "ga"):
        paths |= {f"models/{name}", f"evals/{name}", str(bench_dir / "models" / name)}
    return sorted(paths)


def _visible_texts(config: dict) -> list[str]:
    """Every string a visitor can see in a rendered Gradio config: values, labels, infos, choices, headers."""
    texts: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    for component in config["components"]:
        props = component.get("props", {})
        for key in ("value", "label", "info", "choices", "headers", "placeholder", "title"):
            walk(props.get(key))
    walk(config.get("title"))
    return texts


def _assert_page_screenshot(path: Path, width: int, min_height: int) -> None:
    """A PNG of the whole page at the viewport's width (at least its height), with content: many colours, and
    no colour covering almost all of it."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.width == width and image.height >= min_height, image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 24)
    assert len(colours) > 50, f"{len(colours)} colours: a blank page?"
    assert max(count for count, _ in colours) < 0.95 * width * image.height


# -- pure logic ----------------------------------------------------------------------------------------------
def test_clip_text_cuts_at_the_documented_limit() -> None:
    from umu_hf.space.text import MAX_INPUT_CHARS, clip_text

    assert clip_text("  hi  ") == ("hi", False)
    assert clip_text(None) == ("", False)
    text, cut = clip_text("x" * (MAX_INPUT_CHARS + 5))
    assert cut and len(text) == MAX_INPUT_CHARS


def test_judge_follows_the_benchmark_rule() -> None:
    from umu_hf.evaluation.items import Question
    from umu_hf.space.verdicts import judge

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


def test_outcome_names_the_modality_that_forgot() -> None:
    """One line per model: the 2x2 cell of its two verdicts, in words; generation shows both scores."""
    from umu_hf.scoring import binary_pair_metrics
    from umu_hf.space.verdicts import OUTCOMES, Verdict, outcome

    words = {
        (True, True): "still knows in both",
        (True, False): "forgot with the image only",
        (False, True): "forgot in text only",
        (False, False): "forgot in both",
    }
    for (u, m), expected in words.items():
        assert outcome({"unimodal": Verdict("", correct=u), "multimodal": Verdict("", correct=m)}) == expected
        # the same cell that the metric's 2x2 table counts the pair in
        table = binary_pair_metrics([u], [m])
        assert table[next(k for k, text in OUTCOMES.items() if text == expected)] == 100.0
    line = outcome({"unimodal": Verdict("", score=0.5), "multimodal": Verdict("", score=0.25)})
    assert "0.500 in text only" in line and "0.250 with the image" in line


def test_paths_are_hidden_behind_names(tmp_path: Path) -> None:
    from umu_hf.bench.manifest import ModelEntry
    from umu_hf.space.text import hide_paths, path_aliases

    root = tmp_path / "my-bench"
    aliases = path_aliases(root, [ModelEntry("ga", "models/ga-1a2b/merged", "evals/ga-1a2b/results.json")])
    text = (
        f"cannot load {root}/models/ga-1a2b/merged (see {root.resolve()}/evals/ga-1a2b/results.json); "
        "models/ga-1a2b/merged is broken; run `umu-hf bench --out " + str(root) + "`"
    )
    shown = hide_paths(text, aliases)
    assert shown == "cannot load ga (see ga); ga is broken; run `umu-hf bench --out my-bench`"
    assert hide_paths("models/ga-1a2b/merged-copy and xmodels/ga-1a2b/merged", aliases) == (
        "models/ga-1a2b/merged-copy and xmodels/ga-1a2b/merged"  # whole paths only
    )


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
        assert space.portrait(set_name, pid) is space.portrait(set_name, pid)  # decoded once per profile
        unimodal = [q for q in expected if q.modality == "unimodal"]
        assert space.question_choices(set_name, pid, "cloze") == [
            (f"{i + 1}. {q.key}: {q.question}", i) for i, q in enumerate(unimodal)
        ]
        for i, q in enumerate(unimodal):  # a pair: the two modalities of one fact, at the same index
            pair = space.question_pair(set_name, pid, "cloze", i)
            assert pair == {"unimodal": q, "multimodal": got[i]} and q.pair_key() == got[i].pair_key()
            assert q.key == got[i].key and q.question != got[i].question


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


def test_compare_pair_asks_both_modalities_as_the_runner(space, bench_dir: Path) -> None:
    """One click asks both models both questions of a pair: each of the four replies is the runner's stored
    prediction, each verdict the judge's, and each model's outcome line the 2x2 cell of its two records."""
    from umu_hf.scoring import alignment_key
    from umu_hf.space.verdicts import OUTCOMES, describe_pair, judge

    records = {name: _predictions(bench_dir, name) for name in ("vanilla", "ga")}
    cases = (("forget", "classification", 2), ("retain", "cloze", 1), ("real", "classification", 0),
             ("forget", "generation", 0))
    for set_name, task, index in cases:
        pid = space.profile_choices(set_name)[0][1]
        result = space.compare_pair(["vanilla", "ga"], set_name, pid, task, index)
        assert list(result.by_modality) == ["unimodal", "multimodal"]
        uni, multi = result.pair["unimodal"], result.pair["multimodal"]
        assert (uni.index, multi.index, uni.profile_id) == (index, index, pid)
        assert (uni.with_image, multi.with_image) == (False, True)
        assert uni.question in describe_pair(result.pair) and multi.question in describe_pair(result.pair)
        for name in ("vanilla", "ga"):
            stored = {m: records[name][q.uid()] for m, q in result.pair.items()}
            for modality, question in result.pair.items():
                reply = result.by_modality[modality].replies[name]
                assert reply == stored[modality]["reply"], (name, question.uid())
                assert result.verdicts(name)[modality] == judge(question, reply)
            if task == "generation":
                score = result.verdicts(name)["multimodal"].score
                assert score == pytest.approx(stored["multimodal"]["score"])
                assert "ROUGE-L" in result.outcome(name)
            else:
                assert [v.correct for v in result.verdicts(name).values()] == [
                    stored["unimodal"]["correct"], stored["multimodal"]["correct"]
                ]
                cell = alignment_key(stored["unimodal"]["correct"], stored["multimodal"]["correct"])
                assert result.outcome(name) == OUTCOMES[cell]
    with pytest.raises(UmuError, match="out of range"):
        space.compare_pair(["vanilla"], "forget", space.profile_choices("forget")[0][1], "cloze", 99)


def test_alignment_tables_are_the_results_json_ones(space, bench_dir: Path, tmp_path: Path) -> None:
    """Each model's forget-set table, per task, holds its results.json 2x2 cells (percent) and the counts of
    its stored predictions; a model without results.json gets one line instead."""
    from umu_hf.bench.manifest import Manifest, ModelEntry, write_manifest
    from umu_hf.scoring import ALIGNMENT_KEYS, alignment_key
    from umu_hf.space.logic import BenchSpace

    for name in ("vanilla", "ga"):
        results = json.loads((bench_dir / "evals" / name / "results.json").read_text(encoding="utf-8"))
        table = space.alignment(name)
        assert (table.model, table.set_name, table.note) == (name, "forget", "")
        assert list(table.tasks) == ["classification", "cloze"]  # generation is scored, not marked
        counted: dict[str, dict[str, int]] = {}
        by_pair: dict[tuple, dict[str, bool]] = {}
        for record in _predictions(bench_dir, name).values():
            if record["set"] == "forget" and record["task"] in table.tasks:
                key = (record["task"], record["profile_id"], record["index"])
                by_pair.setdefault(key, {})[record["modality"]] = record["correct"]
        for (task, *_), flags in by_pair.items():
            cell = alignment_key(flags["unimodal"], flags["multimodal"])
            counted.setdefault(task, dict.fromkeys(ALIGNMENT_KEYS, 0))[cell] += 1
        assert table.headers() == ["task", "question pairs", "both right", "only unimodal", "only multimodal",
                                   "both wrong"]
        for row in table.table():
            task, n, cells = row[0], row[1], row[2:]
            stored = results["sets"]["forget"][task]
            assert n == stored["n"] == LIMIT
            assert cells == [f"{counted[task][k]} ({stored[k]:.1f}%)" for k in ALIGNMENT_KEYS]

    # hand-made results.json: counts from percent of n; a model without one says so
    copy = tmp_path / "bench"
    shutil.copytree(bench_dir, copy, ignore=shutil.ignore_patterns("models"))
    results = json.loads((copy / "evals" / "ga" / "results.json").read_text(encoding="utf-8"))
    results["sets"]["forget"]["cloze"].update(n=8, both_correct=12.5, only_unimodal=25.0, only_multimodal=0.0,
                                              both_wrong=62.5)
    (copy / "evals" / "ga" / "results.json").write_text(json.dumps(results), encoding="utf-8")
    entries = [
        ModelEntry("vanilla", "models/vanilla"), ModelEntry("ga", "models/ga", "evals/ga/results.json")
    ]
    write_manifest(copy, Manifest(5, "data", entries))
    other = BenchSpace(copy)
    assert other.alignment("ga").table()[1] == ["cloze", 8, "1 (12.5%)", "2 (25.0%)", "0 (0.0%)", "5 (62.5%)"]
    missing = other.alignment("vanilla")
    assert missing.table() == [] and missing.note == "no results.json, so no alignment table"
    with pytest.raises(UmuError, match="unknown model"):
        other.alignment("models/ga")


def test_models_load_once_and_stay_cached(bench_dir: Path) -> None:
    """Nothing loads before it is asked; a model asked twice in one call loads once and stays; the cache lists
    exactly the models asked so far, least recently used first."""
    from umu_hf.space.logic import BenchSpace

    space = BenchSpace(bench_dir, device="cpu")
    assert space.loaded_models() == []
    first = space.model("ga")
    assert space.loaded_models() == ["ga"]
    pid = space.profile_choices("forget")[0][1]
    space.ask(["ga", "ga"], "Who is the person in the image?", "forget", pid, True)
    assert space.model("ga") is first and space.loaded_models() == ["ga"]
    space.compare(["vanilla"], "forget", pid, "cloze", "unimodal", 0)
    assert space.loaded_models() == ["ga", "vanilla"]
    assert space.model("ga") is first and space.loaded_models() == ["vanilla", "ga"]


def test_ask_cuts_long_questions(bench_dir: Path) -> None:
    from umu_hf.space.logic import BenchSpace
    from umu_hf.space.text import MAX_INPUT_CHARS

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
    from umu_hf.space.tables import directions_note, read_leaderboard

    board = read_leaderboard(bench_dir)
    assert board.columns == [c[2] for c in columns()] and board.plot is not None
    assert [row[1] for row in board.table()] == ["vanilla", "ga"]
    assert board.headers()[:2] == ["forget %", "model"]
    assert all(("↓" in c) == c.startswith("forget") for c in board.columns)
    assert "lower is better" in directions_note() and "higher is better" in directions_note()


def test_missing_bench_output_says_how_to_create_it(tmp_path: Path) -> None:
    from umu_hf.space.app import build_app

    demo = build_app(tmp_path / "nothing-here")
    texts = _visible_texts(demo.config)
    assert any("umu-hf bench --out nothing-here" in text for text in texts)
    assert not [text for text in texts if str(tmp_path) in text]  # the folder by its name only


def test_visitors_see_model_names_never_paths(bench_dir: Path, tmp_path: Path) -> None:
    """A bench whose bench.json also lists models outside the folder and has no leaderboard yet: nothing a
    visitor sees (labels, choices, notes, tables, error lines) holds a path of it, absolute or relative."""
    import gradio as gr

    from umu_hf.bench.manifest import Manifest, ModelEntry, read_manifest, write_manifest
    from umu_hf.space.app import _guard, build_app
    from umu_hf.space.logic import BenchSpace

    copy = tmp_path / "bench"
    shutil.copytree(bench_dir, copy, ignore=shutil.ignore_patterns("leaderboard.*"))
    refused = [
        ModelEntry("escape", "../../models/ga"), ModelEntry("outside", str(bench_dir / "models" / "ga"))
    ]
    write_manifest(copy, Manifest(5, "data", [*read_manifest(copy).models, *refused]))
    demo = build_app(copy, device="cpu")
    texts = _visible_texts(demo.config)
    joined = "\n".join(texts)
    for path in [*_bench_paths(copy), *_bench_paths(bench_dir), "../../models/ga"]:
        assert path not in joined, path
    assert "Not offered (their files lie outside the bench folder): escape, outside" in texts
    assert any("leaderboard.json not found" in text and "--out bench`" in text for text in texts)
    props = [c["props"] for c in demo.config["components"]]
    dropdowns = [p for p in props if p.get("elem_id") in ("model-a", "model-b")]
    assert [[choice[0] for choice in d["choices"]] for d in dropdowns] == [["vanilla", "ga"]] * 2

    space = BenchSpace(copy)

    def refuse() -> None:
        raise UmuError(f"cannot read {copy / 'models' / 'ga'}: broken; and {copy}/data")

    with pytest.raises(gr.Error) as error:
        _guard(gr, refuse, space.public)()
    assert str(error.value.message) == "cannot read ga: broken; and bench/data"


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


@pytest.mark.slow
def test_every_event_is_scriptable(served: str, space, bench_dir: Path) -> None:
    from gradio_client import Client

    from umu_hf.space.verdicts import describe_pair, reference_text

    client = Client(served, verbose=False)
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    events = {"/compare", "/ask", "/profiles", "/profile", "/questions", "/alignment", "/leaderboard"}
    assert events <= endpoints

    pid = space.profile_choices("real")[1][1]
    expected = space.compare_pair(["vanilla", "ga"], "real", pid, "classification", 2)
    out = client.predict("vanilla", "ga", "real", pid, "classification", 2, api_name="/compare")
    shown, reference, head_a, *cells_a = out[:7]
    head_b, *cells_b = out[7:12]
    assert len(out) == 13 and shown == describe_pair(expected.pair)
    assert reference == reference_text(expected.pair)
    assert (head_a, head_b) == ("**A · vanilla** (before)", "**B · ga** (after)")
    for name, cells in (("vanilla", cells_a), ("ga", cells_b)):  # reply, verdict per modality: the 2x2 grid
        verdicts = expected.verdicts(name)
        assert cells == [
            expected.by_modality["unimodal"].replies[name], verdicts["unimodal"].text,
            expected.by_modality["multimodal"].replies[name], verdicts["multimodal"].text,
        ]
        assert all(("✓" in v.text) != ("✗" in v.text) for v in verdicts.values())
    assert out[12] == (
        f"**A · vanilla** (before): {expected.outcome('vanilla')}  \n"
        f"**B · ga** (after): {expected.outcome('ga')}"
    )
    visible = "\n".join(str(value) for value in out)
    assert not [path for path in _bench_paths(bench_dir) if path in visible]

    other = space.profile_choices("retain")[1][1]
    questions = client.predict("retain", other, "generation", api_name="/questions")
    wanted = space.question_choices("retain", other, "generation")
    assert [tuple(c) for c in questions["choices"]] == wanted and questions["value"] == 0

    note_a, table_a, note_b, table_b = client.predict("ga", "vanilla", api_name="/alignment")
    assert note_a == "**A · ga** (before): forget set, from its results.json"
    assert note_b == "**B · vanilla** (after): forget set, from its results.json"
    assert table_a["data"] == [list(r) for r in space.alignment("ga").table()]
    assert table_b["data"] == [list(r) for r in space.alignment("vanilla").table()]
    assert table_a["headers"][2:] == ["both right", "only unimodal", "only multimodal", "both wrong"]

    free_a, free_b, note = client.predict("vanilla", "ga", "real", pid, "Who is this?", True, api_name="/ask")
    replies, _ = space.ask(["vanilla", "ga"], "Who is this?", "real", pid, True)
    assert (free_a, free_b) == (replies["vanilla"], replies["ga"]) and "portrait" in note

    profiles = client.predict("retain", api_name="/profiles")
    assert profiles["value"] == space.profile_choices("retain")[0][1]
    table, plot, note, details, _figure, robustness = client.predict(api_name="/leaderboard")
    assert [row[1] for row in table["data"]] == ["vanilla", "ga"] and plot and "lower is better" in note
    assert "Per modality, forget set" in details and "Selectivity" in details
    assert "no robustness numbers" in robustness and "umu-hf bench --robustness" in robustness


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent (apt-get install chromium)")
def test_browser_compare(served: str, space, tmp_path: Path) -> None:
    """Headless Chromium: pick the retain set and its third profile, a cloze question pair, ask both models
    both questions, and find the 2x2 grid filled (four replies, four verdicts) and one outcome line per model;
    then open the Alignment tab and find each model's forget-set table."""
    from playwright.sync_api import expect, sync_playwright

    label, pid = space.profile_choices("retain")[2]
    expected = space.compare_pair(["vanilla", "ga"], "retain", pid, "cloze", 0)
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
            uni = expected.pair["unimodal"]
            expect(page.locator("#question input")).to_have_value(f"1. {uni.key}: {uni.question}")
            page.locator("#compare-btn").click()
            for side, name in (("a", "vanilla"), ("b", "ga")):
                for modality in ("unimodal", "multimodal"):
                    reply = expected.by_modality[modality].replies[name]
                    verdict = expected.verdicts(name)[modality]
                    cell = page.locator(f"#reply-{side}-{modality} textarea")
                    expect(cell).to_have_value(reply, timeout=60_000)
                    mark = "✓ correct" if verdict.correct else "✗ wrong"
                    expect(page.locator(f"#verdict-{side}-{modality}")).to_contain_text(mark)
            expect(page.locator("#reference textarea")).to_have_value(expected.pair["unimodal"].reference)
            expect(page.locator("#question-text")).to_contain_text(expected.pair["multimodal"].question)
            outcomes = page.locator("#outcomes")
            expect(outcomes).to_contain_text(f"A · vanilla (before): {expected.outcome('vanilla')}")
            expect(outcomes).to_contain_text(f"B · ga (after): {expected.outcome('ga')}")
            page.screenshot(path=str(shot), full_page=True)

            page.get_by_role("tab", name="Alignment").click()
            for side, name in (("a", "vanilla"), ("b", "ga")):
                expect(page.locator(f"#alignment-note-{side}")).to_contain_text(f"{name}")
                table = page.locator(f"#alignment-{side}")
                expect(table).to_contain_text("only multimodal")
                for row in space.alignment(name).table():
                    for cell in row[2:]:
                        expect(table).to_contain_text(str(cell))
            page.screenshot(path=str(tmp_path / "umu-space-alignment.png"), full_page=True)
        finally:
            browser.close()
    for png in (shot, tmp_path / "umu-space-alignment.png"):
        _assert_page_screenshot(png, width=1280, min_height=1000)
    if os.environ.get("UMU_SCREENSHOT_DIR"):
        target = Path(os.environ["UMU_SCREENSHOT_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / "umu-space-screenshot.png")
        shutil.copy(tmp_path / "umu-space-alignment.png", target / "umu-space-alignment.png")


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


@pytest.mark.slow
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
    from umu_hf.space.logic import BenchSpace
    from umu_hf.space.tables import read_leaderboard

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


# -- the Space folder as a Hub Space uses it ------------------------------------------------------------------
SPACE_FOLDER = Path(__file__).resolve().parents[1] / "spaces" / "umu_bench"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_space_folder_is_a_space_card_with_installable_requirements() -> None:
    import gradio
    from huggingface_hub import RepoCard
    from packaging.requirements import Requirement

    card = RepoCard.load(SPACE_FOLDER / "README.md").data
    assert (card.sdk, card.app_file) == ("gradio", "app.py") and (SPACE_FOLDER / card.app_file).is_file()
    assert card.sdk_version == gradio.__version__  # the version the tests ran the app with
    lines = [line for line in (SPACE_FOLDER / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert {Requirement(line).name for line in lines} >= {"umu-hf", "gradio"}


@pytest.mark.slow
def test_space_starts_from_a_copy_of_its_folder_alone(bench_dir: Path, tmp_path: Path) -> None:
    """As a Space runs: the folder's files and its bench beside app.py, `python app.py` from there, the page up."""
    import subprocess
    import sys
    import time
    import urllib.request

    space = tmp_path / "space"
    shutil.copytree(SPACE_FOLDER, space)
    shutil.copytree(bench_dir, space / "bench")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "GRADIO_SERVER"))}
    env.update(GRADIO_SERVER_PORT=str(port), PYTHONPATH="")
    process = subprocess.Popen([sys.executable, "app.py"], cwd=space, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline, page = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as response:
                    page = json.loads(response.read())
                break
            except OSError:
                time.sleep(1)
        assert page is not None, process.stdout.read() if process.poll() is not None else "no answer in 120 s"
        texts = " ".join(_visible_texts(page))
        assert "UMU-Bench" in texts and "vanilla" in texts
        assert not any(path in texts for path in _bench_paths(space / "bench"))
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_bench_repo_is_downloaded_as_a_dataset_and_checked(bench_dir: Path, tmp_path: Path, monkeypatch) -> None:
    """$BENCH_REPO: the bench folder comes from a Hub dataset repo (the download stops at huggingface_hub's
    client, which returns the snapshot's local folder); a repo without bench.json is refused in one line."""
    import huggingface_hub

    from umu_hf.space.source import resolve_bench, space_host

    snapshot = tmp_path / "snapshot"
    shutil.copytree(bench_dir, snapshot / "runs" / "embedded")
    calls = []

    def snapshot_download(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    env = {"BENCH_REPO": "org/umu-bench-runs", "BENCH_REPO_SUBDIR": "runs/embedded"}
    assert resolve_bench(env, tmp_path) == snapshot / "runs" / "embedded"
    assert calls == [("org/umu-bench-runs", {"repo_type": "dataset", "revision": None, "cache_dir": None,
                                             "allow_patterns": ["runs/embedded/**"]})]
    with pytest.raises(UmuError, match="no bench.json in its root"):
        resolve_bench({"BENCH_REPO": "org/umu-bench-runs"}, tmp_path)
    with pytest.raises(UmuError, match="not a Hub repo id"):
        resolve_bench({"BENCH_REPO": "../x"}, tmp_path)
    assert resolve_bench({"BENCH_DIR": "b", "BENCH_REPO": "org/x"}, tmp_path) == Path("b")
    assert resolve_bench({}, tmp_path) == tmp_path / "bench"
    assert (space_host({}), space_host({"SPACE_ID": "org/s"}), space_host({"GRADIO_SERVER_NAME": "::1"})) == (
        "127.0.0.1", "0.0.0.0", "::1")


def test_robustness_tab_shows_the_leaderboards_robustness_table(bench_dir: Path, tmp_path: Path) -> None:
    """A bench with robustness numbers: the Robustness tab shows leaderboard.md's robustness table."""
    from umu_hf.leaderboard import cell_text
    from umu_hf.leaderboard.robustness import markdown, robustness_columns
    from umu_hf.space.tables import read_leaderboard

    copy = tmp_path / "bench"
    shutil.copytree(bench_dir, copy)
    board = json.loads((copy / "leaderboard.json").read_text())
    cell = {"mean": 12.5, "sd": 0.0, "n": 1, "values": [12.5], "seeds": [0]}
    for row in board["rows"]:
        row["robustness"] = {c["key"]: dict(cell) for c in robustness_columns()}
    board["robustness_columns"] = robustness_columns()
    (copy / "leaderboard.json").write_text(json.dumps(board))
    shown = read_leaderboard(copy).robustness()
    assert shown == "\n".join(markdown(board, cell_text)).strip() and "| 5 | ga | 12.5 |" in shown
