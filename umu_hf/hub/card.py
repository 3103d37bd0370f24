"""The model card of an exported bench model: ``model-index`` results built with huggingface_hub's
``ModelCardData``/``EvalResult`` (every headline and per-modality number of its results.json, with name and type),
and a body saying how the model was made, its numbers and what they do not mean."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from umu_hf.data.schema import MODALITIES, SETS, SPLIT, TASKS, forget_config
from umu_hf.leaderboard.columns import RETAIN_MODEL
from umu_hf.scoring import LOWER_IS_BETTER

BENCHMARK_URL = "https://github.com/QDRhhhh/UMU-bench"
PAPER_URL = "https://openreview.net/forum?id=M476xkfNXe"
UMU_HF_URL = "https://pypi.org/project/umu-hf/"
#: the model-index task every result is filed under
TASK_TYPE = "visual-question-answering"
TASK_NAME = "Multimodal unlearning (UMU-Bench)"
#: how a dataset that is not on the Hub is named on the card: ``local:<its folder name>``
LOCAL_PREFIX = "local:"
_TASK_LABEL = {"classification": "Cls", "cloze": "Cloze", "generation": "Gen"}
_MODALITY_KEYS = {"classification": "acc", "cloze": "acc", "generation": "rougeL"}
_MODALITY_LABEL = {"acc": "acc", "rougeL": "ROUGE-L"}
_PROTOCOLS = {
    "original": "as first published: the original UMU-Bench scripts for GA/GD/KL/PO/NPO, each paper for the "
                "other methods (full-sequence labels, no EOS, independent streams for the original five)",
    "umu-hf": "umu-hf's variants (answer-only labels, EOS, paired multimodal/unimodal streams, per-sequence NPO, "
              "true KL)",
    "custom": "a mix of features that is neither protocol (see `features` in umu_training.json)",
}


@dataclass(frozen=True)
class CardMetric:
    """One number of the card: a headline metric (``AccF``/``AccR``/``RLF``/``RLR``) or a per-modality one
    (``unimodal_acc``, ``multimodal_rougeL``, …) of one set and task, as results.json has it (percent)."""

    set: str
    task: str
    key: str
    value: float | None

    @property
    def headline(self) -> bool:
        return not self.key.startswith(MODALITIES)

    @property
    def lower_is_better(self) -> bool:
        """Forgetting is better lower everywhere on the forget set; keeping is better higher elsewhere."""
        return self.key in LOWER_IS_BETTER if self.headline else self.set == "forget"

    @property
    def metric_type(self) -> str:
        """The model-index ``type``: unique on the card, e.g. ``forget_classification_AccF``."""
        return f"{self.set}_{self.task}_{self.key}"

    @property
    def label(self) -> str:
        """The model-index ``name``, as the leaderboard heads its columns: ``forget Cls AccF ↓``."""
        if self.headline:
            what = self.key
        else:
            modality, _, kind = self.key.partition("_")
            what = f"{'uni' if modality == 'unimodal' else 'mm'} {_MODALITY_LABEL[kind]}"
        return f"{self.set} {_TASK_LABEL[self.task]} {what} {'↓' if self.lower_is_better else '↑'}"


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(
        value) else None


def card_metrics(results: Mapping[str, Any]) -> list[CardMetric]:
    """Every headline metric (``results["headline"]``), then every per-modality one (``results["sets"]``), in
    set and task order; a number that could not be computed (null, NaN) has ``value`` None."""
    headline, sets = results.get("headline", {}), results.get("sets", {})
    found = [CardMetric(s, t, key, _number(value))
             for s in SETS if s in headline for t in TASKS for key, value in headline[s].get(t, {}).items()]
    for s in (s for s in SETS if s in sets):
        for t in TASKS:
            for modality in MODALITIES:
                key = f"{modality}_{_MODALITY_KEYS[t]}"
                found.append(CardMetric(s, t, key, _number(sets[s].get(t, {}).get(key))))
    return found


@dataclass
class CardFacts:
    """What the card says about the model, gathered from the bench (see :mod:`umu_hf.hub.export`)."""

    name: str  # the bench's model name, e.g. ``npo (seed 1)``
    method: str | None  # None: the vanilla (or retain) model, fine-tuned, not unlearned
    forget_ratio: int
    dataset_id: str  # Hub id of the dataset, or a local name
    dataset_on_hub: bool
    synthetic: bool  # the bench's own synthetic data
    tiny: bool  # the embedded tiny LLaVA (from scratch), not a real checkpoint
    base_model: str | None  # Hub id of the checkpoint the lineage starts from, when it is one
    lineage: list[str]  # how the model was made, one line per step, oldest first
    record: Mapping[str, Any] | None  # its umu_training.json
    seeds: list[int]  # the bench's seeds
    across_seeds: Mapping[str, Mapping[str, Any]]  # leaderboard cells of its row: "set/task" -> {mean, sd, n}


def eval_results(facts: CardFacts, metrics: list[CardMetric]) -> list[Any]:
    """The ``EvalResult`` of every metric that has a value, filed under the UMU-Bench dataset and its forget
    config."""
    from huggingface_hub import EvalResult

    dataset = {"dataset_type": facts.dataset_id, "dataset_config": forget_config(facts.forget_ratio),
               "dataset_split": SPLIT,
               "dataset_name": f"UMU-Bench forget {facts.forget_ratio}%"
                               + ("" if facts.dataset_on_hub else f" ({_local(facts)}, not on the Hub)")}
    return [EvalResult(task_type=TASK_TYPE, task_name=TASK_NAME, metric_type=m.metric_type, metric_name=m.label,
                       metric_value=round(m.value, 4), **dataset)
            for m in metrics if m.value is not None]


def _local(facts: CardFacts) -> str:
    """The words for local data: ``local data synth-1a2b3c4d``."""
    return f"local data {facts.dataset_id.removeprefix(LOCAL_PREFIX)}"


def card_data(facts: CardFacts, metrics: list[CardMetric], model_name: str, license: str | None = None) -> Any:
    """The card's YAML front matter as ``ModelCardData`` (``license``: a Hub license id, e.g. ``apache-2.0``)."""
    from huggingface_hub import ModelCardData

    tags = ["umu-bench", "machine-unlearning", "multimodal", "umu-hf"] + ([facts.method] if facts.method else [])
    return ModelCardData(
        model_name=model_name, eval_results=eval_results(facts, metrics), library_name="transformers",
        pipeline_tag="image-text-to-text", tags=tags, base_model=facts.base_model,
        datasets=[facts.dataset_id] if facts.dataset_on_hub else None, license=license,
    )


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _tables(facts: CardFacts, metrics: list[CardMetric], results: Mapping[str, Any]) -> str:
    """The headline table (with the bench's mean ± sd over seeds when it has several) and the per-modality one."""
    several = len(facts.seeds) > 1
    head = "| set | task | metric | value | questions |" + (f" bench mean ± sd ({len(facts.seeds)} seeds) |"
                                                            if several else "")
    lines = [head, "|---|---|---|---:|---:|" + ("---:|" if several else "")]
    for m in (m for m in metrics if m.headline):
        n = results.get("sets", {}).get(m.set, {}).get(m.task, {}).get("n", "–")
        row = f"| {m.set} | {m.task} | {m.key} {'↓' if m.lower_is_better else '↑'} | {_cell(m.value)} | {n} |"
        if several:
            cell = facts.across_seeds.get(f"{m.set}/{m.task}") or {}
            mean, sd = _number(cell.get("mean")), _number(cell.get("sd"))
            row += f" {_cell(mean)} ± {_cell(sd)} |" if mean is not None else " – |"
        lines.append(row)
    lines += ["", "Per modality (unimodal: the question names the person; multimodal: asked with the portrait; "
              "accuracy or ROUGE-L F1 in %):", "",
              "| set | task | unimodal | multimodal |", "|---|---|---:|---:|"]
    by_key = {(m.set, m.task, m.key.partition("_")[0]): m for m in metrics if not m.headline}
    for s in SETS:
        for t in TASKS:
            if (s, t, "unimodal") in by_key:
                uni, multi = by_key[(s, t, "unimodal")], by_key[(s, t, "multimodal")]
                arrow = "↓" if uni.lower_is_better else "↑"
                lines.append(f"| {s} | {t} ({_MODALITY_LABEL[_MODALITY_KEYS[t]]} {arrow}) | {_cell(uni.value)} "
                             f"| {_cell(multi.value)} |")
    return "\n".join(lines)


_SETTING_KEYS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "optimizer",
                 "lr_scheduler_type", "weight_decay", "max_grad_norm", "alpha", "gamma", "beta",
                 "modality_weighting", "lora_l1", "model_dtype", "seed")


def _settings(record: Mapping[str, Any] | None) -> str:
    """The training record's settings as a bullet list (LoRA and features included)."""
    if not record:
        return "- no training record (umu_training.json) in the bench: the model was given, not trained by umu-hf"
    lines = [f"- `{k}`: {record[k]}" for k in _SETTING_KEYS if k in record and not (k == "max_steps" and
                                                                                 record[k] == -1)]
    features = record.get("features") or {}
    if features:
        lines.append("- features: " + ", ".join(f"`{k}={v}`" for k, v in features.items()))
    lora = record.get("lora")
    if lora:
        lines.append(f"- LoRA r {lora.get('r')}, alpha {lora.get('alpha')}, dropout {lora.get('dropout')}, "
                     f"init {lora.get('init')}, on {', '.join(lora.get('target_modules') or [])} (merged into the "
                     "weights here)")
    elif "lora" in record:
        lines.append("- full fine-tuning (no LoRA)")
    return "\n".join(lines)


def _caveats(facts: CardFacts, results: Mapping[str, Any]) -> str:
    items = []
    if facts.tiny or facts.synthetic:
        items.append("**Not paper numbers.** " + " and ".join(
            x for x in ("This is the embedded tiny LLaVA (a toy-sized model trained from scratch, no language "
                        "pretraining)" if facts.tiny else "",
                        "the data is umu-hf's synthetic stand-in (invented people, drawn portraits)"
                        if facts.synthetic else "") if x)
                     + ": the numbers show the pipeline and the method's behaviour on a toy, not what the method does "
                     "to a real vision-language model on the real UMU-Bench data.")
    limit = results.get("settings", {}).get("limit")
    if limit is not None:
        items.append(f"**Partial evaluation.** Only the first {limit} question pair(s) per set and task were "
                     "scored (`--eval-limit`); every number above rests on those.")
    seed = (facts.record or {}).get("seed")
    items.append(f"**One seed.** These are the numbers of one training run (seed {seed if seed is not None else '?'}"
                 f"; the bench ran {len(facts.seeds)} seed(s)). Unlearning is sensitive to the seed: on the embedded "
                 "model single seeds differ by tens of points, so compare methods by the bench's mean ± sd and "
                 "intervals (its leaderboard), not by one model.")
    items.append(f"**The benchmark.** UMU-Bench ([paper]({PAPER_URL}), [original code]({BENCHMARK_URL})); these "
                 f"numbers were computed by [umu-hf]({UMU_HF_URL}) with the benchmark's prompts, reply rules and "
                 "metrics.")
    return "\n".join(f"- {item}" for item in items)


def render_body(facts: CardFacts, metrics: list[CardMetric], results: Mapping[str, Any], title: str) -> str:
    """The card's Markdown body: what the model is, how it was made, its numbers and the caveats."""
    record = facts.record or {}
    protocol = record.get("protocol")
    what = (f"the `{facts.method}` unlearning method applied to the vanilla model" if facts.method
            else "the vanilla model (fine-tuned on every profile; the starting point every method unlearns from)"
            if facts.name.startswith("vanilla")
            else "the retain model (fine-tuned without the forget people: the reference of forget quality and "
                 "PrivLeak)" if facts.name.startswith(RETAIN_MODEL) else f"the bench's `{facts.name}` model")
    dataset = (f"[{facts.dataset_id}](https://huggingface.co/datasets/{facts.dataset_id})" if facts.dataset_on_hub
               else f"{_local(facts)} (not on the Hub)")
    data = facts.dataset_id if facts.dataset_on_hub else "<dataset>"
    parts = [
        f"# {title}", "",
        f"A vision-language model from a UMU-Bench run of [umu-hf]({UMU_HF_URL}): {what}, evaluated on "
        f"UMU-Bench forget {facts.forget_ratio}% (config `{forget_config(facts.forget_ratio)}` of {dataset}).", "",
        "## How it was made", "",
        f"- method: {facts.method or 'none (fine-tuning only)'}",
        f"- protocol: {protocol or 'not recorded'}" + (f" — {_PROTOCOLS[protocol]}" if protocol in _PROTOCOLS else ""),
        f"- base model: {facts.base_model or 'not a Hub checkpoint (see the lineage below)'}",
        "- lineage: " + " → ".join(facts.lineage), "",
        "Settings (from `umu_training.json`, shipped with the weights):", "", _settings(facts.record), "",
        "## Results", "",
        f"Percent, on the sets of UMU-Bench forget {facts.forget_ratio}% (`forget` ↓: forgotten is better; `retain` "
        "and `real` ↑: kept is better). AccF: right in at least one modality; AccR: right in both; RLF/RLR: "
        "contraharmonic/harmonic mean of the two modalities' ROUGE-L. The same numbers are in the `model-index` "
        "above and in `results.json`.", "",
        _tables(facts, metrics, results), "",
        "## Caveats", "", _caveats(facts, results), "",
        "## Use", "",
        "```python\nfrom transformers import AutoModelForImageTextToText, AutoProcessor\n\n"
        "model = AutoModelForImageTextToText.from_pretrained(\"<this repo>\")\n"
        "processor = AutoProcessor.from_pretrained(\"<this repo>\")\n```", "",
        f"or evaluate it again with `umu-hf eval --model <this repo> --data {data} "
        f"--forget-ratio {facts.forget_ratio} --out OUT`.", "",
    ]
    return "\n".join(parts)


def render_model_card(facts: CardFacts, results: Mapping[str, Any], model_name: str,
                      license: str | None = None) -> str:
    """The whole README.md: ``model-index`` front matter and body, through huggingface_hub's ``ModelCard``."""
    from huggingface_hub import ModelCard

    metrics = card_metrics(results)
    data = card_data(facts, metrics, model_name, license)
    body = render_body(facts, metrics, results, title=f"{model_name} — UMU-Bench")
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))
