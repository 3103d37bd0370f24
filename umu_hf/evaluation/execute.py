"""Asking the model: the plan's jobs in batches (left padding, sorted by prompt length; greedy, so a batched reply
is the reply the question gets alone), each portrait decoded once per set, each batch recorded as it finishes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.data.decode import Portraits
from umu_hf.data.schema import SETS
from umu_hf.evaluation import store
from umu_hf.evaluation.items import RECORD_TASKS, Question
from umu_hf.evaluation.plan import EvalPlan, Job

if TYPE_CHECKING:
    pass


def _record(job: Job, prompt: str, reply: str, **extra: Any) -> dict[str, Any]:
    question = job.question
    record = {
        "id": job.uid,
        "set": question.set_name,
        "task": job.record_task,
        "modality": question.modality,
        "profile_id": question.profile_id,
        "index": question.index,
        "key": question.key,
        "question": question.question,
        "prompt": prompt,
        "reply": reply,
        "reference": question.reference,
    }
    if question.options is not None:
        record["options"] = list(question.options)
    record.update(extra)
    record.update(question.score(reply, job.scoring))
    return record


@dataclass(frozen=True)
class Asker:
    """What asking needs: the model, its adapter, each task's ``max_new_tokens``, the questions per batch."""

    model: Any
    adapter: Any
    budgets: Mapping[str, int]
    batch_size: int

    def batches(self, jobs: Sequence[Job], prompts: Mapping[Question, str]) -> list[list[Job]]:
        """Batches of one modality each, longest prompts first (ties keep the canonical order)."""
        if not jobs:
            return []
        texts = [prompts[job.question] for job in jobs]
        lengths = [len(ids) for ids in self.adapter.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        batches = []
        for modality in ("unimodal", "multimodal"):
            order = sorted(
                (i for i, job in enumerate(jobs) if job.question.modality == modality),
                key=lambda i: -lengths[i],
            )
            group = [jobs[i] for i in order]
            batches.extend(group[i : i + self.batch_size] for i in range(0, len(group), self.batch_size))
        return batches

    def ask(self, batch: Sequence[Job], prompts: Mapping[Question, str], portraits: Portraits) -> list[dict]:
        """Run one batch (jobs of one set, task, scoring and modality) and return its prediction records."""
        questions = [job.question for job in batch]
        images = [portraits(q.row) for q in questions] if questions[0].with_image else None
        if batch[0].scoring == "loglik":
            from umu_hf.evaluation.loglik import choose, option_logliks

            scores = option_logliks(self.model, self.adapter, questions, images)
            return [
                _record(job, prompts[job.question], choose(s, job.question.options or ()), option_logliks=s)
                for job, s in zip(batch, scores, strict=True)
            ]
        texts = [prompts[q] for q in questions]
        replies = self.adapter.generate(self.model, texts, images, self.budgets[questions[0].task])
        return [_record(job, prompts[job.question], r) for job, r in zip(batch, replies, strict=True)]


def execute(
    jobs: Sequence[Job],
    plan: EvalPlan,
    splits: Mapping[str, Any],
    asker: Asker,
    path: Path,
    *,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> None:
    """Ask ``jobs`` (of ``plan``; portraits from ``splits``) set by set and record task by record task, in
    batches, appending each batch's records to ``path`` as it finishes; the model is in eval mode meanwhile.
    ``on_batch(n)``: called after the n-th batch is written."""
    from tqdm.auto import tqdm

    was_training = getattr(asker.model, "training", False)
    asker.model.eval()
    n_batches = 0
    try:
        with store.PredictionWriter(path) as writer:
            for name, group, portraits in _groups(jobs, splits):
                with tqdm(total=len(group), desc=name, unit="q", disable=not progress) as bar:
                    for batch in asker.batches(group, plan.prompts):
                        writer.write(asker.ask(batch, plan.prompts, portraits))
                        bar.update(len(batch))
                        n_batches += 1
                        if on_batch is not None:
                            on_batch(n_batches)
    finally:
        asker.model.train(was_training)


def _groups(jobs: Sequence[Job], splits: Mapping[str, Any]) -> Iterator[tuple[str, list[Job], Portraits]]:
    """``("set/record task", jobs, the set's portraits)`` by set, then record task (one set's portraits at a
    time, each decoded once)."""
    for set_name in (s for s in SETS if s in splits):
        portraits = Portraits(splits[set_name])
        for record_task in RECORD_TASKS:
            group = [j for j in jobs if j.question.set_name == set_name and j.record_task == record_task]
            if group:
                yield f"{set_name}/{record_task}", group, portraits


# -- the run -------------------------------------------------------------------------------------------------
