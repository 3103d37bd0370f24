"""The benchmark questions of a split, one per modality, and how a reply to each is judged (docs/protocol.md, Evaluation).

A :class:`Question` is what the runner asks and what the Space shows: the question text, its options
(classification), its reference answer and the rule that scores a reply. All scoring goes through
:mod:`umu_hf.scoring`; this module only picks the rule and the reference:

- classification: the reference is the correct option *text*, ``options[answer letter]`` (the unimodal letter
  is the truth for both modalities; the Hub schema already stores it on both items); option matching is
  ``exact`` on the forget and retain sets and ``closest`` on the real set;
- cloze: the reference is the raw answer (the containment rule cuts it at its first period);
- generation: ROUGE-L F1 against the answer (``score``), with the original's secondary numbers beside it
  (``bleu``, ``rouge1``, ``rouge2``; not headline).

>>> options = ("Rome", "Oslo", "Bern", "Riga")
>>> q = Question("real", "classification", "unimodal", 7, 0, "city", "Where?", "Oslo", options, 0)
>>> q.uid(), q.score("Oslo."), q.with_image
('real/classification/unimodal/7/0', {'correct': True}, False)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from umu_hf.data.schema import MODALITIES, OPTION_LETTERS, SETS, TASK_COLUMNS, TASKS
from umu_hf.errors import DataError, UmuError

#: how a classification reply is matched to an option on each evaluation set (docs/protocol.md, Evaluation)
OPTION_MATCHING: dict[str, str] = {"forget": "exact", "retain": "exact", "real": "closest"}
#: how a run scores its classification questions: ``generate`` (the original protocol: a greedy reply matched to
#: an option) or ``loglik`` (that, and also by option log-likelihood: :mod:`.loglik`; not the original protocol)
CLASSIFICATION_SCORINGS: tuple[str, ...] = ("generate", "loglik")
#: the ``task`` that prediction records of classification scored by option log-likelihood carry (a name in the
#: predictions file, not a task of the benchmark)
LOGLIK_TASK = "classification_loglik"
#: every task name a prediction record can carry, in report order
RECORD_TASKS: tuple[str, ...] = ("classification", LOGLIK_TASK, "cloze", "generation")


def task_scorings(task: str, classification_scoring: str = "generate") -> tuple[str, ...]:
    """How a run with ``classification_scoring`` (one of :data:`CLASSIFICATION_SCORINGS`) scores the questions
    of ``task``: every question by its generated reply; under ``"loglik"`` classification also by option
    log-likelihood."""
    if classification_scoring not in CLASSIFICATION_SCORINGS:
        raise UmuError(
            f"--classification-scoring must be one of {', '.join(CLASSIFICATION_SCORINGS)}, "
            f"got {classification_scoring!r}"
        )
    if task == "classification" and classification_scoring == "loglik":
        return ("generate", "loglik")
    return ("generate",)


@dataclass(frozen=True)
class Question:
    """One benchmark question in one modality.

    ``index`` is the position in the profile's task list: the unimodal and multimodal questions with the same
    ``(profile_id, index)`` probe the same fact and form one pair of the metrics. ``row`` is the profile's row
    in its split (to fetch the portrait).
    """

    set_name: str
    task: str
    modality: str
    profile_id: int
    index: int
    key: str
    question: str
    reference: str
    options: tuple[str, ...] | None
    row: int
    #: other wordings of the question with the same answer (the dataset's ``paraphrases``; asked only by the
    #: robustness block), not part of the question's identity
    paraphrases: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def with_image(self) -> bool:
        """Multimodal questions are asked with the profile's portrait, unimodal ones without any image."""
        return self.modality == "multimodal"

    @property
    def option_matching(self) -> str:
        """``exact`` on forget/retain, ``closest`` on the real set."""
        return OPTION_MATCHING.get(self.set_name, "exact")

    def record_task(self, scoring: str = "generate") -> str:
        """The ``task`` of this question's prediction record when scored by ``scoring``: the question's task,
        or :data:`LOGLIK_TASK` for classification scored by option log-likelihood (``"loglik"``)."""
        if scoring == "generate":
            return self.task
        if scoring == "loglik" and self.task == "classification":
            return LOGLIK_TASK
        raise UmuError(f"a {self.task} question cannot be scored by {scoring!r}")

    def uid(self, scoring: str = "generate") -> str:
        """Stable id of this question's prediction: ``set/record task/modality/profile_id/index``."""
        return f"{self.set_name}/{self.record_task(scoring)}/{self.modality}/{self.profile_id}/{self.index}"

    def pair_key(self) -> tuple[int, int]:
        """What pairs the unimodal and multimodal questions of one fact."""
        return (self.profile_id, self.index)

    def score(self, reply: str, scoring: str = "generate") -> dict[str, Any]:
        """``{"correct": bool}`` (classification, cloze) or, for generation, ``{"score": ROUGE-L F1, "bleu": …,
        "rouge1": …, "rouge2": …}`` (all in [0, 1]; see :func:`umu_hf.scoring.generation_question_scores`).

        ``scoring="loglik"`` (classification only): the reply is the chosen option text, compared exactly.
        """
        from umu_hf.scoring import reply_score

        if self.record_task(scoring) == LOGLIK_TASK:
            return reply_score("classification", reply, self.reference, self.options, "exact")
        return reply_score(self.task, reply, self.reference, self.options, self.option_matching)


def _question(
    set_name: str, task: str, modality: str, item: dict, profile_id: int, index: int, row: int
) -> Question:
    options = None
    reference = item["answer"]
    if task == "classification":
        raw = item.get("options") or {}
        try:
            options = tuple(raw[letter] for letter in OPTION_LETTERS)
            reference = raw[item["answer"]]
        except KeyError as exc:
            raise DataError(
                f"{set_name} set, profile ID {profile_id}, Classify.{modality}[{index}]: options must be A-D "
                f"and the answer one of their letters (got answer {item.get('answer')!r}); fix the dataset"
            ) from exc
    return Question(
        set_name,
        task,
        modality,
        int(profile_id),
        index,
        item["key"],
        item["question"],
        reference,
        options,
        row,
        tuple(item.get("paraphrases") or ()),
    )


def iter_items(
    split: Any, set_name: str, tasks: Sequence[str] = TASKS, limit: int | None = None
) -> Iterator[Question]:
    """The questions of a split (a ``datasets.Dataset`` or rows in the Hub schema), both modalities.

    Profile by profile in split order; ``limit`` keeps the first ``limit`` question pairs of each task. Images
    are not decoded (``Question.row`` says where the portrait is).
    """
    if set_name not in SETS:
        raise UmuError(f"unknown evaluation set {set_name!r}; expected one of {', '.join(SETS)}")
    for task in tasks:
        if task not in TASK_COLUMNS:
            raise UmuError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    columns = ["ID", *(TASK_COLUMNS[task] for task in tasks)]
    rows = split.select_columns(columns) if hasattr(split, "select_columns") else split
    seen: dict[str, int] = dict.fromkeys(tasks, 0)
    for row_index, row in enumerate(rows):
        for task in tasks:
            block = row[TASK_COLUMNS[task]]
            for index, pair in enumerate(zip(block["unimodal"], block["multimodal"], strict=True)):
                if limit is not None and seen[task] >= limit:
                    break
                seen[task] += 1
                for modality, item in zip(MODALITIES, pair, strict=True):
                    yield _question(set_name, task, modality, item, row["ID"], index, row_index)
