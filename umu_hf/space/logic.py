"""What the Space does, without Gradio: read a bench folder, list its models and profiles, ask two models both
questions of a benchmark question pair (unimodal and multimodal; or the visitor's own question) and judge the
replies by the benchmark's rule, read each model's 2x2 alignment table and the leaderboard.

Safety: everything opened is named by ``bench.json`` and resolved inside the bench folder
(:func:`umu_hf.bench.manifest.resolve_inside`); a visitor only picks *names* from lists (model, set, task,
modality) and numbers (profile ID, question index), each checked here. Free text is cut to
:data:`MAX_INPUT_CHARS` characters.

Visitors see model *names*: :meth:`BenchSpace.public` replaces every path of the bench folder (absolute, or
a model's relative path from ``bench.json``) in a text meant for them.

Generation is the evaluation runner's: the model adapter's prompt (:meth:`ModelAdapter.prompt`), greedy
``adapter.generate`` with the model's evaluation budgets (its ``results.json`` settings, else docs/protocol.md's
:data:`umu_hf.prompts.MAX_NEW_TOKENS`), the portrait in RGB for multimodal questions, and
:meth:`umu_hf.evaluation.items.Question.score` for the verdict.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.bench.manifest import MANIFEST, ModelEntry, read_manifest, resolve_inside
from umu_hf.data.decode import Portraits
from umu_hf.data.schema import MODALITIES, SETS, TASK_COLUMNS, TASKS, set_config
from umu_hf.errors import UmuError
from umu_hf.identity import is_hub_id
from umu_hf.prompts import MAX_NEW_TOKENS
from umu_hf.scoring import ALIGNMENT_KEYS
from umu_hf.space.tables import AlignmentTable
from umu_hf.space.text import as_int, check_choice, clip_text, hide_paths, path_aliases
from umu_hf.space.verdicts import Comparison, PairComparison, judge

if TYPE_CHECKING:
    from PIL.Image import Image

    from umu_hf.evaluation.items import Question

#: a free-text question gets the open-answer (generation) budget of new tokens
FREE_TASK = "generation"


#: ``bench.json``'s ``data`` may name a Hub dataset repo with this prefix instead of a folder inside the bench
HUB_PREFIX = "hub:"


class BenchSpace:
    """A bench folder as the Space sees it. Datasets load lazily, once; models load on first use and at most
    ``max_loaded_models`` stay in memory (least recently used go first), so clicking through every pair of a
    big bench cannot load every model.

    ``max_new_tokens`` overrides the new-token budget per task (``classification``, ``cloze``, ``generation``;
    the free-text question uses ``generation``'s); by default each model gets its evaluation's budgets.
    """

    def __init__(
        self,
        bench_dir: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        max_new_tokens: Mapping[str, int] | None = None,
        max_loaded_models: int = 2,
    ) -> None:
        if isinstance(max_loaded_models, bool) or not isinstance(max_loaded_models, int) or max_loaded_models < 1:
            raise UmuError(f"max_loaded_models must be a positive integer, got {max_loaded_models!r}")
        self.max_loaded_models = max_loaded_models
        self.bench_dir = Path(bench_dir)
        self.manifest = read_manifest(self.bench_dir)
        self.device, self.dtype = device, dtype
        self._override = dict(max_new_tokens or {})
        self.data = self._data_source(self.manifest.data)
        self.models: dict[str, ModelEntry] = {}
        #: manifest entries refused because their model lies outside the bench folder, with the reason
        self.skipped: dict[str, str] = {}
        for entry in self.manifest.models:
            try:
                resolve_inside(self.bench_dir, entry.path)
                self.models[entry.name] = entry
            except UmuError as exc:
                self.skipped[entry.name] = str(exc)
        if not self.models:
            raise UmuError(
                f"{self.bench_dir / MANIFEST} lists no model inside the bench folder; rerun `umu-hf bench "
                f"--out {self.bench_dir}`"
            )
        self._aliases = path_aliases(self.bench_dir, self.manifest.models)
        self._lock = threading.Lock()
        self._model_locks: dict[str, threading.Lock] = {}
        self._loaded: OrderedDict[str, tuple[Any, Any, Any]] = OrderedDict()
        self._splits: dict[str, Any] = {}
        self._rows: dict[str, dict[int, int]] = {}
        self._portraits: dict[str, Portraits] = {}

    # -- bench contents --------------------------------------------------------------------------------------
    def _data_source(self, data: str) -> str:
        """The dataset the Space reads: a folder inside the bench, or a Hub repo id behind ``hub:`` — which must
        be an ``owner/name`` id, never a path (``hub:../x`` would escape the bench folder)."""
        if isinstance(data, str) and data.startswith(HUB_PREFIX):
            repo = data[len(HUB_PREFIX) :]
            if not is_hub_id(repo) or Path(repo).exists():
                raise UmuError(
                    f"{MANIFEST}: data {data!r} is not a Hub repo id (owner/name); the Space opens only files "
                    "inside the bench folder or a Hub dataset"
                )
            return repo
        return str(resolve_inside(self.bench_dir, data))

    def public(self, text: str) -> str:
        """``text`` as a visitor may see it: paths of the bench folder and of its models replaced by names
        (:func:`hide_paths`)."""
        return hide_paths(text, self._aliases)

    def not_offered(self) -> str:
        """The one line that names the ``bench.json`` models refused (their files lie outside the folder), or
        ``""``."""
        if not self.skipped:
            return ""
        return "Not offered (their files lie outside the bench folder): " + ", ".join(self.skipped)

    def model_names(self) -> list[str]:
        """The models a visitor can pick, in bench order (vanilla first)."""
        return list(self.models)

    def default_pair(self) -> tuple[str, str]:
        """``(before, after)``: the vanilla model and the first unlearned one (or the same model twice)."""
        names = self.model_names()
        before = next((n for n, e in self.models.items() if e.method is None), names[0])
        after = next((n for n in names if n != before), before)
        return before, after

    def split(self, set_name: str) -> Any:
        """The ``datasets.Dataset`` of an evaluation set (forget/retain at the bench's ratio, or real)."""
        check_choice(set_name, SETS, "set")
        with self._lock:
            if set_name not in self._splits:
                from umu_hf.data.load import load_umu_split

                split = load_umu_split(self.data, set_config(set_name, self.manifest.forget_ratio))
                self._rows[set_name] = {int(i): row for row, i in enumerate(split["ID"])}
                self._portraits[set_name] = Portraits(split)
                self._splits[set_name] = split
            return self._splits[set_name]

    def _row(self, set_name: str, profile_id: Any) -> int:
        self.split(set_name)
        pid = as_int(profile_id, "profile ID")
        if pid not in self._rows[set_name]:
            raise UmuError(f"profile ID {pid} is not in the {set_name} set; pick a profile from the list")
        return self._rows[set_name][pid]

    def profile_choices(self, set_name: str) -> list[tuple[str, int]]:
        """``(label, profile ID)`` of every profile of a set; the label shows the first unimodal question (it
        names the person without giving an answer away), else the start of the biography."""
        split = self.split(set_name)
        view = split.select_columns(["ID", "biography", TASK_COLUMNS["generation"]])
        choices = []
        for row in view:
            items = row[TASK_COLUMNS["generation"]]["unimodal"]
            text = items[0]["question"] if items else row["biography"]
            text = text if len(text) <= 60 else text[:59] + "…"
            choices.append((f"ID {row['ID']} · {text}", int(row["ID"])))
        return choices

    def portrait(self, set_name: str, profile_id: Any) -> Image:
        """The profile's portrait in RGB (what multimodal questions are asked with), decoded once per profile."""
        row = self._row(set_name, profile_id)
        return self._portraits[set_name](row)

    def questions(self, set_name: str, profile_id: Any, task: str, modality: str) -> list[Question]:
        """The benchmark questions of one profile, task and modality, in dataset order."""
        from umu_hf.evaluation.items import iter_items

        check_choice(task, TASKS, "task")
        check_choice(modality, MODALITIES, "modality")
        row = self._row(set_name, profile_id)
        one = self.split(set_name).select([row])
        return [
            dataclasses.replace(q, row=row)
            for q in iter_items(one, set_name, tasks=(task,))
            if q.modality == modality
        ]

    def question_pair(self, set_name: str, profile_id: Any, task: str, index: Any) -> dict[str, Question]:
        """Question pair ``index`` of the profile and task: its unimodal and multimodal question, which share
        the index (the dataset pairs them item by item; :meth:`Question.pair_key`)."""
        by_modality = {m: self.questions(set_name, profile_id, task, m) for m in MODALITIES}
        i = as_int(index, "question index")
        count = len(by_modality["unimodal"])
        if not 0 <= i < count:
            raise UmuError(f"question index {i} out of range: this profile has {count} {task} question pairs")
        pair = {m: questions[i] for m, questions in by_modality.items()}
        if pair["unimodal"].pair_key() != pair["multimodal"].pair_key():
            raise UmuError(f"{task} question {i} of profile ID {profile_id} has no multimodal counterpart")
        return pair

    def question_choices(self, set_name: str, profile_id: Any, task: str) -> list[tuple[str, int]]:
        """``(label, index)`` of the profile's question pairs of a task, labelled by the unimodal question."""
        return [
            (f"{i + 1}. {q.key}: {q.question}", i)
            for i, q in enumerate(self.questions(set_name, profile_id, task, "unimodal"))
        ]

    # -- models ----------------------------------------------------------------------------------------------
    def _model_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._model_locks.setdefault(name, threading.Lock())

    def results(self, name: str) -> dict[str, Any] | None:
        """Model ``name``'s ``results.json`` (inside the bench folder), or None without a readable one."""
        entry = self.models[check_choice(name, self.model_names(), "model")]
        if not entry.results:
            return None
        try:
            results = json.loads(resolve_inside(self.bench_dir, entry.results).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # UmuError (outside the folder) is a ValueError
            return None
        return results if isinstance(results, dict) else None

    def budget(self, name: str, task: str) -> int:
        """New-token budget of ``task`` for model ``name``: the override, its evaluation's, or docs/protocol.md's."""
        if task in self._override:
            return int(self._override[task])
        try:
            return int((self.results(name) or {})["settings"]["max_new_tokens"][task])
        except (KeyError, TypeError, ValueError):
            return MAX_NEW_TOKENS[task]  # no (readable) evaluation settings: the original budget

    def alignment(self, name: str, set_name: str = "forget") -> AlignmentTable:
        """Model ``name``'s 2x2 alignment table per task on ``set_name``, read from its ``results.json``
        (generation has none: it is scored, not marked)."""
        check_choice(set_name, SETS, "set")
        results = self.results(name)
        if results is None:
            return AlignmentTable(name, set_name, note="no results.json, so no alignment table")
        sets = results.get("sets")
        found = sets.get(set_name) if isinstance(sets, dict) else None
        tasks = {}
        for task in TASKS:
            cells = found.get(task) if isinstance(found, dict) else None
            values = [cells.get(k) for k in (*ALIGNMENT_KEYS, "n")] if isinstance(cells, dict) else [None]
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):  # null: n = 0
                tasks[task] = dict(zip((*ALIGNMENT_KEYS, "n"), map(float, values), strict=True))
        if not tasks:
            return AlignmentTable(
                name, set_name, note=f"its results.json has no alignment table of the {set_name} set"
            )
        return AlignmentTable(name, set_name, tasks)

    def model(self, name: str) -> tuple[Any, Any, Any]:
        """``(model, processor, adapter)`` of a bench model, loaded on first use and cached."""
        check_choice(name, self.model_names(), "model")
        with self._model_lock(name):
            if name not in self._loaded:
                from umu_hf.models.loading import load_model

                path = resolve_inside(self.bench_dir, self.models[name].path)
                loaded = load_model(str(path), self.device, self.dtype)
                with self._lock:
                    self._loaded[name] = loaded
                    while len(self._loaded) > self.max_loaded_models:
                        self._loaded.popitem(last=False)  # a caller still holding it keeps its reference
            with self._lock:
                self._loaded.move_to_end(name)
                return self._loaded[name]

    def _generate(self, name: str, build_prompt: Any, image: Image | None, task: str) -> str:
        """One greedy reply of model ``name`` to ``build_prompt(adapter)`` (serialised per model)."""
        model, _processor, adapter = self.model(name)
        with self._model_lock(name):
            images = None if image is None else [image]
            return adapter.generate(model, [build_prompt(adapter)], images, self.budget(name, task))[0]

    def loaded_models(self) -> list[str]:
        """Names of the models loaded so far."""
        return list(self._loaded)

    def compare(
        self, names: Sequence[str], set_name: str, profile_id: Any, task: str, modality: str, index: Any
    ) -> Comparison:
        """Ask each model (once per distinct name) question ``index`` of the profile and judge the replies."""
        check_choice(modality, MODALITIES, "modality")
        question = self.question_pair(set_name, profile_id, task, index)[modality]
        return self._ask_question(names, question, set_name, profile_id)

    def compare_pair(
        self, names: Sequence[str], set_name: str, profile_id: Any, task: str, index: Any
    ) -> PairComparison:
        """Ask each model both questions of pair ``index`` (unimodal, then multimodal with the portrait) and
        judge every reply."""
        pair = self.question_pair(set_name, profile_id, task, index)
        return PairComparison(
            {m: self._ask_question(names, q, set_name, profile_id) for m, q in pair.items()}
        )

    def _ask_question(
        self, names: Sequence[str], question: Question, set_name: str, profile_id: Any
    ) -> Comparison:
        """Each model's (once per distinct name) reply to a benchmark question, judged."""
        image = self.portrait(set_name, profile_id) if question.with_image else None
        replies: dict[str, str] = {}
        for name in dict.fromkeys(names):
            replies[name] = self._generate(
                name,
                lambda a: a.prompt(question.task, question.question, question.with_image, question.options),
                image,
                question.task,
            )
        return Comparison(question, replies, {name: judge(question, r) for name, r in replies.items()})

    def ask(
        self,
        names: Sequence[str],
        text: str | None,
        set_name: str | None = None,
        profile_id: Any = None,
        with_image: bool = False,
    ) -> tuple[dict[str, str], bool]:
        """Ask each model the visitor's own question (cut to :data:`MAX_INPUT_CHARS`), with the profile's
        portrait when ``with_image``; returns ``(replies by name, whether the text was cut)``."""
        question, cut = clip_text(text)
        if not question:
            raise UmuError("type a question first")
        image = None
        if with_image:
            if set_name is None or profile_id is None:
                raise UmuError("asking with the image needs a profile: pick a set and a profile")
            image = self.portrait(set_name, profile_id)
        replies = {
            name: self._generate(name, lambda a: a.free_prompt(question, with_image), image, FREE_TASK)
            for name in dict.fromkeys(names)
        }
        return replies, cut
