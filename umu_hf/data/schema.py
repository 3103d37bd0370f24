"""The typed row schema of the Hub layout (SPEC 2.2) and the names of configs and splits.

One row is one profile::

    {
      "ID": 17,                                   # int64, unique over the whole dataset
      "source": "fictitious" | "real",
      "image": PIL.Image,                         # datasets.Image(): the portrait
      "biography": "…",                           # "" when the source has none
      "MM_QA": [{"question": "…", "answer": "…"}, …],   # training pairs asked with the image
      "UM_QA": [{"question": "…", "answer": "…"}, …],   # training pairs asked in text only
      "Classify": {"unimodal":   [{"key", "question", "options": {"A","B","C","D"}, "answer"}, …],
                   "multimodal": [same, paired with unimodal by position and "key"]},
      "Cloze":      {"unimodal": [{"key", "question", "answer"}, …], "multimodal": [...]},
      "Generation": {"unimodal": [{"key", "question", "answer"}, …], "multimodal": [...]},
    }

For classification ``answer`` is the correct option *letter* (``"A"``..``"D"``); the correct text is
``options[answer]``. In both modalities it is the unimodal item's letter (the legacy data's rule). Items of the
two modalities with the same index share ``key`` and probe the same fact.
"""

from __future__ import annotations

from typing import Any

FORGET_RATIOS: tuple[int, ...] = (5, 10, 15)
OPTION_LETTERS: tuple[str, ...] = ("A", "B", "C", "D")
TASKS: tuple[str, ...] = ("classification", "cloze", "generation")
MODALITIES: tuple[str, ...] = ("unimodal", "multimodal")
SETS: tuple[str, ...] = ("forget", "retain", "real")
#: row column that holds each task's items
TASK_COLUMNS: dict[str, str] = {"classification": "Classify", "cloze": "Cloze", "generation": "Generation"}
SOURCES: tuple[str, ...] = ("fictitious", "real")

CONFIG_NAMES: tuple[str, ...] = (
    "forget05",
    "forget10",
    "forget15",
    "retain95",
    "retain90",
    "retain85",
    "real",
    "full",
)
#: the split every config has
SPLIT = "train"


def forget_config(ratio: int) -> str:
    """``5 -> "forget05"``; raises :class:`~umu_hf.errors.UmuError` for ratios other than 5/10/15."""
    return f"forget{check_forget_ratio(ratio):02d}"


def retain_config(ratio: int) -> str:
    """``5 -> "retain95"``."""
    return f"retain{100 - check_forget_ratio(ratio):02d}"


def check_forget_ratio(ratio: Any) -> int:
    """Validate a forget ratio given as 5/10/15 (int or str); return it as int."""
    from umu_hf.errors import UmuError

    try:
        value = int(str(ratio).strip().rstrip("%"))
    except ValueError:
        value = None
    if value not in FORGET_RATIOS:
        raise UmuError(f"unknown forget ratio {ratio!r}: UMU-Bench has forget ratios 5, 10 and 15 (percent)")
    return value


def set_config(set_name: str, ratio: int) -> str:
    """Config holding an evaluation set: ``("forget", 10) -> "forget10"``, ``("real", _) -> "real"``."""
    if set_name == "forget":
        return forget_config(ratio)
    if set_name == "retain":
        return retain_config(ratio)
    if set_name == "real":
        return "real"
    raise ValueError(f"unknown set {set_name!r}; expected one of {SETS}")


def features():  # -> datasets.Features (imported lazily: datasets is heavy)
    """The ``datasets.Features`` of a row."""
    from datasets import Features, Image, List, Value

    qa = List({"question": Value("string"), "answer": Value("string")})
    options = {letter: Value("string") for letter in OPTION_LETTERS}
    cls_item = {"key": Value("string"), "question": Value("string"), "options": options, "answer": Value("string")}
    txt_item = {"key": Value("string"), "question": Value("string"), "answer": Value("string")}

    def two(item: dict) -> dict:
        return {"unimodal": List(item), "multimodal": List(item)}

    return Features(
        {
            "ID": Value("int64"),
            "source": Value("string"),
            "image": Image(),
            "biography": Value("string"),
            "MM_QA": qa,
            "UM_QA": qa,
            "Classify": two(cls_item),
            "Cloze": two(txt_item),
            "Generation": two(txt_item),
        }
    )
