"""The bench pipeline: each stage writes into a folder named by the hash of the settings that produce it, marks
it done last, and is reused by the next run (``force`` redoes everything).

    data/synth-<h>          the synthetic dataset (embedded run)
    models/tiny-<h>         the untrained tiny LLaVA (embedded run)
    models/vanilla-<h>      vanilla fine-tuning on ``full``
    models/retain_model-<h> with ``privacy``: the same fine-tuning without the forget people (``retainXX+real``)
    models/<method>-<h>     each unlearned model (adapter; ``merged/`` is what gets evaluated); with
                            ``sequential`` also each request of each method's sequence (its key chains the key of
                            the model it started from, so a rerun reuses every step and a changed step redoes the
                            steps after it)
    evals/<name>-<h>        results.json + predictions.jsonl of each evaluation (a sequence's: ``<method>-seq<r>``)
    leaderboard.{md,json,png}, leaderboard-sequential.png (with ``sequential``), bench.json
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from umu_hf.bench.manifest import Manifest, ModelEntry, write_manifest
from umu_hf.bench.settings import (
    RUN_FIELDS,
    BenchSettings,
    config_default,
    content_fingerprint,
    settings_hash,
    unlearn_fields,
)
from umu_hf.errors import UmuError
from umu_hf.identity import RecordError, read_record, same_settings
from umu_hf.leaderboard import RETAIN_MODEL

DONE = "umu-stage.json"


class VanillaTooWeakError(UmuError):
    """The vanilla model does not know the profiles well enough for unlearning to mean anything."""


@dataclass
class SeedChain:
    """What one seed's first stages leave for its unlearning runs: the vanilla model, per forget ratio the
    reference (retain model key, its privacy block; None without privacy), and ``{(name, ratio): (model path,
    results.json path)}`` of the evaluations done (vanilla, retain model)."""

    vanilla: str
    vanilla_key: str
    references: dict[int, Any] = field(default_factory=dict)
    evals: dict[tuple[str, int], tuple[str, str]] = field(default_factory=dict)


class Bench:
    """Run (or reuse) every stage of one bench folder."""

    def __init__(self, out: str | Path, settings: BenchSettings, force: bool = False,
                 log: Callable[[str], None] | None = None, workers: str | int = 1, progress: bool = True) -> None:
        self.out = Path(out).resolve()
        self.s = settings
        self.force = force
        self.workers = workers  # processes running the stages (umu_hf.bench.parallel); "auto": one per core
        self.progress = progress  # progress bars (off in worker processes, whose bars would interleave)
        #: unlearning runs that diverged in a worker: (method, ratio or parallel.SEQUENCE, seed) -> why
        self._failed: dict[tuple[str, int | str, int], str] = {}
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._start = time.perf_counter()
        self._data_key = ""  # set by run(): the data's fingerprint, part of every evaluation and unlearning key

    # ---- plumbing -------------------------------------------------------------------------------------------
    @contextmanager
    def stage(self, title: str) -> Iterator[None]:
        """One line before and after each stage, with its elapsed time."""
        self.log(f"[bench] {title} …")
        t0 = time.perf_counter()
        yield
        total = time.perf_counter() - self._start
        self.log(f"[bench] {title}: done in {time.perf_counter() - t0:.1f}s (total {total:.1f}s)")

    def _done(self, folder: Path, expected: Any = None) -> bool:
        """Whether ``folder`` holds a finished stage to reuse: marked done, not forced and, when ``expected`` is
        given, recorded with exactly those settings (anything else is redone, never silently reused)."""
        marker = folder / DONE
        if self.force or not marker.is_file():
            return False
        if expected is None:
            return True
        try:
            recorded = read_record(marker, field=None)
        except RecordError:
            return False
        same = same_settings(recorded, expected)
        if not same:
            self.log(f"[bench] {folder.name}: cached with other settings; redoing it")
        return same

    def _mark_done(self, folder: Path, settings: Any) -> None:
        (folder / DONE).write_text(json.dumps(settings, indent=2, default=str), encoding="utf-8")

    def _placement(self) -> tuple[Any, ...]:
        """What of where a stage runs changes its numbers, for training keys: the device, and the intra-op threads
        when the settings fix them (the embedded profile: :attr:`BenchSettings.threads`)."""
        if self.s.threads is None:
            return (self.s.device,)
        return (self.s.device, {"threads": self.s.threads})

    def _fresh(self, folder: Path) -> None:
        """Remove a half-finished or forced stage folder, keeping resumable checkpoints unless forced."""
        if self.force and folder.exists():
            shutil.rmtree(folder)

    def _relative(self, path: str | Path) -> str:
        """A path inside the bench as relative; a Hub id as ``hub:<id>``; anything else as given."""
        p = Path(path)
        if not p.exists():
            return f"hub:{path}"
        try:
            return str(p.resolve().relative_to(self.out))
        except ValueError:
            return str(path)

    # ---- stages ---------------------------------------------------------------------------------------------
    def data(self) -> tuple[str, str]:
        """(dataset path or id, key)."""
        if self.s.data is not None:
            return self.s.data, settings_hash("data", content_fingerprint(self.s.data))
        from umu_hf.data.synth import default_holdout, generate_dataset

        # the holdout (non-members, in no fine-tuning: `full` leaves it out) is part of the data, so of its key
        spec = {"n_fictitious": self.s.n_fictitious, "n_real": self.s.n_real, "seed": self.s.data_seed,
                "n_holdout": default_holdout(self.s.n_fictitious)}  # fmt: skip
        key = settings_hash("synth", spec)
        folder = self.out / "data" / f"synth-{key}"
        if not self._done(folder):
            with self.stage(f"data: synthetic {spec['n_fictitious']}+{spec['n_real']} profiles → {folder}"):
                generate_dataset(folder, spec["n_fictitious"], spec["n_real"], spec["seed"], overwrite=True,
                                 n_holdout=spec["n_holdout"], progress=True)
                self._mark_done(folder, spec)
        return str(folder), key

    def base_model(self, data: str, data_key: str, seed: int) -> tuple[str, str]:
        """(model to fine-tune, key): the given checkpoint or the embedded tiny LLaVA built on the data (its
        initialisation drawn from ``seed``: a from-scratch model's init is part of the seed's chain)."""
        if self.s.model is not None:
            return self.s.model, settings_hash("model", content_fingerprint(self.s.model))
        from umu_hf.models.tiny import build_tiny_from_dataset

        key = settings_hash("tiny", data_key, self.s.tiny_size, seed)
        folder = self.out / "models" / f"tiny-{key}"
        if not self._done(folder):
            with self.stage(f"model: tiny LLaVA ({self.s.tiny_size}, seed {seed}) → {folder}"):
                build_tiny_from_dataset(data, folder, size=self.s.tiny_size, seed=seed, overwrite=True)
                self._mark_done(folder, {"size": self.s.tiny_size, "seed": seed})
        return str(folder), key

    def _train(self, title: str, folder: Path, config_cls: type, fields: dict[str, Any], lora: Any,
               run: Callable[[Any], Path], record: Any, seed: int) -> Path:
        """Train one stage into ``folder`` (reused when done): ``config_cls`` built directly from ``fields``, the
        seed, :data:`RUN_FIELDS` and the device; ``run(config)`` trains it and returns the model to evaluate."""
        final = folder / "merged" if lora is not None else folder
        if self._done(folder):
            return final
        self._fresh(folder)
        cpu = {"use_cpu": True} if self.s.device == "cpu" else {}
        quiet = {} if self.progress else {"disable_tqdm": True}
        config = config_cls(output_dir=str(folder), **{**fields, "seed": seed, **RUN_FIELDS, **cpu, **quiet})
        with self.stage(f"{title} → {folder}"):
            final = run(config)
            for checkpoint in folder.glob("checkpoint-*"):
                shutil.rmtree(checkpoint)  # the finished model is saved; checkpoints only served resuming
            self._mark_done(folder, record)
        return final

    def vanilla(self, base: str, base_key: str, data: str, data_key: str, seed: int) -> tuple[str, str]:
        """(vanilla model path, key): fine-tuned on every profile, or the given model with ``finetune=False``."""
        if not self.s.finetune:
            return base, base_key
        return self._finetune("vanilla", "full", base, base_key, data, data_key, seed)

    def _finetune(self, name: str, config_name: str, base: str, base_key: str, data: str, data_key: str,
                  seed: int) -> tuple[str, str]:
        """(model path, key) of the bench's fine-tuning of ``base`` on ``config_name`` into ``models/<name>-<key>``:
        vanilla on ``full``, the retain model on every part but the forget set — the same settings and seed."""
        from umu_hf.trainers.finetune import FinetuneConfig
        from umu_hf.trainers.jobs import finetune

        fields, lora_args = self.s.vanilla, self.s.vanilla_lora
        key = settings_hash(name, base_key, data_key, config_name, fields, lora_args, seed, *self._placement())
        folder = self.out / "models" / f"{name}-{key}"
        lora = lora_args.settings()
        record = {"config": fields, "lora": asdict(lora_args)}
        if config_name != "full":
            record["config_name"] = config_name
        path = self._train(
            f"fine-tune {name.replace('_', ' ')} on {config_name} (seed {seed})", folder, FinetuneConfig, fields,
            lora, lambda config: finetune(base, data, config, lora, merge=lora is not None, config_name=config_name),
            record, seed,
        )
        return str(path), key

    def retain_model(self, base: str, base_key: str, data: str, data_key: str, ratio: int,
                     seed: int) -> tuple[str, str]:
        """(retain model path, key): vanilla's fine-tuning on every part of ``full`` but the forget set (the gold
        standard of forget quality and PrivLeak), or the given ``retain_model`` when vanilla was given."""
        if not self.s.finetune:
            if self.s.retain_model is None:
                raise UmuError("bench --privacy with --no-finetune needs --retain-model: a model fine-tuned like the "
                               "vanilla one but without the forget people (umu-hf finetune --config_name "
                               "retain95+real)")
            return self.s.retain_model, settings_hash("model", content_fingerprint(self.s.retain_model))
        from umu_hf.data.schema import retain_model_config

        return self._finetune(RETAIN_MODEL, retain_model_config(ratio), base, base_key, data, data_key, seed)

    def unlearned(self, method: str, vanilla: str, vanilla_key: str, data: str, ratio: int,
                  seed: int) -> tuple[str, str]:
        """(unlearned model path, key) of one method, started from the vanilla model."""
        return self._unlearn(method, vanilla, vanilla_key, data, ratio, seed, self.s.eval_every,
                             f"unlearn {method} (forget {ratio}%, seed {seed})")

    def _unlearn(self, method: str, start: str, start_key: str, data: str, ratio: int, seed: int, eval_every: str,
                 title: str, request: dict[str, int | None] | None = None) -> tuple[str, str]:
        """(unlearned model path, key) of one method started from ``start``; ``request``: a step of a sequence,
        ``{"after": the ratio of the request before, or None for the first}`` (the people ``ratio`` adds to
        ``forget{after}``), part of the key: a sequence's first step has its own folder even where it trains what a
        plain run trains, so two workers never train into one folder."""
        from umu_hf.trainers.jobs import unlearn
        from umu_hf.trainers.registry import get_method

        _, config_cls = get_method(method)
        tuning = self.s.unlearn
        fields = unlearn_fields(tuning, config_cls, self.s.method_extra.get(method), eval_every)
        lora_args = tuning.lora()
        key = settings_hash("unlearn", method, start_key, self._data_key, ratio, fields, lora_args, seed,
                            *self._placement(), *([request] if request is not None else []))
        folder = self.out / "models" / f"{method}-{key}"
        lora = lora_args.settings()
        after = (request or {}).get("after")
        path = self._train(
            title, folder, config_cls, fields, lora,
            lambda config: unlearn(method, start, data, ratio, config, lora, merge=True, after=after),
            {"tuning": asdict(tuning), "fields": fields, "lora": asdict(lora_args),
             **({"request": request} if request is not None else {})}, seed,
        )
        return str(path), key

    def evaluate(self, name: str, model: str, model_key: str, data: str, ratio: int,
                 reference: tuple[str, dict[str, Any]] | None = None) -> tuple[dict[str, Any], Path]:
        """(results, results.json path) of one model's evaluation, reused when already complete and made of the
        same model, data and settings (the folder name hashes them; the stage record is checked too). With
        ``privacy`` the privacy block is computed too, compared with ``reference`` = (retain model key, its privacy
        block) when given."""
        from umu_hf.evaluation.runner import EvalRequest, evaluate_model

        spec = {"ratio": ratio, "limit": self.s.eval_limit, "model": model_key, "data": self._data_key}
        if self.s.eval_max_new_tokens:  # only when set: the keys of runs at the original budgets stay as they were
            spec["max_new_tokens"] = dict(sorted(self.s.eval_max_new_tokens.items()))
        if self.s.privacy:
            from umu_hf.privacy.reference import MEASUREMENT

            spec["privacy"] = {"retain_model": reference[0] if reference else None, **MEASUREMENT}
            if self.s.unimodal_layout is not None:
                spec["privacy"]["unimodal_layout"] = self.s.unimodal_layout
        if self.s.robustness:
            spec["robustness"] = True
        folder = self.out / "evals" / f"{name}-{settings_hash('eval', model_key, spec)}"
        results_file = folder / "results.json"
        if self._done(folder, spec) and results_file.is_file():
            return json.loads(results_file.read_text(encoding="utf-8")), results_file
        with self.stage(f"evaluate {name} → {folder}"):
            request = EvalRequest(model, data, ratio, folder, batch_size=self.s.eval_batch_size,
                                  limit=self.s.eval_limit, device=self.s.device, overwrite=self.force,
                                  max_new_tokens=self.s.eval_max_new_tokens)
            blocks: dict[str, Any] = {}
            if self.s.privacy:
                from umu_hf.privacy.block import PRIVACY, PrivacyBlock, PrivacyOptions

                options = PrivacyOptions(retain_reference=reference[1] if reference else None,
                                         unimodal_layout=self.s.unimodal_layout)
                blocks[PRIVACY] = PrivacyBlock(request, options)
            if self.s.robustness:
                from umu_hf.robustness.block import ROBUSTNESS, RobustnessBlock

                blocks[ROBUSTNESS] = RobustnessBlock(request)
            results = evaluate_model(request, progress=self.progress, extra_blocks=blocks)
            self._mark_done(folder, spec)
        return results, results_file

    @staticmethod
    def _check_holdout(data: str) -> None:
        """Privacy needs non-members: refuse before any training when the data has no holdout config."""
        from umu_hf.data.load import MissingConfigError, load_umu_split

        try:
            load_umu_split(data, "holdout", as_dataset=False)
        except MissingConfigError as exc:
            raise UmuError(f"bench --privacy: {' '.join(str(exc).split())}") from None

    @staticmethod
    def _reference(results: dict[str, Any], file: Path) -> dict[str, Any]:
        """The retain model's privacy block (the reference of every other model), or a clear error."""
        block = results.get("privacy") or {}
        if "unavailable" in block or "truth_ratios" not in block:
            why = block.get("unavailable", "no privacy block")
            raise UmuError(f"bench --privacy: the retain model's evaluation {file} has no privacy numbers ({why}); "
                           "privacy needs data with a holdout config (the synthetic data has one)")
        return block

    def check_vanilla(self, results: dict[str, Any]) -> None:
        """Refuse to unlearn from a model that never learned the profiles; a retain accuracy that could not be
        computed (``null``/NaN: no questions) fails the check too, with its own message."""
        retain = results.get("headline", {}).get("retain", {})
        values = {t: retain.get(t, {}).get("AccR") for t in ("classification", "cloze")}
        missing = [t for t, v in values.items() if not isinstance(v, (int, float)) or math.isnan(v)]
        if missing:
            raise VanillaTooWeakError(
                f"the vanilla model's retain {', '.join(missing)} AccR cannot be computed (no questions were "
                "scored): check that the data's retain set has questions, e.g. without --eval-limit 0"
            )
        weak = {t: v for t, v in values.items() if v < self.s.min_vanilla_retain_acc}
        if weak:
            shown = ", ".join(f"{t} AccR {v:.1f}" for t, v in weak.items())
            raise VanillaTooWeakError(
                f"the vanilla model does not know the profiles (retain {shown} < {self.s.min_vanilla_retain_acc:g}): "
                f"fine-tuning did not take. Give it more epochs (--vanilla-epochs, now {self._vanilla_epochs():g}) "
                "or a higher --vanilla-lr; or lower --min-vanilla-acc if that is intended"
            )

    def _vanilla_epochs(self) -> float:
        """The vanilla fine-tuning's epochs: the bench's, else FinetuneConfig's default."""
        from umu_hf.trainers.finetune import FinetuneConfig

        return float(self.s.vanilla.get("num_train_epochs", config_default(FinetuneConfig, "num_train_epochs")))

    # ---- stage groups: what one worker process runs (umu_hf.bench.parallel) ----------------------------------
    def seed_stages(self, data: str, data_key: str, seed: int) -> SeedChain:
        """One seed's chain up to its vanilla model, every stage cached: the tiny model, vanilla, and per forget
        ratio (with ``privacy``) the retain model and its evaluation, then vanilla's evaluation and check."""
        base, base_key = self.base_model(data, data_key, seed)
        vanilla, vanilla_key = self.vanilla(base, base_key, data, data_key, seed)
        chain = SeedChain(vanilla, vanilla_key)
        for ratio in self.s.forget_ratios:
            tag = _tag(ratio, seed, self.s.forget_ratios, self.s.seeds)
            reference = None
            if self.s.privacy:
                retain, retain_key, results, file = self.retain_stages(base, base_key, data, data_key, ratio, seed)
                reference = (retain_key, self._reference(results, file))
                chain.evals[(RETAIN_MODEL, ratio)] = (retain, str(file))
            results, file = self.evaluate(f"vanilla{tag}", vanilla, vanilla_key, data, ratio, reference)
            self.check_vanilla(results)
            chain.evals[("vanilla", ratio)] = (vanilla, str(file))
            chain.references[ratio] = reference
        return chain

    def retain_stages(self, base: str, base_key: str, data: str, data_key: str, ratio: int,
                      seed: int) -> tuple[str, str, dict[str, Any], Path]:
        """The retain model of one seed and forget ratio and its evaluation, cached: (model path, key, results,
        results.json path). It needs only the base model, so workers train it beside the vanilla model."""
        retain, retain_key = self.retain_model(base, base_key, data, data_key, ratio, seed)
        tag = _tag(ratio, seed, self.s.forget_ratios, self.s.seeds)
        results, file = self.evaluate(f"{RETAIN_MODEL}{tag}", retain, retain_key, data, ratio)
        return retain, retain_key, results, file

    def method_stages(self, method: str, chain: SeedChain, data: str, ratio: int, seed: int) -> tuple[str, str]:
        """One method's unlearning and evaluation, cached: (model path, results.json path); raises
        :class:`TrainingDivergedError` when training diverged (also when it did so in a worker)."""
        from umu_hf.trainers.guard import TrainingDivergedError

        if (method, ratio, seed) in self._failed:
            raise TrainingDivergedError(self._failed[(method, ratio, seed)])
        path, key = self.unlearned(method, chain.vanilla, chain.vanilla_key, data, ratio, seed)
        _, file = self.evaluate(f"{method}{_tag(ratio, seed, self.s.forget_ratios, self.s.seeds)}", path, key, data,
                                ratio, chain.references[ratio])
        return path, str(file)

    def sequence_stages(self, method: str, chain: SeedChain, data: str, seed: int) -> list[str]:
        """One method's sequence of deletion requests (``sequential``) on one seed, every stage cached: per request,
        the method's own training on that request's people only (retain streams of its ratio's retain config) on
        the model the request before left (vanilla for the first), without the accuracy probe, then that model's
        evaluation at the last ratio (whose forget set holds every request's people: one evaluation per step,
        split by request in the leaderboard). Returns the results.json paths, one per request; raises
        :class:`TrainingDivergedError` when a step diverged (also when it did so in a worker)."""
        from umu_hf.bench.parallel import SEQUENCE
        from umu_hf.trainers.guard import TrainingDivergedError

        if (method, SEQUENCE, seed) in self._failed:
            raise TrainingDivergedError(self._failed[(method, SEQUENCE, seed)])
        ratios = self.s.sequential
        last = ratios[-1]
        model, key = chain.vanilla, chain.vanilla_key
        files = []
        for k, (after, ratio) in enumerate(zip((None, *ratios), ratios, strict=False), start=1):
            what = f"forget {ratio}%" + (f" after {after}%" if after else "")
            model, key = self._unlearn(method, model, key, data, ratio, seed, "",
                                       f"unlearn {method}, request {k} of {len(ratios)} ({what}, seed {seed})",
                                       {"after": after})
            name = f"{method}-seq{ratio}{_tag(last, seed, self.s.forget_ratios, self.s.seeds)}"
            _, file = self.evaluate(name, model, key, data, last, chain.references[last])
            files.append(str(file))
        return files

    # ---- the whole run --------------------------------------------------------------------------------------
    def _run_of(self, name: str, ratio: int, seed: int, results: dict[str, Any], file: Path,
                trajectory: dict[str, Any] | None = None) -> Any:
        from umu_hf.evaluation.results import headline_terms, modality_terms
        from umu_hf.evaluation.store import load_records
        from umu_hf.leaderboard import Run

        records = list(load_records(file.parent).values())
        return Run(name, ratio, seed, results, headline_terms(records), modality_terms(records), trajectory)

    def _request_people(self, data: str) -> list[list[int]]:
        """The people of each request of ``sequential``; a request that adds no one is an error naming the flag."""
        from umu_hf.data.load import request_people
        from umu_hf.errors import DataError

        try:
            return request_people(data, self.s.sequential)
        except DataError as exc:
            raise UmuError(f"--sequential {','.join(map(str, self.s.sequential))}: {exc}") from None

    def _sequences(self, chain: SeedChain, data: str, seed: int, runs: list[Any]) -> list[Any]:
        """Every method's sequence of requests on one seed (:meth:`sequence_stages`) as a
        :class:`~umu_hf.leaderboard.sequential.SequenceRun`: the terms of vanilla and of each step, all at the last
        ratio, beside ``runs``' at-once run of the same method and seed; a step that diverged is recorded."""
        from umu_hf.leaderboard.sequential import SequenceRun
        from umu_hf.trainers.guard import TrainingDivergedError

        last = self.s.sequential[-1]
        start = Path(chain.evals[("vanilla", last)][1])
        out = []
        for method in self.s.methods:
            try:
                files = self.sequence_stages(method, chain, data, seed)
            except TrainingDivergedError as exc:
                self.log(f"[bench] sequence {method} (seed {seed}) FAILED: {exc}")
                out.append(SequenceRun(method, seed, failed=str(exc)))
                continue
            once = [r for r in runs if (r.model, r.forget_ratio, r.seed) == (method, last, seed) and not r.failed]
            out.append(SequenceRun(method, seed, [_terms(f) for f in [start, *files]],
                                   once[0].modality if once else None))
        return out

    def run(self) -> str:
        """Every stage in order, for every seed and forget ratio, holding the bench folder's lock (a second run
        into it is refused, "in use by PID …"); returns the leaderboard table (Markdown)."""
        from umu_hf.lock import folder_lock

        self.out.mkdir(parents=True, exist_ok=True)
        with folder_lock(self.out, "umu-hf bench"):
            return self._run()

    def _run(self) -> str:
        from umu_hf.bench.parallel import fixed_threads, plan_workers
        from umu_hf.bench.settings import check_sequential

        plan = plan_workers(self.workers, self.s.device, len(self.s.seeds), self.s.threads)  # before any work
        check_sequential(self.s.sequential, self.s.forget_ratios)  # and a sequence without its at-once runs
        if self.s.eval_max_new_tokens:
            from umu_hf.evaluation.request import task_budgets

            task_budgets(self.s.eval_max_new_tokens)  # refused before training, not at the first evaluation
        from umu_hf.evaluation.batching import check_batch_size

        try:
            check_batch_size(self.s.eval_batch_size)  # likewise
        except UmuError as exc:
            raise UmuError(f"--eval-batch-size: {exc}") from None
        with fixed_threads(plan.threads if plan.workers == 1 and self.s.threads is not None else None):
            return self._run_plan(plan)

    def _run_plan(self, plan: Any) -> str:
        from umu_hf.bench.parallel import describe, run_stages
        from umu_hf.bench.settings import training_record
        from umu_hf.leaderboard import Run, write_leaderboard
        from umu_hf.trainers.guard import TrainingDivergedError
        from umu_hf.trainers.trajectory import read_trajectory

        data, data_key = self.data()
        self._data_key = data_key
        if self.s.privacy:
            self._check_holdout(data)
        people = self._request_people(data) if self.s.sequential else []  # an empty request before any work
        if plan.workers > 1:  # every stage computed side by side; the pass below reads them back
            self._failed = run_stages(self, plan, data, data_key, self.log)
            self.force = False
        ratios, seeds = self.s.forget_ratios, self.s.seeds
        runs, sequences = [], []
        models: dict[str, str] = {}
        manifest = Manifest(forget_ratio=ratios[0], data=self._relative(data))
        for seed in seeds:
            chain = self.seed_stages(data, data_key, seed)
            for ratio in ratios:
                for name in (RETAIN_MODEL, "vanilla"):
                    if (name, ratio) in chain.evals:
                        path, file = chain.evals[(name, ratio)]
                        runs.append(self._run_of(name, ratio, seed, _read(file), Path(file)))
                        models.setdefault(name, path)
                if ratio == ratios[0]:  # vanilla first: the Space's default "before" is the first plain model
                    for name in ("vanilla", RETAIN_MODEL):
                        if (name, ratio) in chain.evals:
                            path, file = chain.evals[(name, ratio)]
                            manifest.models.append(ModelEntry(_display(name, seed, seeds), self._relative(path),
                                                              self._relative(file)))
                    write_manifest(self.out, manifest)
                for method in self.s.methods:
                    try:
                        path, file = self.method_stages(method, chain, data, ratio, seed)
                    except TrainingDivergedError as exc:  # record it, go on with the other methods
                        self.log(f"[bench] unlearn {method} (forget {ratio}%, seed {seed}) FAILED: {exc}")
                        runs.append(Run(method, ratio, seed, {}, failed=str(exc)))
                        continue
                    runs.append(self._run_of(method, ratio, seed, _read(file), Path(file), read_trajectory(path)))
                    models.setdefault(method, path)
                    if ratio == ratios[0]:
                        manifest.models.append(ModelEntry(_display(method, seed, seeds), self._relative(path),
                                                          self._relative(file), method))
                        write_manifest(self.out, manifest)
            if self.s.sequential:
                sequences += self._sequences(chain, data, seed, runs)
        title = f"UMU-Bench — forget {', '.join(f'{r}%' for r in ratios)}, {len(seeds)} seed(s)"
        with self.stage("leaderboard"):
            training = {**training_record(self.s, models), "seeds": list(seeds), "forget_ratios": list(ratios),
                        "execution": describe(plan)}
            section = None
            if self.s.sequential:
                from umu_hf.leaderboard.sequential import sequential_section

                section = sequential_section(sequences, self.s.sequential, people)
            table = write_leaderboard(runs, self.out, title=title, training=training, sequential=section)
        self.log(f"[bench] finished in {time.perf_counter() - self._start:.1f}s; leaderboard: {self.out / 'leaderboard.md'}")
        return table


def _read(file: str | Path) -> dict[str, Any]:
    return json.loads(Path(file).read_text(encoding="utf-8"))


def _terms(file: str | Path) -> dict[tuple[str, str, str], dict[tuple[int, int], float]]:
    """The per-question per-modality scores of the evaluation whose results.json is ``file``."""
    from umu_hf.evaluation.results import modality_terms
    from umu_hf.evaluation.store import load_records

    return modality_terms(load_records(Path(file).parent).values())


def _tag(ratio: int, seed: int, ratios: tuple[int, ...], seeds: tuple[int, ...]) -> str:
    """Folder-name suffix of an evaluation: ``-r15-s1`` (empty parts for a single ratio / seed 0 alone)."""
    return (f"-r{ratio}" if len(ratios) > 1 else "") + (f"-s{seed}" if len(seeds) > 1 else "")


def _display(name: str, seed: int, seeds: tuple[int, ...]) -> str:
    """The name a visitor sees: the method, and the seed when there are several (the first seed plainly)."""
    return name if seed == seeds[0] else f"{name} (seed {seed})"
