"""The benchmark's prompts (docs/protocol.md, Evaluation), written down once, and the rule that turns generated text into a reply.

Everything that asks a model a UMU-Bench question — the runner, the trainers, the Space, the tiny model's
tokenizer corpus — builds its text here, so the wording can never drift between them.

**LLaVA-1.5** (:data:`LLAVA_PROMPTS`): the original ``eval.py``'s six prompt strings, character for character,
keyed by (task, modality). They are *not* symmetric between the modalities, and the asymmetries are kept:

- unimodal classification starts ``USER:\\n`` (a newline right after ``USER:``, no space);
- multimodal generation ends ``ASSISTANT: `` (a trailing space) and says "accurately"; unimodal generation
  says neither.

``{q}`` is the question, ``{opts}`` is ``str([text_A, text_B, text_C, text_D])``: a Python list literal of the
four option texts.

**Chat-template families** (:data:`CHAT_USER_TEXTS`; Qwen2-VL, Idefics3, …): the user-turn text of the original
script's Qwen branch, the same for both modalities (the image, when there is one, is a separate content part of
the turn): ``{q}\\nSelect answer in {opts}``, ``{q}\\nPlease **ONLY** provide …`` and ``{q}\\nAnswer the question
… one sentence accurately in ENGLISH.``. :func:`task_instruction` fills it. (That branch also cuts cloze and
generation replies at their first ``.`` and snaps every classification reply to the closest option; umu-hf
scores every family by the rules of docs/protocol.md instead.)

>>> llava_task_prompt("cloze", "unimodal", "Alice was born in ___.")
'USER: Alice was born in ___.\\nPlease **ONLY** provide the correct answer without any explanation\\nASSISTANT:'
>>> llava_task_prompt("classification", "unimodal", "Where?", ["Rome", "Oslo", "Bern", "Riga"])
"USER:\\nWhere?\\nSelect answer in ['Rome', 'Oslo', 'Bern', 'Riga']\\nASSISTANT:"
>>> task_instruction("cloze", "Alice was born in ___.")
'Alice was born in ___.\\nPlease **ONLY** provide the correct answer without any explanation'
>>> llava_prompt("Who is this?", with_image=True)
'USER: <image>\\nWho is this?\\nASSISTANT:'
>>> extract_reply(" Paris. ASSISTANT: no, Rome")
'Paris.'
"""

from __future__ import annotations

from collections.abc import Sequence

IMAGE_TOKEN = "<image>"
ASSISTANT_TAG = "ASSISTANT:"
CLOZE_INSTRUCTION = "Please **ONLY** provide the correct answer without any explanation"
#: the generation instruction of multimodal LLaVA prompts and of every chat-template prompt
GENERATION_INSTRUCTION = (
    "Answer the question based on your trained knowledge in one sentence accurately in ENGLISH."
)
#: the generation instruction of *unimodal* LLaVA prompts: the original omits "accurately" there
GENERATION_INSTRUCTION_UNIMODAL = (
    "Answer the question based on your trained knowledge in one sentence in ENGLISH."
)
#: greedy decoding budget per task (docs/protocol.md, Evaluation)
MAX_NEW_TOKENS: dict[str, int] = {"classification": 50, "cloze": 50, "generation": 200}

#: LLaVA-1.5's six evaluation prompts (docs/protocol.md, Evaluation), keyed by (task, modality); ``{q}`` question, ``{opts}`` options
LLAVA_PROMPTS: dict[tuple[str, str], str] = {
    ("classification", "multimodal"): "USER: <image>\n{q}\nSelect answer in {opts}\nASSISTANT:",
    ("classification", "unimodal"): "USER:\n{q}\nSelect answer in {opts}\nASSISTANT:",
    ("cloze", "multimodal"): (
        "USER: <image>\n{q}\nPlease **ONLY** provide the correct answer without any explanation\nASSISTANT:"
    ),
    ("cloze", "unimodal"): (
        "USER: {q}\nPlease **ONLY** provide the correct answer without any explanation\nASSISTANT:"
    ),
    ("generation", "multimodal"): (
        "USER: <image>\n{q}\nAnswer the question based on your trained knowledge in one sentence accurately in "
        "ENGLISH.\nASSISTANT: "
    ),
    ("generation", "unimodal"): (
        "USER: {q}\nAnswer the question based on your trained knowledge in one sentence in ENGLISH.\nASSISTANT:"
    ),
}

#: the user-turn text of chat-template models (the original's Qwen branch), per task, for both modalities
CHAT_USER_TEXTS: dict[str, str] = {
    "classification": "{q}\nSelect answer in {opts}",
    "cloze": "{q}\nPlease **ONLY** provide the correct answer without any explanation",
    "generation": "{q}\nAnswer the question based on your trained knowledge in one sentence accurately in ENGLISH.",
}

TASK_NAMES: tuple[str, ...] = ("classification", "cloze", "generation")
MODALITY_NAMES: tuple[str, ...] = ("unimodal", "multimodal")


def options_literal(options: Sequence[str]) -> str:
    """``str([text_A, text_B, text_C, text_D])``: the options as the original writes them into prompts."""
    return str([str(option) for option in options])


def _check_task(task: str, options: Sequence[str] | None) -> None:
    if task not in TASK_NAMES:
        raise ValueError(f"unknown task {task!r}; expected classification, cloze or generation")
    if task == "classification" and options is None:
        raise ValueError("classification questions need their 4 option texts (argument 'options')")


def _fill(template: str, question: str, options: Sequence[str] | None) -> str:
    """Put the options, then the question into a template (``str.replace``, not ``str.format``: braces or an
    ``{opts}`` inside a question stay as they are)."""
    if options is not None and "{opts}" in template:
        template = template.replace("{opts}", options_literal(options))
    return template.replace("{q}", question, 1)


def llava_task_prompt(task: str, modality: str, question: str, options: Sequence[str] | None = None) -> str:
    """The full LLaVA-1.5 evaluation prompt of a question: :data:`LLAVA_PROMPTS` filled in."""
    _check_task(task, options)
    if modality not in MODALITY_NAMES:
        raise ValueError(f"unknown modality {modality!r}; expected unimodal or multimodal")
    return _fill(LLAVA_PROMPTS[(task, modality)], question, options)


def task_instruction(task: str, question: str, options: Sequence[str] | None = None) -> str:
    """The user-turn text of a question for chat-template models (:data:`CHAT_USER_TEXTS`; no template, no
    image token), the same for both modalities."""
    _check_task(task, options)
    return _fill(CHAT_USER_TEXTS[task], question, options)


def llava_prompt(user_text: str, with_image: bool) -> str:
    """LLaVA-1.5's plain template around free text: ``USER: <image>\\n{text}\\nASSISTANT:`` (no image token when
    unimodal). The training text of a pair is this, a space and the answer (docs/protocol.md, Training)."""
    image = f"{IMAGE_TOKEN}\n" if with_image else ""
    return f"USER: {image}{user_text}\n{ASSISTANT_TAG}"


def extract_reply(continuation: str) -> str:
    """The reply in the generated continuation (special tokens already skipped): the text before the first
    ``ASSISTANT:`` it contains, stripped (all of it when there is none).

    The original decodes prompt + continuation and keeps what lies between the first and the second
    ``ASSISTANT:``; the prompt holds exactly one, so that is the continuation up to its first one.
    """
    return continuation.split(ASSISTANT_TAG, 1)[0].strip()
