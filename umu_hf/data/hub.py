"""The Hub layout (docs/protocol.md, Data): a dataset folder of parquet shards plus a dataset card, and pushing it.

Rows are stored once, in disjoint shards (``data/<part>-NNNNN-of-NNNNN.parquet``); each config of the card's
``configs:`` block lists the parts it is made of::

    forget05 = forget05                     retain95 = forget10only + forget15only + retain85
    forget10 = forget05 + forget10only      retain90 = forget15only + retain85
    forget15 = forget05 + forget10only + forget15only
    retain85 = retain85     real = real     full = every part but holdout
    holdout = holdout       (optional: only when the data has non-members, e.g. ``umu-hf data synth``)

Writing is atomic (a hidden temporary folder renamed into place), so an interrupted write never leaves a
folder that loads; the split invariants are checked before anything is written.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from umu_hf.data.schema import (
    ALL_CONFIG_NAMES,
    CONFIG_NAMES,
    FORGET_RATIOS,
    HOLDOUT_CONFIG,
    SPLIT,
    check_forget_ratio,
    validate_row,
)
from umu_hf.errors import DataError, UmuError
from umu_hf.outputs import MARKER, check_replaceable, write_marker
from umu_hf.utils import atomic_dir

#: disjoint row groups, in the order rows appear in ``full``
PARTS: tuple[str, ...] = ("forget05", "forget10only", "forget15only", "retain85", "real")
#: the optional part of non-members (fictitious profiles used in no fine-tuning): never in ``full``
HOLDOUT_PART = "holdout"
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
DATA_DIR = "data"
#: shard size target: a part is split so that no shard holds much more than this many bytes
DEFAULT_MAX_SHARD_BYTES = 256 * 2**20


def check_split_invariants(
    fictitious_ids: Sequence[int],
    forget_ids: Mapping[Any, Sequence[int]],
    name: Callable[[int], str] = lambda ratio: f"forget_ids[{ratio}]",
) -> dict[int, list[int]]:
    """Validate forget sets against the fictitious IDs; return them keyed by int ratio, sorted.

    Every ratio 5/10/15 present, each set non-empty, only fictitious IDs, nested (5 ⊂ 10 ⊂ 15), and a
    non-empty retain set left. The retain sets are the complements, so forget/retain are disjoint and together
    equal the fictitious profiles by construction. ``name`` words a ratio in messages (e.g. a legacy folder).
    """
    fictitious = set(fictitious_ids)
    sets: dict[int, set[int]] = {}
    for key, ids in forget_ids.items():
        ratio = check_forget_ratio(key)
        if ratio in sets:
            raise UmuError(f"forget ratio {ratio} is given twice in the forget sets")
        sets[ratio] = set(ids)
        if len(sets[ratio]) != len(ids):
            raise DataError(f"{name(ratio)} lists an ID twice; each profile is forgotten once")
    for ratio in FORGET_RATIOS:
        if ratio not in sets:
            raise UmuError(
                f"no forget set for ratio {ratio}: the Hub layout needs forget sets for 5, 10 and 15"
            )
        if not sets[ratio]:
            raise DataError(f"{name(ratio)} is empty; every forget ratio needs at least one profile")
        stray = sorted(sets[ratio] - fictitious)
        if stray:
            raise DataError(
                f"{name(ratio)} holds ID {stray[0]} which is not a fictitious profile; forget sets may only "
                "hold fictitious IDs"
            )
    for small, large in zip(FORGET_RATIOS, FORGET_RATIOS[1:], strict=False):
        missing = sorted(sets[small] - sets[large])
        if missing:
            raise DataError(
                f"ID {missing[0]} is in {name(small)} but not in {name(large)}; forget sets must be nested "
                f"(5% ⊂ 10% ⊂ 15%)"
            )
    if sets[FORGET_RATIOS[-1]] >= fictitious:
        raise DataError(
            f"{name(FORGET_RATIOS[-1])} holds every fictitious profile; the retain set would be empty"
        )
    return {ratio: sorted(sets[ratio]) for ratio in FORGET_RATIOS}


def part_ids(
    fictitious_ids: Sequence[int], real_ids: Sequence[int], forget: Mapping[int, Sequence[int]]
) -> dict:
    """The IDs of each part of :data:`PARTS` (sorted) from validated forget sets."""
    f05, f10, f15 = (set(forget[r]) for r in FORGET_RATIOS)
    return {
        "forget05": sorted(f05),
        "forget10only": sorted(f10 - f05),
        "forget15only": sorted(f15 - f10),
        "retain85": sorted(set(fictitious_ids) - f15),
        "real": sorted(real_ids),
    }


def image_value(image: Any) -> dict:
    """A row's image as the ``{"bytes", "path"}`` dict of ``datasets.Image`` (PIL images encoded as PNG)."""
    from umu_hf.data.portraits import encode_png

    if isinstance(image, dict):
        return {"bytes": image.get("bytes"), "path": image.get("path")}
    if isinstance(image, (bytes, bytearray)):
        return {"bytes": bytes(image), "path": None}
    if hasattr(image, "save"):  # PIL.Image.Image
        return {"bytes": encode_png(image), "path": None}
    raise TypeError(f"unsupported image value of type {type(image).__name__}")


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' own progress bars for a moment (we show ours), restoring the previous state."""
    from datasets.utils import logging as ds_logging

    was_enabled = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            ds_logging.enable_progress_bar()


@contextlib.contextmanager
def atomic_folder(out_dir: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out_dir``, on any error it is removed.

    ``out_dir`` must not exist unless ``overwrite``, and then it must be a folder umu-hf wrote (it carries
    :data:`umu_hf.outputs.MARKER`, which the new folder gets too) or an empty one; the old folder is swapped out
    and deleted only after the new one is in place.
    """
    out = Path(out_dir)
    check_replaceable(out, overwrite)
    with atomic_dir(out) as tmp:
        yield tmp
        write_marker(tmp, "umu_hf.data (dataset folder)")
        check_replaceable(out, overwrite)  # nobody put a foreign folder there meanwhile


def _row_bytes(row: dict) -> int:
    """Rough stored size of a row (image bytes plus text), for shard sizing."""
    image = row["image"].get("bytes") or b""
    text = sum(len(str(row[c])) for c in ("biography", "MM_QA", "UM_QA", "Classify", "Cloze", "Generation"))
    return len(image) + text


def _write_part(rows: list[dict], part: str, data_dir: Path, max_shard_bytes: int) -> int:
    """Write one part as ``ceil(size / max_shard_bytes)`` parquet shards; return its Arrow size in bytes."""
    from datasets import Dataset

    from umu_hf.data.schema import features

    total = sum(_row_bytes(row) for row in rows)
    n_shards = max(1, min(len(rows), math.ceil(total / max_shard_bytes)))
    bounds = [round(i * len(rows) / n_shards) for i in range(n_shards + 1)]
    nbytes = 0
    schema = features()
    for shard in range(n_shards):
        chunk = rows[bounds[shard] : bounds[shard + 1]]
        if chunk:
            dataset = Dataset.from_list(chunk, features=schema)
        else:  # an empty part (tiny datasets) still gets a typed shard, so every config's files exist
            dataset = Dataset.from_dict({name: [] for name in schema}, features=schema)
        dataset.to_parquet(str(data_dir / f"{part}-{shard:05d}-of-{n_shards:05d}.parquet"))
        nbytes += dataset.data.nbytes
    return nbytes


def write_hub_dataset(
    rows: Sequence[dict],
    out_dir: str | Path,
    forget_ids: Mapping[Any, Sequence[int]],
    *,
    holdout_ids: Sequence[int] = (),
    pretty_name: str = "UMU-Bench",
    description: str = "",
    synthetic: bool = False,
    license: str | None = None,
    overwrite: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    progress: bool = False,
) -> Path:
    """Validate ``rows`` and the forget sets (ratio -> IDs); write the Hub layout to ``out_dir`` atomically.

    Rows follow :mod:`umu_hf.data.schema`; ``image`` may be a PIL image, encoded bytes or
    ``{"bytes", "path"}``. ``holdout_ids``: fictitious profiles kept out of every other config (``full``
    included), written as the optional ``holdout`` config (the non-members of membership inference); none: no
    ``holdout`` config.
    Returns ``out_dir``. Raises :class:`~umu_hf.errors.DataError` for a bad row or broken split invariants.
    """
    from tqdm.auto import tqdm

    prepared: list[dict] = []
    seen: set[int] = set()
    for index, row in enumerate(rows):
        validate_row(row, f"row {index} (ID {row.get('ID')!r})")
        if row["ID"] in seen:
            raise DataError(f"row {index}: ID {row['ID']} appears twice; IDs must be unique")
        seen.add(row["ID"])
        prepared.append({**row, "image": image_value(row["image"])})
    holdout = _check_holdout(prepared, holdout_ids)
    fictitious = [row["ID"] for row in prepared if row["source"] == "fictitious" and row["ID"] not in holdout]
    real = [row["ID"] for row in prepared if row["source"] == "real"]
    forget = check_split_invariants(fictitious, forget_ids)
    if not real:
        raise DataError(
            "no row has source 'real'; the `real` config needs at least one profile (an empty split "
            "cannot be loaded)"
        )
    by_id = {row["ID"]: row for row in prepared}
    parts = {part: [by_id[i] for i in ids] for part, ids in part_ids(fictitious, real, forget).items()}
    if holdout:
        parts[HOLDOUT_PART] = [by_id[i] for i in sorted(holdout)]
    configs = [c for c in ALL_CONFIG_NAMES if all(part in parts for part in CONFIG_PARTS[c])]

    with atomic_folder(out_dir, overwrite) as tmp, quiet_datasets():
        data_dir = tmp / DATA_DIR
        data_dir.mkdir()
        nbytes = {
            part: _write_part(parts[part], part, data_dir, max_shard_bytes)
            for part in tqdm(list(parts), desc="writing parquet", unit="part", disable=not progress or None)
        }
        sizes = {
            config: (
                sum(len(parts[p]) for p in CONFIG_PARTS[config]),
                sum(nbytes[p] for p in CONFIG_PARTS[config]),
            )
            for config in configs
        }
        card = render_card(sizes, pretty_name=pretty_name, description=description, synthetic=synthetic,
                           license=license)  # fmt: skip
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return Path(out_dir)


def _check_holdout(rows: Sequence[dict], holdout_ids: Sequence[int]) -> set[int]:
    """The holdout IDs as a set: each a fictitious row's ID, none twice."""
    holdout = set(holdout_ids)
    if len(holdout) != len(holdout_ids):
        raise DataError("holdout_ids lists an ID twice; each non-member profile is held out once")
    source = {row["ID"]: row["source"] for row in rows}
    for i in sorted(holdout):
        if source.get(i) != "fictitious":
            raise DataError(
                f"holdout ID {i} is {'not a row' if i not in source else 'a real-set profile'}; the holdout may "
                "only hold fictitious profiles"
            )
    return holdout


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
| `Classify` | {{unimodal, multimodal}}: list of {{key, question, options {{A,B,C,D}}, answer}} | multiple choice; `answer` is the correct letter, the correct text is `options[answer]` |
| `Cloze` | {{unimodal, multimodal}}: list of {{key, question, answer}} | fill in the blank |
| `Generation` | {{unimodal, multimodal}}: list of {{key, question, answer}} | open answer, one sentence |

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


def is_hub_folder(path: str | Path) -> bool:
    """Whether ``path`` looks like a Hub-layout dataset folder (a README.md whose YAML declares configs)."""
    readme = Path(path) / "README.md"
    if not readme.is_file():
        return False
    text = readme.read_text(encoding="utf-8", errors="replace")
    return text.startswith("---") and "\nconfigs:" in text.split("\n---", 2)[0] + "\n"


def push_hub_dataset(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    revision: str | None = None,
) -> str:
    """Upload a Hub-layout folder to the dataset repo ``repo_id`` (created if needed); return the repo URL."""
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    path = Path(folder)
    if not path.is_dir():
        raise UmuError(
            f"{path} is not a folder; pass the output folder of `umu-hf data convert` or `data synth`"
        )
    if not is_hub_folder(path):
        raise DataError(
            f"{path / 'README.md'} is missing or has no `configs:` block; push only a folder written by "
            "`umu-hf data convert` or `umu-hf data synth`"
        )
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UmuError(f"--repo-id {repo_id!r}: expected ORG/NAME")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(
            folder_path=str(path),
            repo_id=repo_id,
            repo_type="dataset",
            revision=revision,
            commit_message="Upload UMU-Bench dataset (umu-hf)",
            ignore_patterns=[MARKER],
        )
    except (HfHubHTTPError, HFValidationError, httpx.HTTPError, OSError) as exc:
        raise UmuError(f"pushing {path} to {repo_id} failed: {exc}; check the repo id, your token "
                       "(huggingface-cli login or HF_TOKEN) and the network") from exc  # fmt: skip
    return str(url)
