"""The Gradio UI of a bench folder (``umu-hf space``, ``spaces/umu_bench/app.py``).

Two tabs: **Compare** (two models, a set, a profile with its portrait, a task, a modality and a question; both
replies with the benchmark's verdict; a free-text question to both models) and **Leaderboard** (the bench's
table and plot, directions marked). Every event has an ``api_name`` (``profiles``, ``profile``, ``questions``,
``compare``, ``ask``, ``leaderboard``), so ``gradio_client`` can drive the app. The logic lives in
:mod:`umu_hf.space.logic`; this module only wires it to components. Without a bench output the app shows how
to create it instead of failing.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.errors import UmuError
from umu_hf.space.logic import (
    MAX_INPUT_CHARS,
    BenchSpace,
    describe_question,
    directions_note,
    read_leaderboard,
)

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


def _guard(gr: Any, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Show the app's own :class:`UmuError` lines as a Gradio error message (a toast); any other exception is
    logged server-side and the visitor sees only :data:`INTERNAL_ERROR`."""

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        try:
            return fn(*args)
        except UmuError as exc:
            raise gr.Error(str(exc)) from None
        except Exception:
            logger.exception("umu-hf space: %s failed", getattr(fn, "__name__", "handler"))
            raise gr.Error(INTERNAL_ERROR) from None

    return wrapper


def _leaderboard_values(bench_dir: Path) -> tuple[list[list[Any]] | None, list[str] | None, Any, str]:
    """(rows, headers, plot image or None, note) of the bench's leaderboard; the note says what is missing."""
    from PIL import Image

    try:
        board = read_leaderboard(bench_dir)
    except UmuError as exc:
        return None, None, None, str(exc)
    plot = None
    if board.plot is not None:
        with Image.open(board.plot) as image:
            plot = image.convert("RGB")
    note = (
        f"**{board.title}**: {len(board.rows)} row(s). {directions_note()} Cells are mean ± sd over seeds; `*` "
        f"marks a difference from vanilla beyond the uncertainty ({board.note})."
    )
    return board.table(), board.headers(), plot, note


def _missing_app(gr: Any, bench_dir: Path, message: str) -> gr.Blocks:
    """The app when the bench output is missing or unusable: what to run instead of a traceback."""
    todo = "Then start this app again."
    if "umu-hf bench" not in message:
        todo = f"Create it with `umu-hf bench --out {bench_dir}`, then start this app again."
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\n\n## No usable bench output in `{bench_dir}`\n\n{message}\n\n{todo}",
            elem_id="missing-bench",
        )
    return demo


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
    from umu_hf.data.schema import MODALITIES, SETS, TASKS

    bench_dir = Path(bench_dir)
    try:
        space = BenchSpace(
            bench_dir, device=device, dtype=dtype, max_new_tokens=max_new_tokens, max_loaded_models=max_loaded_models
        )
        first_set = SETS[0]
        profiles = space.profile_choices(first_set)
        first_profile = profiles[0][1] if profiles else None
        first_task, first_modality = TASKS[0], MODALITIES[1]
        questions = (
            space.question_choices(first_set, first_profile, first_task, first_modality) if profiles else []
        )
        portrait = space.portrait(first_set, first_profile) if profiles else None
    except UmuError as exc:
        return _missing_app(gr, bench_dir, str(exc))
    before, after = space.default_pair()
    names = space.model_names()

    def on_set(set_name: str) -> Any:
        choices = space.profile_choices(set_name)
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    def on_questions(set_name: str, profile_id: Any, task: str, modality: str) -> Any:
        if profile_id is None:
            return gr.Dropdown(choices=[], value=None)
        choices = space.question_choices(set_name, profile_id, task, modality)
        return gr.Dropdown(choices=choices, value=choices[0][1] if choices else None)

    def on_profile(set_name: str, profile_id: Any, task: str, modality: str) -> tuple[Any, Any]:
        if profile_id is None:
            return None, gr.Dropdown(choices=[], value=None)
        return space.portrait(set_name, profile_id), on_questions(set_name, profile_id, task, modality)

    def compare(
        model_a: str,
        model_b: str,
        set_name: str,
        profile_id: Any,
        task: str,
        modality: str,
        question_index: Any,
    ) -> tuple[Any, ...]:
        if profile_id is None or question_index is None:
            raise UmuError("pick a profile and a question first")
        result = space.compare([model_a, model_b], set_name, profile_id, task, modality, question_index)
        q = result.question
        return (
            describe_question(q),
            q.reference,
            result.replies[model_a],
            f"**{model_a}**: {result.verdicts[model_a].text}",
            result.replies[model_b],
            f"**{model_b}**: {result.verdicts[model_b].text}",
        )

    def ask(model_a: str, model_b: str, set_name: str, profile_id: Any, text: str, with_image: bool) -> tuple:
        replies, cut = space.ask([model_a, model_b], text, set_name, profile_id, bool(with_image))
        note = f"Your question was cut to its first {MAX_INPUT_CHARS} characters. " if cut else ""
        note += "Asked with the profile's portrait." if with_image else "Asked in text only."
        return replies[model_a], replies[model_b], f"**A** = {model_a}, **B** = {model_b}. {note}"

    def leaderboard() -> tuple[Any, Any, str]:
        rows, headers, plot, note = _leaderboard_values(bench_dir)
        return {"headers": headers or ["model"], "data": rows or []}, plot, note

    rows, headers, plot, note = _leaderboard_values(bench_dir)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {TITLE}\n\nBench folder `{bench_dir}`: {len(names)} model(s), forget ratio "
            f"{space.manifest.forget_ratio}%. Models load on first use."
        )
        with gr.Tab("Compare", id="compare"):
            with gr.Row():
                model_a = gr.Dropdown(names, value=before, label="Before: model A", elem_id="model-a")
                model_b = gr.Dropdown(names, value=after, label="After: model B", elem_id="model-b")
            if space.skipped:
                gr.Markdown("Not offered (outside the bench folder): " + "; ".join(space.skipped.values()))
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
                    modality = gr.Radio(
                        list(MODALITIES), value=first_modality, label="Modality", elem_id="modality"
                    )
                    question = gr.Dropdown(
                        questions,
                        value=questions[0][1] if questions else None,
                        label="Question",
                        allow_custom_value=True,
                        elem_id="question",
                    )
                    compare_btn = gr.Button(
                        "Compare the two models", variant="primary", elem_id="compare-btn"
                    )
            shown = gr.Markdown(elem_id="question-text")
            reference = gr.Textbox(label="Reference answer", interactive=False, elem_id="reference")
            with gr.Row():
                with gr.Column():
                    reply_a = gr.Textbox(
                        label="Reply of model A (before)", interactive=False, elem_id="reply-a"
                    )
                    verdict_a = gr.Markdown(elem_id="verdict-a")
                with gr.Column():
                    reply_b = gr.Textbox(
                        label="Reply of model B (after)", interactive=False, elem_id="reply-b"
                    )
                    verdict_b = gr.Markdown(elem_id="verdict-b")
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
        with gr.Tab("Leaderboard", id="leaderboard"):
            board_note = gr.Markdown(note, elem_id="leaderboard-note")
            board = gr.Dataframe(
                rows, headers=headers, label="Leaderboard", interactive=False, elem_id="leaderboard-table"
            )
            board_plot = gr.Image(
                plot, type="pil", label="Leaderboard plot", interactive=False, elem_id="leaderboard-plot"
            )
            reload_btn = gr.Button("Reload the leaderboard", elem_id="reload-btn")

        selection = [set_name, profile, task, modality]
        set_name.change(_guard(gr, on_set), set_name, profile, api_name="profiles")
        profile.change(_guard(gr, on_profile), selection, [image, question], api_name="profile")
        task.change(_guard(gr, on_questions), selection, question, api_name="questions")
        modality.change(_guard(gr, on_questions), selection, question, api_name="questions_by_modality")
        compare_btn.click(
            _guard(gr, compare),
            [model_a, model_b, *selection, question],
            [shown, reference, reply_a, verdict_a, reply_b, verdict_b],
            api_name="compare",
        )
        ask_btn.click(
            _guard(gr, ask),
            [model_a, model_b, set_name, profile, free_text, with_image],
            [free_a, free_b, free_note],
            api_name="ask",
        )
        reload_btn.click(
            _guard(gr, leaderboard), None, [board, board_plot, board_note], api_name="leaderboard"
        )
    return demo


def launch(demo: gr.Blocks, host: str = DEFAULT_HOST, port: int | None = DEFAULT_PORT, **kwargs: Any) -> Any:
    """``demo.launch`` on ``host:port`` (loopback by default), queue on; ``kwargs`` go to ``launch``."""
    kwargs.setdefault("max_file_size", MAX_FILE_SIZE)
    return demo.queue(default_concurrency_limit=1, max_size=QUEUE_MAX_SIZE).launch(
        server_name=host, server_port=port, show_error=True, **kwargs
    )
