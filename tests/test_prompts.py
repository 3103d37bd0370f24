"""The prompt strings and the reply rule, pinned against docs/protocol.md (the original eval.py), written out literally."""

from __future__ import annotations

import pytest

from umu_hf.prompts import (
    CHAT_USER_TEXTS,
    LLAVA_PROMPTS,
    extract_reply,
    llava_task_prompt,
    task_instruction,
)

Q = "What does Mara Quint do for a living?"
OPTS = ["baker", "pilot", "chef", "nurse"]

#: docs/protocol.md's table, copied by hand (not computed from umu_hf.prompts)
SPEC_LLAVA = {
    ("classification", "multimodal"): (
        "USER: <image>\nWhat does Mara Quint do for a living?\nSelect answer in ['baker', 'pilot', 'chef', 'nurse']"
        "\nASSISTANT:"
    ),
    ("classification", "unimodal"): (
        "USER:\nWhat does Mara Quint do for a living?\nSelect answer in ['baker', 'pilot', 'chef', 'nurse']"
        "\nASSISTANT:"
    ),
    ("cloze", "multimodal"): (
        "USER: <image>\nWhat does Mara Quint do for a living?\n"
        "Please **ONLY** provide the correct answer without any explanation\nASSISTANT:"
    ),
    ("cloze", "unimodal"): (
        "USER: What does Mara Quint do for a living?\n"
        "Please **ONLY** provide the correct answer without any explanation\nASSISTANT:"
    ),
    ("generation", "multimodal"): (
        "USER: <image>\nWhat does Mara Quint do for a living?\n"
        "Answer the question based on your trained knowledge in one sentence accurately in ENGLISH.\nASSISTANT: "
    ),
    ("generation", "unimodal"): (
        "USER: What does Mara Quint do for a living?\n"
        "Answer the question based on your trained knowledge in one sentence in ENGLISH.\nASSISTANT:"
    ),
}
#: the original's Qwen branch (user-turn text, both modalities), copied by hand
SPEC_CHAT = {
    "classification": "What does Mara Quint do for a living?\nSelect answer in ['baker', 'pilot', 'chef', 'nurse']",
    "cloze": "What does Mara Quint do for a living?\nPlease **ONLY** provide the correct answer without any explanation",
    "generation": (
        "What does Mara Quint do for a living?\n"
        "Answer the question based on your trained knowledge in one sentence accurately in ENGLISH."
    ),
}


@pytest.mark.parametrize(("task", "modality"), sorted(SPEC_LLAVA))
def test_the_six_llava_prompts_are_spec_text_character_for_character(task, modality):
    options = OPTS if task == "classification" else None
    assert llava_task_prompt(task, modality, Q, options) == SPEC_LLAVA[(task, modality)]


def test_the_llava_table_has_exactly_six_templates_and_the_asymmetries():
    assert set(LLAVA_PROMPTS) == set(SPEC_LLAVA)
    assert LLAVA_PROMPTS[("classification", "unimodal")].startswith("USER:\n{q}")
    assert LLAVA_PROMPTS[("generation", "multimodal")].endswith("\nASSISTANT: ")
    assert "accurately" not in LLAVA_PROMPTS[("generation", "unimodal")]
    assert all(
        t.endswith("ASSISTANT:") for k, t in LLAVA_PROMPTS.items() if k != ("generation", "multimodal")
    )


@pytest.mark.parametrize("task", sorted(SPEC_CHAT))
def test_chat_user_texts_follow_the_original_qwen_branch(task):
    options = OPTS if task == "classification" else None
    assert task_instruction(task, Q, options) == SPEC_CHAT[task]
    assert set(CHAT_USER_TEXTS) == set(SPEC_CHAT)


def test_options_are_a_python_list_literal_and_questions_are_not_format_strings():
    quoted = ["O'Brien", 'say "hi"', "a, b", "{q}"]
    prompt = llava_task_prompt("classification", "multimodal", "Who {opts}?", quoted)
    assert prompt == (
        "USER: <image>\nWho {opts}?\nSelect answer in [\"O'Brien\", 'say \"hi\"', 'a, b', '{q}']\nASSISTANT:"
    )
    with pytest.raises(ValueError, match="options"):
        llava_task_prompt("classification", "unimodal", Q)
    with pytest.raises(ValueError, match="unknown task"):
        llava_task_prompt("essay", "unimodal", Q)
    with pytest.raises(ValueError, match="unknown modality"):
        llava_task_prompt("cloze", "both", Q)


@pytest.mark.parametrize(
    ("continuation", "reply"),
    [
        # zero ASSISTANT: the whole continuation, stripped
        (" Mara works as a pilot. \n", "Mara works as a pilot."),
        ("", ""),
        # one: what comes before it (the model went on to invent a next turn)
        (" pilot\nUSER: and?\nASSISTANT: chef", "pilot\nUSER: and?"),
        # two: still only what comes before the first (the old rule took the text after the last)
        (" pilot ASSISTANT: chef ASSISTANT: baker ", "pilot"),
        # the continuation starting with the tag gives an empty reply
        ("ASSISTANT: pilot", ""),
    ],
)
def test_reply_is_the_continuation_cut_before_the_first_assistant(continuation, reply):
    assert extract_reply(continuation) == reply
