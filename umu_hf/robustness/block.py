"""The ``robustness`` block of ``results.json`` (``umu-hf eval --robustness``), measured on the evaluated model as
an extra block of its evaluation (:class:`umu_hf.evaluation.runner.ExtraBlock`; the model is loaded once).

``paraphrase``: per set (forget, retain), task and modality, the score of the dataset's paraphrases of every
question (accuracy %, generation ROUGE-L %), the same questions as worded, and the change; "unavailable" for data
without paraphrases. ``image``: per transform (:data:`umu_hf.robustness.transforms.TRANSFORMS`) and for the untransformed portrait
(``none``), per set (forget, retain) and task (classification, cloze), the multimodal accuracy in percent, ``n``
and ``change`` (transformed − untransformed, points). Asked like the evaluation (same prompts, budgets, scoring,
batching); the untransformed numbers are measured again here on the same questions, so each change compares like
with like. ``extraction``: per modality, mean exact memorization and extraction strength (percent) of the forget
set's QA answers, scored in the training layout as membership inference scores them (answer tokens, no EOS).
``quantization``: per bit width (:mod:`umu_hf.robustness.quantize`), both modalities' accuracy of a quantized copy
of the model and ``recovery`` = quantized − unquantized (points; on forget, knowledge that rounding brings back).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from umu_hf.evaluation.request import EvalRequest
from umu_hf.robustness.compare import change_cell, difference, percent, question_value

#: the key of the block in ``results.json``
ROBUSTNESS = "robustness"
#: the sets and tasks the image transforms are measured on
IMAGE_SETS = ("forget", "retain")
IMAGE_TASKS = ("classification", "cloze")
#: the tasks paraphrases are asked for (every task: generation scored by ROUGE-L)
PARAPHRASE_TASKS = ("classification", "cloze", "generation")


class RobustnessBlock:
    """:meth:`prepare` keeps the forget and retain questions of ``request``'s evaluation; :meth:`measure` asks the
    classification and cloze ones again (plain, under each portrait transform, quantized) and scores the forget
    answers' extraction."""

    def __init__(self, request: EvalRequest) -> None:
        self.request = request
        self._splits: dict[str, Any] = {}

    def prepare(self, out: Path, splits: Mapping[str, Any]) -> None:
        """Keep (or load, when the evaluation skipped them) the forget and retain splits."""
        from umu_hf.data.load import load_umu_split
        from umu_hf.data.schema import set_config

        for name in IMAGE_SETS:
            split = splits.get(name)
            if split is None:
                split = load_umu_split(self.request.data, set_config(name, self.request.forget_ratio),
                                       as_dataset=False)
            self._splits[name] = split

    def measure(self, model: Any, processor: Any, adapter: Any, batch_size: int) -> dict[str, Any]:
        """The block (see the module docstring)."""
        plain = self._accuracy(model, adapter, batch_size, None, ("unimodal", "multimodal"))
        image = {"none": _with_change(_only(plain, "multimodal"), None)}
        from umu_hf.robustness.transforms import TRANSFORMS

        for name, transform in TRANSFORMS.items():
            image[name] = _with_change(self._accuracy(model, adapter, batch_size, transform, ("multimodal",)),
                                       _only(plain, "multimodal"))
        return {
            "paraphrase": self._paraphrase(model, adapter, batch_size),
            "image": image,
            "extraction": self._extraction(model, adapter, batch_size),
            "quantization": self._quantization(model, adapter, batch_size, plain),
        }

    def _accuracy(self, model: Any, adapter: Any, batch_size: int, transform: Any,
                  modalities: tuple[str, ...]) -> dict[str, dict[str, dict[str, Any]]]:
        """``{set: {task: {"<modality>_acc": %, "n": pairs}}}`` of forget and retain classification and cloze,
        asked as the evaluation asks them, with each portrait through ``transform`` when given."""
        from umu_hf.evaluation.items import iter_items

        out: dict[str, dict[str, dict[str, Any]]] = {}
        for set_name, split in self._splits.items():
            questions = [q for q in iter_items(split, set_name, IMAGE_TASKS, self.request.limit)
                         if q.modality in modalities]
            scores = self._scores(model, adapter, batch_size, set_name, questions, transform)
            for task in IMAGE_TASKS:
                cell: dict[str, Any] = {}
                for modality in modalities:
                    cell[f"{modality}_acc"], cell["n"] = (percent(scores[(task, modality)]),
                                                          len(scores[(task, modality)]))
                out.setdefault(set_name, {})[task] = cell
        return out

    def _paraphrase(self, model: Any, adapter: Any, batch_size: int) -> dict[str, Any]:
        """Per set, task and modality: the score of every paraphrase of every question (accuracy %, generation
        ROUGE-L %), the same questions as worded in the dataset, ``n`` paraphrases and ``change`` = paraphrased −
        plain (points); ``{"unavailable": why}`` for data without paraphrases (converted published data)."""
        import dataclasses

        from umu_hf.evaluation.items import iter_items

        questions = {name: list(iter_items(split, name, PARAPHRASE_TASKS, self.request.limit))
                     for name, split in self._splits.items()}
        if not any(q.paraphrases for qs in questions.values() for q in qs):
            return {"unavailable": "the dataset has no paraphrased questions (converted published data has none; "
                                   "the synthetic data has two per question)"}
        out: dict[str, Any] = {}
        for set_name, asked in questions.items():
            asked = [q for q in asked if q.paraphrases]
            reworded = [dataclasses.replace(q, question=text) for q in asked for text in q.paraphrases]
            plain = self._scores(model, adapter, batch_size, set_name, asked)
            other = self._scores(model, adapter, batch_size, set_name, reworded)
            for task in PARAPHRASE_TASKS:
                out.setdefault(set_name, {})[task] = {
                    modality: change_cell(other[(task, modality)], plain[(task, modality)])
                    for modality in ("unimodal", "multimodal")
                }
        return out

    def _scores(self, model: Any, adapter: Any, batch_size: int, set_name: str, questions: list[Any],
                transform: Any = None) -> dict[tuple[str, str], list[float]]:
        """``{(task, modality): [score of each question]}`` (correct 0/1; generation ROUGE-L F1), asked as the
        evaluation asks them, each portrait through ``transform`` when given."""
        from umu_hf.data.decode import Portraits
        from umu_hf.evaluation.execute import Asker
        from umu_hf.evaluation.plan import Job

        request = self.request
        asker = Asker(model, adapter, request.budgets, batch_size)
        scoring = {"classification": request.classification_scoring}
        prompts = {q: adapter.prompt(q.task, q.question, q.with_image, q.options) for q in questions}
        portraits = Portraits(self._splits[set_name])
        if transform is not None:
            portraits = _Transformed(portraits, transform)
        scores: dict[tuple[str, str], list[float]] = {(t, m): [] for t in PARAPHRASE_TASKS
                                                      for m in ("unimodal", "multimodal")}
        was_training = getattr(model, "training", False)
        model.eval()
        try:
            for task in PARAPHRASE_TASKS:
                jobs = [Job(q, scoring.get(task, "generate")) for q in questions if q.task == task]
                for batch in asker.batches(jobs, prompts):
                    for record in asker.ask(batch, prompts, portraits):
                        scores[(task, record["modality"])].append(question_value(task, record))
        finally:
            model.train(was_training)
        return scores

    def _quantization(self, model: Any, adapter: Any, batch_size: int,
                      plain: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
        """Per bit width: the accuracies of the quantized copy and ``recovery`` = quantized − plain (points) per
        set, task and modality; or ``{"unavailable": why}``."""
        from umu_hf.robustness.quantize import BITS, QuantizationUnavailable, quantized_copy

        block: dict[str, Any] = {"library": "torchao", "scheme": "weight-only, linear layers"}
        for bits in BITS:
            try:
                quantized = quantized_copy(model, bits)
            except QuantizationUnavailable as exc:
                block[f"int{bits}"] = {"unavailable": str(exc)}
                continue
            try:
                measured = self._accuracy(quantized, adapter, batch_size, None, ("unimodal", "multimodal"))
            finally:
                del quantized
            for set_name, tasks in measured.items():
                for task, cell in tasks.items():
                    cell["recovery"] = {m: difference(cell[f"{m}_acc"], plain[set_name][task][f"{m}_acc"])
                                        for m in ("unimodal", "multimodal")}
            block[f"int{bits}"] = measured
        return block

    def _extraction(self, model: Any, adapter: Any, batch_size: int) -> dict[str, Any]:
        from umu_hf.data.schema import MODALITIES
        from umu_hf.privacy.mia import split_pairs, token_stats
        from umu_hf.robustness.extraction import exact_memorization, extraction_strength

        pairs, images = split_pairs(self._splits["forget"], "forget", self.request.limit)
        block: dict[str, Any] = {"set": "forget", "source": "open-unlearning memorization.py"}
        for modality in MODALITIES:
            stats = token_stats(model, adapter, pairs[modality], images, batch_size)
            em = [v for v in (exact_memorization(s.hits) for s in stats) if v is not None]
            es = [extraction_strength(s.hits) for s in stats]
            block[modality] = {"exact_memorization": percent(em), "extraction_strength": percent(es),
                               "n": len(stats)}
        return block


def _only(accuracy: dict[str, dict[str, dict[str, Any]]], modality: str) -> dict[str, dict[str, dict[str, Any]]]:
    return {s: {t: {f"{modality}_acc": c[f"{modality}_acc"], "n": c["n"]} for t, c in tasks.items()}
            for s, tasks in accuracy.items()}


def _with_change(accuracy: dict[str, dict[str, dict[str, Any]]],
                 plain: dict[str, dict[str, dict[str, Any]]] | None) -> dict[str, dict[str, dict[str, Any]]]:
    """``multimodal_acc`` cells with ``change`` = theirs − ``plain``'s (None for the plain cells themselves)."""
    for set_name, tasks in accuracy.items():
        for task, cell in tasks.items():
            cell["change"] = None if plain is None else difference(
                cell["multimodal_acc"], plain[set_name][task]["multimodal_acc"])
    return accuracy


class _Transformed:
    """``portraits(row)`` through ``transform``, each transformed portrait made once."""

    def __init__(self, portraits: Any, transform: Any) -> None:
        self.portraits, self.transform = portraits, transform
        self._cache: dict[int, Any] = {}

    def __call__(self, row: int) -> Any:
        if row not in self._cache:
            self._cache[row] = self.transform(self.portraits(row))
        return self._cache[row]


def format_robustness(block: Mapping[str, Any]) -> str:
    """A few lines for the terminal: forget/retain multimodal accuracy per transform, and extraction."""
    lines = []
    paraphrase = block.get("paraphrase") or {}
    if "unavailable" in paraphrase:
        lines.append(f"robustness, paraphrases: unavailable ({paraphrase['unavailable']})")
    elif paraphrase:
        lines.append("robustness, paraphrased questions (score %, change vs the dataset's wording, uni / mm):")
        for set_name, tasks in paraphrase.items():
            shown = "   ".join(
                f"{task} " + " / ".join(f"{_show(c[m]['score'])} ({_signed(c[m]['change'])})"
                                       for m in ("unimodal", "multimodal"))
                for task, c in tasks.items())
            lines.append(f"  {set_name:<7} {shown}")
    lines.append("robustness (multimodal accuracy %, forget / retain; change vs the plain portrait):")
    for name, sets in block["image"].items():
        cells = []
        for task in IMAGE_TASKS:
            forget, retain = (sets[s][task] for s in IMAGE_SETS)
            cells.append(f"{task} {_show(forget['multimodal_acc'])} / {_show(retain['multimodal_acc'])}")
        lines.append(f"  {name:<10}" + "   ".join(cells))
    from umu_hf.data.schema import MODALITIES

    extraction = block["extraction"]
    for modality in MODALITIES:
        cell = extraction.get(modality, {})
        lines.append(f"  forget {modality}: exact memorization {_show(cell.get('exact_memorization'))}, "
                     f"extraction strength {_show(cell.get('extraction_strength'))}")
    for width, cells in block.get("quantization", {}).items():
        if not isinstance(cells, dict) or width in ("library", "scheme"):
            continue
        if "unavailable" in cells:
            lines.append(f"  {width}: unavailable ({cells['unavailable']})")
            continue
        recovery = [cells[s][t]["recovery"]["multimodal"] for s in ("forget",) for t in IMAGE_TASKS]
        lines.append(f"  {width}: forget multimodal recovery " + ", ".join(
            f"{task} {_show(r)}" for task, r in zip(IMAGE_TASKS, recovery, strict=True)))
    return "\n".join(lines)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def _show(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
