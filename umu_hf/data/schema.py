"""The typed row schema of the Hub layout (docs/protocol.md, Data) and the names of configs and splits.

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

Every task item may also carry ``"paraphrases"``: other wordings of its ``question`` with the same answer (for
cloze, other sentences with the same blank), which ``umu-hf eval --robustness`` asks too; the synthetic data has
two per item, converted published data none (``None``/absent: the robustness block says "unavailable").
"""

from __future__ import annotations

from typing import Any, NoReturn

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
#: the config of non-members: fictitious profiles used in no fine-tuning (membership inference, docs/protocol.md).
#: Optional: ``umu-hf data synth`` writes it, converted published data has none
HOLDOUT_CONFIG = "holdout"
OPTIONAL_CONFIG_NAMES: tuple[str, ...] = (HOLDOUT_CONFIG,)
#: every config name a dataset may have: the required ones, then the optional ones
ALL_CONFIG_NAMES: tuple[str, ...] = CONFIG_NAMES + OPTIONAL_CONFIG_NAMES

#: disjoint row groups, in the order rows appear in ``full``
PARTS: tuple[str, ...] = ("forget05", "forget10only", "forget15only", "retain85", "real")
#: the optional part of non-members (fictitious profiles used in no fine-tuning): never in ``full``
HOLDOUT_PART = "holdout"
#: the parts each config is made of
CONFIG_PARTS: dict[str, tuple[str, ...]] = {
    "forget05": ("forget05",),
    "forget10": ("forget05", "forget10only"),
    "forget15": ("forget05", "forget10only", "forget15only"),
    "retain95": ("forget10only", "forget15only", "retain85"),
    "retain90": ("forget15only", "retain85"),
    "retain85": ("retain85",),
    "real": ("real",),
    "full": PARTS,
    HOLDOUT_CONFIG: (HOLDOUT_PART,),
}
#: the folder of the parquet shards in a Hub-layout dataset
DATA_DIR = "data"
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


def check_sequence(ratios: str | Any) -> tuple[int, ...]:
    """Deletion requests served one after another, as the forget ratios they reach: at least two of 5/10/15 (a
    comma-separated text or a sequence), increasing — the nested forget sets make request k the people that
    ``forget{ratios[k]}`` adds to ``forget{ratios[k-1]}``.

    >>> check_sequence("5, 10,15"), check_sequence([5, 15])
    ((5, 10, 15), (5, 15))
    """
    from umu_hf.errors import UmuError

    parts = [p for p in (str(ratios).split(",") if isinstance(ratios, str) else ratios) if str(p).strip()]
    values = tuple(check_forget_ratio(p) for p in parts)
    if len(values) < 2:
        raise UmuError(f"a sequence needs at least two requests (e.g. 5,10,15), got {values or '(none)'}")
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise UmuError(f"the forget ratios of a sequence must increase (each request adds people), got "
                       f"{','.join(map(str, values))}")
    return values


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
    cls_item = {"key": Value("string"), "question": Value("string"), "options": options, "answer": Value("string"),
                "paraphrases": List(Value("string"))}
    txt_item = {"key": Value("string"), "question": Value("string"), "answer": Value("string"),
                "paraphrases": List(Value("string"))}

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


#: what joins several configs into one training set (``retain85+real``)
CONFIG_JOIN = "+"


def retain_model_config(ratio: int) -> str:
    """The training data of the *retain model* (the gold standard of forget quality and privacy leakage: the
    vanilla fine-tuning without the forget people): every part of ``full`` but the forget set.

    >>> retain_model_config(15)
    'retain85+real'
    """
    return f"{retain_config(ratio)}{CONFIG_JOIN}real"


def check_training_configs(text: str) -> tuple[str, ...]:
    """One config name or several joined by ``+`` (``retain85+real``), each checked, without repeats.

    >>> check_training_configs("retain85 + real")
    ('retain85', 'real')
    """
    from umu_hf.errors import UmuError

    names = tuple(dict.fromkeys(check_config(part) for part in str(text).split(CONFIG_JOIN) if part.strip()))
    if not names:
        raise UmuError(f"no dataset config in {text!r}: name one (full) or several joined by + (retain85+real)")
    return names


def check_config(name: str) -> str:
    """Validate a config name (``forget05`` … ``full``, or the optional ``holdout``) and return it; ``forget5`` is
    read as ``forget05``.

    A forget/retain name with a ratio other than 5/10/15 is an "unknown forget ratio" error.
    """
    from umu_hf.errors import UmuError

    text = str(name).strip()
    if text in ALL_CONFIG_NAMES:
        return text
    rules = (("forget", lambda n: n, forget_config), ("retain", lambda n: 100 - n, retain_config))
    for prefix, to_ratio, to_config in rules:
        digits = text[len(prefix) :]
        if text.startswith(prefix) and digits.isdigit():
            try:
                return to_config(to_ratio(int(digits)))
            except UmuError as exc:
                raise UmuError(f"config {name!r}: {exc}") from None
    raise UmuError(f"unknown config {name!r}: expected one of {', '.join(ALL_CONFIG_NAMES)}")


def validate_row(row: dict, where: str) -> None:
    """Check one row against the schema; raise :class:`~umu_hf.errors.DataError` naming ``where`` and the field.

    Checked: the columns and their types, classification options A–D and a valid answer letter, the two
    modalities paired item by item (same length, same ``key``, same answer letter), unique keys.
    """
    from umu_hf.errors import DataError

    def fail(field: str, problem: str) -> NoReturn:
        raise DataError(f"{where}, field {field}: {problem}")

    for column in ("ID", "source", "image", "biography", "MM_QA", "UM_QA", *TASK_COLUMNS.values()):
        if column not in row:
            fail(column, "missing; every row needs ID, source, image, biography, MM_QA, UM_QA and the task columns")
    if not isinstance(row["ID"], int) or isinstance(row["ID"], bool):
        fail("ID", f"must be an integer, got {row['ID']!r}")
    if row["source"] not in SOURCES:
        fail("source", f"must be one of {SOURCES}, got {row['source']!r}")
    if row["image"] is None:
        fail("image", "missing portrait")
    if not isinstance(row["biography"], str):
        fail("biography", "must be a string ('' when there is none)")
    for column in ("MM_QA", "UM_QA"):
        pairs = row[column]
        if not isinstance(pairs, list):
            fail(column, "must be a list of {question, answer} pairs")
        for i, pair in enumerate(pairs):
            if not isinstance(pair, dict) or not all(isinstance(pair.get(k), str) for k in ("question", "answer")):
                fail(f"{column}[{i}]", "needs string 'question' and 'answer'")
    for task, column in TASK_COLUMNS.items():
        value = row[column]
        if not isinstance(value, dict) or not all(isinstance(value.get(m), list) for m in MODALITIES):
            fail(column, "must hold the lists 'unimodal' and 'multimodal'")
        uni, multi = value["unimodal"], value["multimodal"]
        if len(uni) != len(multi):
            fail(column, f"{len(uni)} unimodal items but {len(multi)} multimodal ones; they pair item by item")
        for modality in MODALITIES:
            keys = [item.get("key") if isinstance(item, dict) else None for item in value[modality]]
            if len(set(keys)) != len(keys):
                fail(f"{column}.{modality}", f"duplicate item keys {keys}")
            for i, item in enumerate(value[modality]):
                _validate_item(task, item, f"{column}.{modality}[{i}]", fail)
        for i, (u, m) in enumerate(zip(uni, multi, strict=True)):
            if u["key"] != m["key"]:
                fail(f"{column}.multimodal[{i}].key", f"is {m['key']!r} but the unimodal item is {u['key']!r}")
            if task == "classification" and u["answer"] != m["answer"]:
                fail(f"{column}.multimodal[{i}].answer", f"is {m['answer']!r} but the unimodal answer is "
                     f"{u['answer']!r}; the unimodal letter is the truth for both modalities")


def _validate_item(task: str, item: Any, field: str, fail) -> None:
    """One task item: string key/question/answer; classification also options A–D and an answer letter."""
    if not isinstance(item, dict):
        fail(field, "must be a dict")
    for name in ("key", "question", "answer"):
        if not isinstance(item.get(name), str):
            fail(f"{field}.{name}", "missing or not a string")
    paraphrases = item.get("paraphrases")
    if paraphrases is not None and (not isinstance(paraphrases, list)
                                    or not all(isinstance(text, str) and text.strip() for text in paraphrases)):
        fail(f"{field}.paraphrases", "must be a list of non-empty strings (or absent)")
    if task != "classification":
        return
    options = item.get("options")
    if not isinstance(options, dict) or set(options) != set(OPTION_LETTERS):
        fail(f"{field}.options", f"must have exactly the options {OPTION_LETTERS}")
    if not all(isinstance(text, str) for text in options.values()):
        fail(f"{field}.options", "option texts must be strings")
    if item["answer"] not in OPTION_LETTERS:
        fail(f"{field}.answer", f"must be one of the letters {OPTION_LETTERS}, got {item['answer']!r}")
