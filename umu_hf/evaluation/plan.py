"""The plan of an evaluation: every question of the requested sets and tasks as a :class:`Job` (one per way it is
scored), minus the ones a previous run of the same request already answered."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from umu_hf.data.schema import SETS, TASKS
from umu_hf.errors import ResultsConflictError
from umu_hf.evaluation import store
from umu_hf.evaluation.items import Question, task_scorings

if TYPE_CHECKING:
    pass



@dataclass(frozen=True)
class Job:
    """One prediction to make: ``question`` answered by a generated reply (``scoring="generate"``) or, for a
    classification question, by the option of highest log-likelihood (``"loglik"``)."""

    question: Question
    scoring: str = "generate"

    @property
    def record_task(self) -> str:
        """The ``task`` its prediction record carries."""
        return self.question.record_task(self.scoring)

    @property
    def uid(self) -> str:
        """The ``id`` of its prediction record."""
        return self.question.uid(self.scoring)


@dataclass(frozen=True)
class EvalPlan:
    """What a run asks: its questions by set (what the results pair up), each question's prompt, and the jobs
    without a finished prediction in canonical order (set, task, scoring, modality, profile, index)."""

    questions: Mapping[str, Sequence[Question]]
    prompts: Mapping[Question, str]
    jobs: list[Job]


def _all_jobs(questions: Mapping[str, Sequence[Question]], classification_scoring: str) -> Iterator[Job]:
    """Every job of a run in canonical order (set, task, scoring, modality, profile, index)."""
    for set_name in (s for s in SETS if s in questions):
        for task in TASKS:
            chosen = [q for q in questions[set_name] if q.task == task]
            chosen.sort(key=lambda q: (q.modality != "unimodal", q.profile_id, q.index))
            for scoring in task_scorings(task, classification_scoring):
                yield from (Job(q, scoring) for q in chosen)


def plan_evaluation(
    questions: Mapping[str, Sequence[Question]],
    prompt: Callable[[Question], str],
    classification_scoring: str,
    out: Path,
) -> EvalPlan:
    """The plan of a run over ``questions`` (by set), each asked as ``prompt(question)``: every job of the run
    minus those with a finished prediction in ``out`` (resume). A finished prediction made for another prompt
    or answer is refused (:class:`ResultsConflictError`)."""
    prompts = {q: prompt(q) for qs in questions.values() for q in qs}
    done = store.load_records(out)
    pending = []
    for job in _all_jobs(questions, classification_scoring):
        record = done.get(job.uid)
        if record is None:
            pending.append(job)
        elif (
            record.get("prompt") != prompts[job.question] or record.get("reference") != job.question.reference
        ):
            raise ResultsConflictError(
                f"{out}: the finished prediction {job.uid} was made for another prompt or answer (the "
                "dataset or the model's prompt template changed); use another --out or --overwrite"
            )
    return EvalPlan(questions, prompts, pending)


# -- execution -----------------------------------------------------------------------------------------------
