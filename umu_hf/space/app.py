"""The Gradio UI of a bench folder (``umu-hf space``, ``spaces/umu_bench/app.py``).

Three tabs. **Compare**: two models, a set, a profile with its portrait, a task and a question pair; one click
asks both models both questions of the pair and fills a 2x2 grid (rows model A and B, columns unimodal and
multimodal), each cell the reply and the benchmark's verdict, with one line per model saying where it forgot;
a free-text question to both models. **Alignment**: each model's 2x2 alignment table on the forget set, per
task, from its ``results.json``. **Leaderboard**: the bench's table and plot, directions marked. Every event
has an ``api_name`` (``profiles``, ``profile``, ``questions``, ``compare``, ``ask``, ``alignment``,
``leaderboard``), so ``gradio_client`` can drive the app. The logic lives in :mod:`umu_hf.space.logic`; this
module only wires it to components. Visitors see model names, never paths (:meth:`BenchSpace.public`). Without
a bench output the app shows how to create it instead of failing.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.errors import UmuError
from umu_hf.space.logic import BenchSpace
from umu_hf.space.tables import directions_note, read_leaderboard
from umu_hf.space.text import MAX_INPUT_CHARS, hide_paths, path_aliases
from umu_hf.space.verdicts import MODALITY_LABELS, PairComparison, describe_pair, reference_text

if TYPE_CHECKING:
    import gradio as gr

#: the app listens on the loopback interface unless told otherwise
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
TITLE = "UMU-Bench: before and after unlearning"
SET_LABELS = {
    "forget": "forget (should be forgotten)",
    "retain": "retain (should be kept)",
    "real": "real (should be kept)",
}


logger = logging.getLogger(__name__)


def _import_gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio
    except ModuleNotFoundError as exc:
        raise UmuError("the Space needs Gradio: pip install 'umu-hf[space]'") from exc
    return gradio


#: what a visitor sees of an unexpected failure; the details (paths, CUDA messages) go to the server log only
INTERNAL_ERROR = "Something went wrong on the server; the details were logged. Try another question or model."
#: the Space takes no uploads, so its requests are small; and at most this many visitors wait in the queue
MAX_FILE_SIZE = "1mb"
QUEUE_MAX_SIZE = 16


def _guard(gr: Any, fn: Callable[..., Any], public: Callable[[str], str] = str) -> Callable[..., Any]:
    """Show the app's own :class:`UmuError` lines, paths hidden by ``public``, as a Gradio error message (a
    toast); any other exception is logged server-side and the visitor sees only :data:`INTERNAL_ERROR`."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except UmuError as exc:
            raise gr.Error(public(str(exc))) from None
        except Exception:
            logger.exception("umu-hf space: %s failed", getattr(fn, "__name__", "handler"))
            raise gr.Error(INTERNAL_ERROR) from None

    return wrapper


def _leaderboard_values(
    bench_dir: Path, public: Callable[[str], str] = str
) -> tuple[list[list[Any]] | None, list[str] | None, Any, str, str, Any, str]:
    """(rows, headers, plot image or None, note, per-modality tables as Markdown, trajectory figure or None,
    robustness table as Markdown) of the bench's leaderboard; the note says what is missing."""
    from PIL import Image

    try:
        board = read_leaderboard(bench_dir)
    except UmuError as exc:
        return None, None, None, public(str(exc)), "", None, ""
    plot = None
    if board.plot is not None:
        with Image.open(board.plot) as image:
            plot = image.convert("RGB")
    note = (
        f"**{board.title}**: {len(board.rows)} row(s). {directions_note()} Cells are mean ± sd over seeds; `*` "
        f"marks a difference from vanilla beyond the uncertainty ({board.note})."
    )
    if any(key.startswith("privacy/") for key in board.keys):
        from umu_hf.leaderboard import PRIVACY_NOTE

        note += f"\n\n{PRIVACY_NOTE}"
    return board.table(), board.headers(), plot, note, board.details(), board.trajectory_figure(), board.robustness()


def _missing_app(gr: Any, bench_dir: Path, message: str) -> gr.Blocks:
    """The app when the bench output is missing or unusable: what to run instead of a traceback (the folder
    shown by its name, as every path a visitor sees)."""
    from umu_hf.bench.manifest import read_manifest

    try:
        models = read_manifest(bench_dir).models
    except (UmuError, OSError):
        models = []
    aliases = path_aliases(bench_dir, models)
    todo = "Then start this app again."
    if "umu-hf bench" not in message:
        todo = f"Create it with `umu-hf bench --out {bench_dir}`, then start this app again."
    text = f"# {TITLE}\n\n## No usable bench output in `{bench_dir}`\n\n{message}\n\n{todo}"
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(hide_paths(text, aliases), elem_id="missing-bench")
    return demo


#: the two rows of the Compare grid: (elem_id suffix, the row's role)
SIDES = (("a", "before"), ("b", "after"))
ALIGNMENT_INTRO = (
    "Every question pair of the **forget** set (the unimodal and the multimodal question of one fact) falls "
    "in one cell: **both right** (still known in both modalities), **only unimodal** (forgotten only when "
    "the portrait is shown), **only multimodal** (forgotten only in text), **both wrong** (forgotten in "
    "both). A method that truly forgets moves pairs to *both wrong*; one that forgets in one modality only "
    "fills an *only* column. Read from each model's evaluation (`results.json`); generation is scored by "
    "ROUGE-L, not marked, so it has no table."
)


def _titles(names: tuple[str, str]) -> list[str]:
    """How models A and B are named on the page: ``**A · vanilla** (before)``."""
    return [f"**{side.upper()} · {name}** ({role})" for (side, role), name in zip(SIDES, names, strict=True)]


def _pair_outputs(result: PairComparison, names: tuple[str, str]) -> list[Any]:
    """The Compare outputs after the question and reference: per model its row title, then reply and verdict
    per modality; last, one line per model saying where it forgot."""
    values: list[Any] = []
    for title, name in zip(_titles(names), names, strict=True):
        values.append(title)
        for modality, verdict in result.verdicts(name).items():
            values += [result.by_modality[modality].replies[name], verdict.text]
    lines = [f"{title}: {result.outcome(name)}" for title, name in zip(_titles(names), names, strict=True)]
    values.append("  \n".join(lines))
    return values


def _compare_grid(gr: Any, names: tuple[str, str]) -> list[Any]:
    """The 2x2 grid (rows model A and B, columns unimodal and multimodal) and the outcome lines under it, as
    the output components in :func:`_pair_outputs` order."""
    outputs: list[Any] = []
    with gr.Row(equal_height=True):
        with gr.Column(scale=1, min_width=120):
            gr.Markdown("**model**")
        for modality in MODALITY_LABELS.values():
            with gr.Column(scale=3):
                gr.Markdown(f"**{modality}**")
    for (side, _role), title in zip(SIDES, _titles(names), strict=True):
        with gr.Row(equal_height=True, elem_id=f"grid-{side}"):
            with gr.Column(scale=1, min_width=120):
                outputs.append(gr.Markdown(title, elem_id=f"head-{side}"))
            for modality in MODALITY_LABELS:
                with gr.Column(scale=3):
                    outputs.append(
                        gr.Textbox(
                            label=f"Reply of model {side.upper()}, {modality}",
                            interactive=False,
                            elem_id=f"reply-{side}-{modality}",
                        )
                    )
                    outputs.append(gr.Markdown(elem_id=f"verdict-{side}-{modality}"))
    outputs.append(gr.Markdown(elem_id="outcomes"))
    return outputs


def _alignment_values(space: BenchSpace, names: tuple[str, str]) -> list[Any]:
    """Per model: its title line (with why there is no table, if so) and its table's value."""
    values: list[Any] = []
    for title, name in zip(_titles(names), names, strict=True):
        table = space.alignment(name)
        line = table.note or f"{table.set_name} set, from its results.json"
        values.append(space.public(f"{title}: {line}"))
        values.append({"headers": table.headers(), "data": table.table()})
    return values


def _alignment_view(gr: Any, values: list[Any]) -> list[Any]:
    """The Alignment tab's components, per model a line and a table, filled with ``values``
    (:func:`_alignment_values`)."""
    outputs: list[Any] = []
    for i, (side, _role) in enumerate(SIDES):
        line, table = values[2 * i], values[2 * i + 1]
        outputs.append(gr.Markdown(line, elem_id=f"alignment-note-{side}"))
        outputs.append(
            gr.Dataframe(
                table["data"],
                headers=table["headers"],
                label=f"Model {side.upper()}: 2x2 alignment on the forget set",
                interactive=False,
                elem_id=f"alignment-{side}",
            )
        )
    return outputs


def build_app(
    bench_dir: str | Path,
    device: str = "auto",
    dtype: str = "auto",
    max_new_tokens: Mapping[str, int] | None = None,
    max_loaded_models: int = 2,
) -> gr.Blocks:
    """The Space of ``bench_dir`` as a ``gr.Blocks`` (not launched). Models load on first use and stay cached;
    ``device``/``dtype`` are :func:`umu_hf.models.loading.load_model`'s, ``max_new_tokens`` per-task budget
    overrides (see :class:`umu_hf.space.logic.BenchSpace`)."""
    gr = _import_gradio()
    from umu_hf.data.schema import SETS, TASKS

    bench_dir = Path(bench_dir)
    try:
        space = BenchSpace(
            bench_dir, device=device, dtype=dtype, max_new_tokens=max_new_tokens, max_loaded_models=max_loaded_models
        )
        first_set, first_task = SETS[0], TASKS[0]
        profiles = space.profile_choices(first_set)
        first_profile = profiles[0][1] if profiles else None
        questions = space.question_choices(first_set, first_profile, first_task) if profiles else []
        portrait = space.portrait(first_set, first_profile) if profiles else None
    except UmuError as exc:
        return _missing_app(gr, bench_dir, str(exc))
    before, after = space.default_pair()
    names = space.model_names()
    public = space.public

    def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
        return _guard(gr, fn, public)

    def on_set(set_name: str) -> Any:
        choices = space.profile_choices(set_name)
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    def on_questions(set_name: str, profile_id: Any, task: str) -> Any:
        if profile_id is None:
            return gr.Dropdown(choices=[], value=None)
        choices = space.question_choices(set_name, profile_id, task)
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    def on_profile(set_name: str, profile_id: Any, task: str) -> tuple[Any, Any]:
        if profile_id is None:
            return None, gr.Dropdown(choices=[], value=None)
        return space.portrait(set_name, profile_id), on_questions(set_name, profile_id, task)

    def compare(
        model_a: str, model_b: str, set_name: str, profile_id: Any, task: str, question_index: Any
    ) -> tuple[Any, ...]:
        if profile_id is None or question_index is None:
            raise UmuError("pick a profile and a question first")
        result = space.compare_pair([model_a, model_b], set_name, profile_id, task, question_index)
        return (
            describe_pair(result.pair),
            reference_text(result.pair),
            *_pair_outputs(result, (model_a, model_b)),
        )

    def ask(model_a: str, model_b: str, set_name: str, profile_id: Any, text: str, with_image: bool) -> tuple:
        replies, cut = space.ask([model_a, model_b], text, set_name, profile_id, bool(with_image))
        note = f"Your question was cut to its first {MAX_INPUT_CHARS} characters. " if cut else ""
        note += "Asked with the profile's portrait." if with_image else "Asked in text only."
        return replies[model_a], replies[model_b], f"**A** = {model_a}, **B** = {model_b}. {note}"

    def alignment(model_a: str, model_b: str) -> tuple[Any, ...]:
        return tuple(_alignment_values(space, (model_a, model_b)))

    def leaderboard() -> tuple[Any, Any, str, str, Any, str]:
        rows, headers, plot, note, details, figure, robust = _leaderboard_values(bench_dir, public)
        return {"headers": headers or ["model"], "data": rows or []}, plot, note, details, figure, robust

    rows, headers, plot, note, details, figure, robust = _leaderboard_values(bench_dir, public)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\n\nBench `{bench_dir.resolve().name}`: {len(names)} model(s), forget ratio "
            f"{space.manifest.forget_ratio}%. Each question comes as a pair, asked in text only (unimodal) "
            "and with the person's portrait (multimodal): unlearning should remove the knowledge in "
            "**both**. Models load on first use."
        )
        with gr.Row():
            model_a = gr.Dropdown(names, value=before, label="Before: model A", elem_id="model-a")
            model_b = gr.Dropdown(names, value=after, label="After: model B", elem_id="model-b")
        if space.skipped:
            gr.Markdown(public(space.not_offered()), elem_id="not-offered")
        with gr.Tab("Compare", id="compare"):
            with gr.Row():
                with gr.Column(scale=1):
                    set_name = gr.Dropdown(
                        [(SET_LABELS[s], s) for s in SETS], value=first_set, label="Set", elem_id="set"
                    )
                    profile = gr.Dropdown(
                        profiles,
                        value=first_profile,
                        label="Profile",
                        allow_custom_value=True,
                        elem_id="profile",
                    )
                    image = gr.Image(
                        portrait,
                        type="pil",
                        label="Portrait",
                        interactive=False,
                        height=180,
                        elem_id="portrait",
                    )
                with gr.Column(scale=2):
                    task = gr.Radio(list(TASKS), value=first_task, label="Task", elem_id="task")
                    question = gr.Dropdown(
                        questions,
                        value=questions[0][1] if questions else None,
                        label="Question pair",
                        info="the same question asked in text only and with the portrait",
                        allow_custom_value=True,
                        elem_id="question",
                    )
                    compare_btn = gr.Button(
                        "Ask both models both questions", variant="primary", elem_id="compare-btn"
                    )
            shown = gr.Markdown(elem_id="question-text")
            reference = gr.Textbox(label="Reference answer", interactive=False, elem_id="reference")
            grid = _compare_grid(gr, (before, after))
            with gr.Accordion("Ask both models your own question", open=False):
                free_text = gr.Textbox(
                    label=f"Your question (at most {MAX_INPUT_CHARS} characters)",
                    lines=2,
                    max_length=MAX_INPUT_CHARS,
                    elem_id="free-text",
                )
                with_image = gr.Checkbox(False, label="Ask with the profile's portrait", elem_id="with-image")
                ask_btn = gr.Button("Ask both models", elem_id="ask-btn")
                with gr.Row():
                    free_a = gr.Textbox(label="Reply of model A", interactive=False, elem_id="free-a")
                    free_b = gr.Textbox(label="Reply of model B", interactive=False, elem_id="free-b")
                free_note = gr.Markdown(elem_id="free-note")
        with gr.Tab("Alignment", id="alignment"):
            gr.Markdown(ALIGNMENT_INTRO)
            alignment_outputs = _alignment_view(gr, _alignment_values(space, (before, after)))
        with gr.Tab("Leaderboard", id="leaderboard"):
            board_note = gr.Markdown(note, elem_id="leaderboard-note")
            board = gr.Dataframe(
                rows, headers=headers, label="Leaderboard", interactive=False, elem_id="leaderboard-table"
            )
            board_details = gr.Markdown(details, elem_id="leaderboard-details")
            board_trajectory = gr.Plot(figure, label="Trajectories: forget vs retain accuracy during unlearning "
                                       "(mean over seeds; forgetting to the right, the ideal path along the top)",
                                       elem_id="trajectory-plot")
            board_plot = gr.Image(
                plot, type="pil", label="Leaderboard plot", interactive=False, elem_id="leaderboard-plot"
            )
            reload_btn = gr.Button("Reload the leaderboard", elem_id="reload-btn")
        with gr.Tab("Robustness", id="robustness"):
            board_robustness = gr.Markdown(robust, elem_id="robustness-table")

        selection = [set_name, profile, task]
        set_name.change(guard(on_set), set_name, profile, api_name="profiles")
        profile.change(guard(on_profile), selection, [image, question], api_name="profile")
        task.change(guard(on_questions), selection, question, api_name="questions")
        compare_btn.click(
            guard(compare),
            [model_a, model_b, *selection, question],
            [shown, reference, *grid],
            api_name="compare",
        )
        ask_btn.click(
            guard(ask),
            [model_a, model_b, set_name, profile, free_text, with_image],
            [free_a, free_b, free_note],
            api_name="ask",
        )
        gr.on(
            [model_a.change, model_b.change],
            guard(alignment),
            [model_a, model_b],
            alignment_outputs,
            api_name="alignment",
        )
        reload_btn.click(guard(leaderboard), None, [board, board_plot, board_note, board_details, board_trajectory,
                                                     board_robustness],
                         api_name="leaderboard")
    return demo


def launch(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int | None = DEFAULT_PORT, **kwargs: Any) -> Any:
    """``demo.launch`` on ``host:port`` (loopback by default), queue on; ``kwargs`` go to ``launch``."""
    kwargs.setdefault("max_file_size", MAX_FILE_SIZE)
    return demo.queue(default_concurrency_limit=1, max_size=QUEUE_MAX_SIZE).launch(
        server_name=host, server_port=port, show_error=True, **kwargs
    )
