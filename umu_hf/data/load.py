"""Load one UMU-Bench split from wherever it lives: a Hub repo id, a Hub-layout folder or a legacy folder.

Legacy input (docs/protocol.md, Data) is converted on the fly into a cache folder keyed by the input files' paths, sizes and
modification times, so the conversion runs once. The cache lives in ``$UMU_HF_CACHE`` or, by default,
``$HF_HOME/umu_hf`` (``~/.cache/huggingface/umu_hf``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from umu_hf.data.schema import OPTIONAL_CONFIG_NAMES, SPLIT, check_config
from umu_hf.errors import DataError
from umu_hf.identity import is_hub_id
from umu_hf.utils import one_line

if TYPE_CHECKING:
    from datasets import Dataset

    from umu_hf.data.table import ArrowSplit

#: bump when the converter's output changes, so cached conversions are redone
CONVERTER_VERSION = "1"


def umu_cache_dir() -> Path:
    """Where converted legacy datasets are cached: ``$UMU_HF_CACHE`` or ``$HF_HOME/umu_hf``."""
    if os.environ.get("UMU_HF_CACHE"):
        return Path(os.environ["UMU_HF_CACHE"])
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "umu_hf"


def _legacy_fingerprint(folder: Path) -> str:
    """A hash of the legacy folder's parquet files (path, size, mtime) and the converter version."""
    entries = [
        [str(file.relative_to(folder)), file.stat().st_size, file.stat().st_mtime_ns]
        for file in sorted(folder.glob("*/*.parquet"))
    ]
    blob = json.dumps([CONVERTER_VERSION, str(folder.resolve()), entries])
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _fetch_repo(repo_id: str) -> Path:
    """Download (or reuse the cached snapshot of) a Hub dataset repo's card and parquet files."""
    import httpx
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    try:
        return Path(
            snapshot_download(
                repo_id, repo_type="dataset", allow_patterns=["*.md", "*.parquet", "*/*.parquet"]
            )
        )
    except (HfHubHTTPError, HFValidationError, LocalEntryNotFoundError, httpx.HTTPError, OSError) as exc:
        raise DataError(
            f"{repo_id}: not a local folder, and fetching it as a Hub dataset repo failed ({one_line(exc)}); "
            "check the path or repo id, the network and HF_TOKEN"
        ) from exc


def resolve_hub_folder(
    source: str | Path, *, cache_dir: str | Path | None = None, progress: bool = False
) -> Path:
    """A local Hub-layout folder for ``source``: repo id | Hub folder | legacy folder (converted, cached)."""
    from umu_hf.data.hub import is_hub_folder
    from umu_hf.data.legacy import convert_legacy, is_legacy_folder

    path = Path(source).expanduser()
    if not path.exists():
        text = str(source)
        if not is_hub_id(text):
            raise DataError(f"{source}: no such folder, and not a Hub repo id (ORG/NAME); check the path")
        path = _fetch_repo(text)
    if not path.is_dir():
        raise DataError(f"{path}: not a folder; pass a dataset folder or a Hub repo id")
    if is_hub_folder(path):
        return path
    if is_legacy_folder(path):
        target = Path(cache_dir or umu_cache_dir()) / "converted" / _legacy_fingerprint(path)
        if not is_hub_folder(target):
            convert_legacy(path, target, overwrite=True, progress=progress)
        return target
    raise DataError(
        f"{path}: neither a Hub-layout dataset (README.md with a `configs:` block) nor the published layout "
        "(forget_5/, retain_95/, …, real_person/); point to one of them"
    )


def load_umu_split(
    source: str | Path, config: str, *, cache_dir: str | Path | None = None, as_dataset: bool = True
) -> Dataset | ArrowSplit:
    """The ``train`` split of ``config`` (``forget05`` … ``full``, or ``holdout``) of a repo id, Hub or legacy
    folder. A dataset without the optional ``holdout`` config raises :class:`MissingConfigError`.

    A Hub-layout folder's shards are read straight with pyarrow (:mod:`umu_hf.data.table`); ``datasets`` is
    only imported to wrap them in a ``datasets.Dataset``, or, for a folder its card does not describe simply,
    to load it with ``datasets.load_dataset``. ``as_dataset=False`` returns the light read-only
    :class:`~umu_hf.data.table.ArrowSplit` instead (no ``datasets`` import; what the evaluation runner uses).
    """
    from umu_hf.data.table import ArrowSplit, read_config_table

    name = check_config(config)
    folder = resolve_hub_folder(source, cache_dir=cache_dir)
    _check_optional(folder, name)
    table = read_config_table(folder, name)
    if table is None:
        split = _load_with_datasets(folder, name)
        _check_columns(split, folder, name)
        _validate_rows(split, folder, name)
        if as_dataset:
            return split
        images = {n for n, f in split.features.items() if type(f).__name__ == "Image"}
        return ArrowSplit(split.data.table, images)
    split = ArrowSplit(table)
    _check_columns(split, folder, name)
    _validate_rows(split, folder, name)
    return split.to_dataset() if as_dataset else split


def config_ids(source: str | Path, config: str, *, cache_dir: str | Path | None = None) -> list[int]:
    """The profile IDs of one config (``forget05``, ``retain90``, …), in stored order."""
    split = load_umu_split(source, config, cache_dir=cache_dir, as_dataset=False)
    return [int(pid) for pid in split["ID"]]


def request_people(source: str | Path, ratios: Sequence[int], *,
                   cache_dir: str | Path | None = None) -> list[list[int]]:
    """The people of each deletion request of a sequence (:func:`~umu_hf.data.schema.check_sequence`): for the
    k-th ratio, the IDs its forget set adds to the previous one's (forget05, then forget10 − forget05, …), sorted.
    A request that adds no one in this data is an error (small synthetic data rounds two ratios to one count)."""
    from umu_hf.data.schema import check_sequence, forget_config

    ratios = check_sequence(ratios)
    people, earlier = [], set()
    for previous, ratio in zip((None, *ratios), ratios, strict=False):
        ids = set(config_ids(source, forget_config(ratio), cache_dir=cache_dir))
        added = sorted(ids - earlier)
        if not added:
            before = forget_config(previous) if previous else "the earlier requests"
            raise DataError(f"{source}: {forget_config(ratio)} adds no one to {before} in this data, "
                            "so that request would be empty; use data with more fictitious profiles or leave "
                            f"{ratio} out of the sequence")
        people.append(added)
        earlier |= ids
    return people


def _load_with_datasets(folder: Path, name: str) -> Dataset:
    """``datasets.load_dataset`` of one config (the general path: any card ``datasets`` understands)."""
    import datasets

    from umu_hf.data.hub import quiet_datasets

    try:
        with quiet_datasets():
            return datasets.load_dataset(str(folder), name, split=SPLIT)
    except (ValueError, FileNotFoundError, datasets.exceptions.DatasetGenerationError) as exc:
        raise DataError(
            f"{folder}: cannot load config {name} ({one_line(exc)}); rewrite it with umu-hf data"
        ) from exc


def _check_columns(split: Dataset | ArrowSplit, folder: Path, config: str) -> None:
    """Reject a split with empty top-level cells (``datasets`` fills a column missing from a file with nulls)."""
    import pyarrow.parquet as pq

    for column in split.column_names:
        if split.data.column(column).null_count == 0:
            continue
        for file in sorted(folder.rglob("*.parquet")):
            if column not in pq.read_schema(file).names:
                raise DataError(f"{file}: column {column} missing; rewrite the dataset with umu-hf data convert/synth")
        row = split.data.column(column).to_pylist().index(None)
        raise DataError(
            f"{folder}: config {config}, row {row} (ID {split[row]['ID']}), field {column}: empty; every row needs it"
        )


def _validate_rows(split: Dataset | ArrowSplit, folder: Path, config: str) -> None:
    """Every row against the schema (:func:`umu_hf.data.schema.validate_row`: types, paired modalities,
    answers, options), unique IDs, and a portrait whose bytes open as an image — so bad data stops here in one
    line naming the config, row, ID and field, not mid-run or as a silently dropped question."""
    import io

    from PIL import Image, UnidentifiedImageError

    from umu_hf.data.schema import validate_row

    table = getattr(split.data, "table", split.data)
    names = [n for n in table.column_names if n != "image"]
    images = table.column("image").to_pylist() if "image" in table.column_names else [None] * table.num_rows
    seen: dict[Any, int] = {}
    for i, (row, image) in enumerate(zip(table.select(names).to_pylist(), images, strict=True)):
        where = f"{folder}: config {config}, row {i} (ID {row.get('ID')!r})"
        data = image.get("bytes") if isinstance(image, dict) else None
        if not data:
            raise DataError(f"{where}, field image: no image bytes; every profile needs its portrait")
        try:
            with Image.open(io.BytesIO(data)) as opened:
                opened.verify()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{where}, field image: the bytes do not decode as an image ({type(exc).__name__}); "
                            "re-export the portrait") from None
        validate_row({**row, "image": True}, where)
        if row["ID"] in seen:
            raise DataError(f"{where}, field ID: {row['ID']} is also row {seen[row['ID']]}; IDs must be unique")
        seen[row["ID"]] = i


class MissingConfigError(DataError):
    """The dataset has no such optional config (e.g. ``holdout`` in converted published data)."""


def card_config_names(folder: Path) -> list[str] | None:
    """The config names a Hub-layout folder's card declares, or ``None`` when its ``configs:`` block cannot be read."""
    from umu_hf.data.table import _card_configs

    readme = Path(folder) / "README.md"
    stat = readme.stat()
    configs = _card_configs(str(readme.resolve()), stat.st_mtime_ns, stat.st_size)
    return None if configs is None else [str(c.get("config_name")) for c in configs]


def has_config(source: str | Path, config: str, *, cache_dir: str | Path | None = None) -> bool:
    """Whether the dataset at ``source`` (repo id, Hub or legacy folder) has ``config``; the required configs are
    always there (a folder without one fails when loaded), an optional one (``holdout``) only when its card says
    so."""
    name = check_config(config)
    if name not in OPTIONAL_CONFIG_NAMES:
        return True
    names = card_config_names(resolve_hub_folder(source, cache_dir=cache_dir))
    return names is None or name in names


def _check_optional(folder: Path, name: str) -> None:
    """Refuse, in one line, an optional config the folder's card does not declare."""
    if name not in OPTIONAL_CONFIG_NAMES:
        return
    names = card_config_names(folder)
    if names is not None and name not in names:
        raise MissingConfigError(
            f"{folder}: no `{name}` config; only data made with `umu-hf data synth` has one (fictitious "
            "profiles used in no fine-tuning, the non-members of membership inference). Converted published "
            "data has none"
        )
