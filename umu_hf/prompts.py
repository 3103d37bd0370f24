"""The benchmark's prompts (SPEC 3), written down once.

Everything that asks a model a UMU-Bench question — the runner, the trainers' collators, the Space — builds its
text here, so the instruction wording can never drift between them. Model families differ only in the *template*
around this text (see :mod:`umu_hf.models.adapters`).

>>> task_instruction("cloze", "Alice was born in ___.")
'Alice was born in ___.\\nPlease **ONLY** provide the correct answer without any explanation'
>>> llava_prompt("Who is this?", with_image=True)
'USER: <image>\\nWho is this?\\nASSISTANT:'
>>> llava_prompt("Who is Alice?", with_image=False)
'USER: Who is Alice?\\nASSISTANT:'
>>> extract_reply("USER: <image>\\nQ\\nASSISTANT: Paris. ")
'Paris.'
"""

from __future__ import annotations

from collections.abc import Sequence

IMAGE_TOKEN = "<image>"
CLOZE_INSTRUCTION = "Please **ONLY** provide the correct answer without any explanation"
GENERATION_INSTRUCTION = "Answer the question based on your trained knowledge in one sentence accurately in ENGLISH."
#: greedy decoding budget per task (SPEC 3)
MAX_NEW_TOKENS: dict[str, int] = {"classification": 50, "cloze": 50, "generation": 200}
ASSISTANT_TAG = "ASSISTANT:"


def classification_instruction(question: str, options: Sequence[str]) -> str:
    """``{question}\\nSelect answer in ['a', 'b', 'c', 'd']`` — the option texts as a Python list literal."""
    return f"{question}\nSelect answer in {list(options)}"


def task_instruction(task: str, question: str, options: Sequence[str] | None = None) -> str:
    """The user-turn text of a benchmark question (no template, no image token)."""
    if task == "classification":
        if options is None:
            raise ValueError("classification questions need their 4 option texts (argument 'options')")
        return classification_instruction(question, options)
    if task == "cloze":
        return f"{question}\n{CLOZE_INSTRUCTION}"
    if task == "generation":
        return f"{question}\n{GENERATION_INSTRUCTION}"
    raise ValueError(f"unknown task {task!r}; expected classification, cloze or generation")


def llava_prompt(user_text: str, with_image: bool) -> str:
    """LLaVA-1.5's original template: ``USER: <image>\\n{text}\\nASSISTANT:`` (no image token when unimodal)."""
    image = f"{IMAGE_TOKEN}\n" if with_image else ""
    return f"USER: {image}{user_text}\n{ASSISTANT_TAG}"


def extract_reply(decoded: str) -> str:
    """The reply is the text after the last ``ASSISTANT:``, stripped (the whole text when there is none)."""
    return decoded.rsplit(ASSISTANT_TAG, 1)[-1].strip()
