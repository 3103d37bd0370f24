"""The ``robustness`` block of ``results.json`` (``umu-hf eval --robustness``), measured on the evaluated model as
an extra block of its evaluation (:class:`umu_hf.evaluation.runner.ExtraBlock`; the model is loaded once).

``image``: per transform (:data:`umu_hf.robustness.transforms.TRANSFORMS`) and for the untransformed portrait
(``none``), per set (forget, retain) and task (classification, cloze), the multimodal accuracy in percent, ``n``
and ``change`` (transformed − untransformed, points). Asked like the evaluation (same prompts, budgets, scoring,
batching); the untransformed numbers are measured again here on the same questions, so each change compares like
with like. ``extraction``: per modality, mean exact memorization and extraction strength (percent) of the forget
set's QA answers, scored in the training layout as membership inference scores them (answer tokens, no EOS).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from umu_hf.evaluation.request import EvalRequest

#: the key of the block in ``results.json``
ROBUSTNESS = "robustness"
#: the sets and tasks the image transforms are measured on
IMAGE_SETS = ("forget", "retain")
IMAGE_TASKS = ("classification", "cloze")
#: what the block does not measure yet, and why
NOT_YET = {
    "paraphrase": "not measured: the dataset has no paraphrased questions yet",
    "quantization": "not measured yet",
}


class RobustnessBlock:
    """:meth:`prepare` keeps the forget and retain questions of ``request``'s evaluation; :meth:`measure` asks the
    multimodal ones again under each portrait transform and scores the forget answers' extraction."""

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
        return {
            "image": self._image(model, adapter, batch_size),
            "extraction": self._extraction(model, adapter, batch_size),
            "unavailable": dict(NOT_YET),
        }

    def _image(self, model: Any, adapter: Any, batch_size: int) -> dict[str, Any]:
        from umu_hf.data.decode import Portraits
        from umu_hf.evaluation.execute import Asker
        from umu_hf.evaluation.items import iter_items
        from umu_hf.evaluation.plan import Job
        from umu_hf.robustness.transforms import TRANSFORMS

        request = self.request
        asker = Asker(model, adapter, request.budgets, batch_size)
        scoring = {"classification": request.classification_scoring, "cloze": "generate"}
        accuracy: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        was_training = getattr(model, "training", False)
        model.eval()
        try:
            for set_name, split in self._splits.items():
                portraits = Portraits(split)
                questions = [q for q in iter_items(split, set_name, IMAGE_TASKS, request.limit)
                             if q.modality == "multimodal"]
                prompts = {q: adapter.prompt(q.task, q.question, q.with_image, q.options) for q in questions}
                for name, transform in {"none": None, **TRANSFORMS}.items():
                    shown = portraits if transform is None else _Transformed(portraits, transform)
                    for task in IMAGE_TASKS:
                        jobs = [Job(q, scoring[task]) for q in questions if q.task == task]
                        correct = [record["correct"] for batch in asker.batches(jobs, prompts)
                                   for record in asker.ask(batch, prompts, shown)]
                        cell = accuracy.setdefault(name, {}).setdefault(set_name, {})
                        cell[task] = {"multimodal_acc": _percent(correct), "n": len(correct)}
        finally:
            model.train(was_training)
        for name, sets in accuracy.items():
            for set_name, tasks in sets.items():
                for task, cell in tasks.items():
                    plain = accuracy["none"][set_name][task]["multimodal_acc"]
                    cell["change"] = None if name == "none" or None in (plain, cell["multimodal_acc"]) else (
                        cell["multimodal_acc"] - plain)
        return accuracy

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
            block[modality] = {"exact_memorization": _percent(em), "extraction_strength": _percent(es),
                               "n": len(stats)}
        return block


class _Transformed:
    """``portraits(row)`` through ``transform``, each transformed portrait made once."""

    def __init__(self, portraits: Any, transform: Any) -> None:
        self.portraits, self.transform = portraits, transform
        self._cache: dict[int, Any] = {}

    def __call__(self, row: int) -> Any:
        if row not in self._cache:
            self._cache[row] = self.transform(self.portraits(row))
        return self._cache[row]


def _percent(values: list[Any]) -> float | None:
    return 100.0 * sum(float(v) for v in values) / len(values) if values else None


def format_robustness(block: Mapping[str, Any]) -> str:
    """A few lines for the terminal: forget/retain multimodal accuracy per transform, and extraction."""
    lines = ["robustness (multimodal accuracy %, forget / retain; change vs the plain portrait):"]
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
    return "\n".join(lines)


def _show(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
