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
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from umu_hf.data.card import render_card
from umu_hf.data.schema import (
    ALL_CONFIG_NAMES,
    CONFIG_PARTS,
    DATA_DIR,
    FORGET_RATIOS,
    HOLDOUT_PART,
    check_forget_ratio,
    validate_row,
)
from umu_hf.errors import DataError, UmuError
from umu_hf.outputs import MARKER, check_replaceable, write_marker
from umu_hf.utils import atomic_dir

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
