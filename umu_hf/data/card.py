"""The dataset card of a Hub-layout UMU-Bench folder: its YAML front matter (configs, features, sizes) and a body
that says what each config holds, how to load it and what the benchmark measures."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from umu_hf.data.schema import (
    ALL_CONFIG_NAMES,
    CONFIG_NAMES,
    CONFIG_PARTS,
    DATA_DIR,
    HOLDOUT_CONFIG,
    SPLIT,
)


def _present(sizes: Mapping[str, Any]) -> list[str]:
    """The configs of ``sizes`` in card order: the required ones, then the optional ones that are there."""
    return [c for c in ALL_CONFIG_NAMES if c in sizes or c in CONFIG_NAMES]


def card_metadata(sizes: Mapping[str, tuple[int, int]], pretty_name: str, license: str | None) -> dict:
    """The card's YAML header: configs (with their data files), typed features and split sizes per config.

    ``sizes`` maps each config to (rows, Arrow bytes); an optional config (``holdout``) is declared only when
    ``sizes`` has it.
    """
    from umu_hf.data.schema import features

    feature_yaml = features()._to_yaml_list()
    meta: dict[str, Any] = {"pretty_name": pretty_name}
    if license:
        meta["license"] = license
    meta.update(
        {
            "language": ["en"],
            "task_categories": ["visual-question-answering", "question-answering"],
            "tags": ["unlearning", "machine-unlearning", "multimodal", "umu-bench"],
            "configs": [
                {
                    "config_name": config,
                    **({"default": True} if config == "full" else {}),
                    "data_files": [
                        {
                            "split": SPLIT,
                            "path": [f"{DATA_DIR}/{part}-*.parquet" for part in CONFIG_PARTS[config]],
                        }
                    ],
                }
                for config in _present(sizes)
            ],
            "dataset_info": [
                {
                    "config_name": config,
                    "features": feature_yaml,
                    "splits": [
                        {"name": SPLIT, "num_bytes": sizes[config][1], "num_examples": sizes[config][0]}
                    ],
                }
                for config in _present(sizes)
            ],
        }
    )
    return meta


_SYNTHETIC_NOTE = """\
> **Synthetic stand-in.** Every person, fact and portrait here is invented by `umu-hf data synth`; nothing
> describes a real person (the `real` config is a second group of invented people playing the role of
> UMU-Bench's real people). The training pairs (`MM_QA`, `UM_QA`) include, for every evaluated fact, the
> evaluation prompts (LLaVA-1.5's, quoted through the training template as explained below) with the
> expected answer, so that a model with no language pretraining can learn them; the real UMU-Bench training data
> does not.
"""


_CARD_BODY = """\
UMU-Bench measures **multimodal unlearning**: after a method removes some people's profiles from a
vision-language model, is the knowledge gone both when asked in text (*unimodal*: the question names the
person) and when asked with the person's portrait (*multimodal*: "the person in the image")?

## Configs

Each config has one split, `train`. Forget sets are nested (forget05 ⊂ forget10 ⊂ forget15); forgetXX and
retain(100−XX) are disjoint and together are the fictitious profiles. `real` is used for fine-tuning and as a
utility set, in no forget/retain split.{holdout_note} Rows are stored once, in disjoint shards under `data/`.

| config | rows | used as |
| --- | ---: | --- |
{config_rows}

## Fields (one row per person)

| field | type | content |
| --- | --- | --- |
| `ID` | int64 | profile id, unique over the dataset |
| `source` | string | `fictitious` or `real` |
| `image` | Image | the person's portrait |
| `biography` | string | free-text profile (`""` when absent) |
| `MM_QA` | list of {{question, answer}} | training pairs asked with the image |
| `UM_QA` | list of {{question, answer}} | training pairs asked in text only |
| `Classify` | {{unimodal, multimodal}}: list of {{key, question, options {{A,B,C,D}}, answer, paraphrases}} | multiple choice; `answer` is the correct letter, the correct text is `options[answer]` |
| `Cloze` | {{unimodal, multimodal}}: list of {{key, question, answer, paraphrases}} | fill in the blank |
| `Generation` | {{unimodal, multimodal}}: list of {{key, question, answer, paraphrases}} | open answer, one sentence |

Each item's `paraphrases` are other wordings of its question with the same answer (for cloze, other sentences
with the same blank), asked by `umu-hf eval --robustness`; null in data converted from the original release,
which has none.

Item *k* of `unimodal` and of `multimodal` share `key` and probe the same fact.

## Metrics

Evaluate every set × task × modality with greedy decoding (prompts as in UMU-Bench). For classification and
cloze, question *k* gives (u, m) ∈ {{0,1}}²; for generation, ROUGE-L F1 (b, a) ∈ [0, 1].

| metric | set | definition | better |
| --- | --- | --- | --- |
| AccF | forget | 100 · mean(1 − (1−u)(1−m)): still right in at least one modality | lower |
| RLF | forget | 100 · mean((a² + b²)/(a + b)), contraharmonic mean of ROUGE-L | lower |
| AccR | retain, real | 100 · mean(u·m): right in both modalities | higher |
| RLR | retain, real | 100 · mean(2ab/(a + b)), harmonic mean of ROUGE-L | higher |

## Usage

```python
from datasets import load_dataset

forget = load_dataset("<this repo or folder>", "forget05", split="train")
retain = load_dataset("<this repo or folder>", "retain95", split="train")
```

or, with [umu-hf](https://pypi.org/project/umu-hf/): `umu_hf.data.load.load_umu_split(source, "forget05")`.
"""


_CONFIG_USE = {
    "forget05": "forget set, 5 %",
    "forget10": "forget set, 10 %",
    "forget15": "forget set, 15 %",
    "retain95": "retain set for forget05",
    "retain90": "retain set for forget10",
    "retain85": "retain set for forget15",
    "real": "real-people set (utility)",
    "full": "everything: the fine-tuning data",
    "holdout": "non-members: fictitious profiles in no fine-tuning (membership inference)",
}


_HOLDOUT_NOTE = (
    " `holdout` holds fictitious profiles that are in no other config, `full` included: a model fine-tuned on "
    "`full` never saw them, so they are the non-members against which membership-inference attacks "
    "(`umu-hf eval --privacy`) compare the forget set. Converted published data has no `holdout`.\n\n"
    "Privacy metrics (umu-hf, per modality; not in the original benchmark): **MIA AUC** of an attack's score (LOSS, "
    "zlib, Min-K%, Min-K%++ on the answer tokens of the QA pairs) on the forget pairs against the `holdout` pairs "
    "(after unlearning: the retain model's, about 0.5, is best); **forget quality**, the KS-test p-value between the "
    "model's and a retain model's truth ratios on the forget set's classification items (higher is better); "
    "**PrivLeak**, MUSE's: (AUC − AUC_retain) / AUC_retain × 100 on MUSE's AUC, which scores members low "
    "(1 − the MIA AUC above), so (AUC_retain − AUC) / (1 − AUC_retain) × 100 on ours (closer to 0 is better; "
    "negative: still recognised, about −100 when memorised; positive: over-unlearned). The "
    "retain model is the fine-tuning without the forget people: `retain85` + `real` for `forget15`. Caveats: "
    "members and non-members are different people, so an AUC mixes memorisation with how typical each profile is; "
    "the holdout is small, so AUCs move in coarse steps.\n\n"
)


def render_card(
    sizes: Mapping[str, tuple[int, int]],
    *,
    pretty_name: str = "UMU-Bench",
    description: str = "",
    synthetic: bool = False,
    license: str | None = None,
) -> str:
    """The dataset card (``README.md``): YAML header, description, configs, fields, metrics and usage.

    ``sizes`` maps each config to (rows, Arrow bytes).
    """
    import yaml

    header = yaml.safe_dump(card_metadata(sizes, pretty_name, license), sort_keys=False, allow_unicode=True)
    out = io.StringIO()
    out.write(f"---\n{header}---\n\n# {pretty_name}\n\n")
    if synthetic:
        out.write(_SYNTHETIC_NOTE + "\n")
    if description:
        out.write(description.strip() + "\n\n")
    uses = dict(_CONFIG_USE)
    note = ""
    if HOLDOUT_CONFIG in sizes:
        uses["full"], note = "everything but `holdout`: the fine-tuning data", _HOLDOUT_NOTE
    config_rows = "\n".join(f"| `{c}` | {sizes[c][0]} | {uses[c]} |" for c in _present(sizes))
    out.write(_CARD_BODY.format(config_rows=config_rows, holdout_note=note))
    return out.getvalue()
