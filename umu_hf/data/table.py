"""Read a config of a local Hub-layout folder straight from its parquet shards, without ``datasets``.

``datasets.load_dataset`` costs about a second per process before the first row (importing ``datasets`` and
``pandas``, resolving the builder, hashing and writing an Arrow cache) — more than the whole evaluation of a
small model. A Hub-layout folder written by umu-hf (docs/protocol.md, Data) needs none of that: its card names each config's
parquet shards, and the shards carry their ``datasets`` features in the Arrow schema. So:

- :func:`card_data_files` reads the card's ``configs:`` block and lists a config's shards in the order
  ``datasets`` uses (pattern by pattern, files sorted within a pattern);
- :func:`read_config_table` reads those shards with pyarrow into one table, or returns ``None`` whenever the
  folder is not the simple case (no card entry, a pattern with no file, shards whose schemas differ, no
  ``datasets`` features in the schema), so the caller falls back to ``datasets.load_dataset`` and its checks;
- :class:`ArrowSplit` is the small read-only, ``datasets.Dataset``-like view the evaluation runner needs
  (``num_rows``, ``column_names``, ``data``, ``select_columns``, row and column access, iteration, with the
  ``image`` column decoded to PIL exactly as ``datasets.Image`` decodes it). ``to_dataset()`` turns it into a
  real ``datasets.Dataset``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from umu_hf.data.schema import SPLIT, TASK_COLUMNS

#: the columns of a UMU-Bench row (:mod:`umu_hf.data.schema`) ...
COLUMNS: tuple[str, ...] = ("ID", "source", "image", "biography", "MM_QA", "UM_QA", *TASK_COLUMNS.values())
#: ... and the one that holds images (decoded to PIL on access)
IMAGE_COLUMNS: tuple[str, ...] = ("image",)


@functools.lru_cache(maxsize=8)
def _card_configs(readme: str, mtime_ns: int, size: int) -> tuple[dict[str, Any], ...] | None:
    """The ``configs:`` entries of a card's YAML header (parsed once per card version and process)."""
    import yaml

    text = Path(readme).read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ten times faster on a long card
    try:
        meta = yaml.load(text[3:].split("\n---", 1)[0], Loader=loader)  # noqa: S506 (a safe loader)
    except yaml.YAMLError:
        return None
    configs = meta.get("configs") if isinstance(meta, dict) else None
    return tuple(c for c in configs if isinstance(c, dict)) if isinstance(configs, list) else None


def card_data_files(folder: Path, config: str) -> list[Path] | None:
    """The parquet files of ``config``'s ``train`` split named by the card's ``configs:`` block, in the order
    ``datasets`` reads them; ``None`` when the card does not spell them out as simple path patterns or a
    pattern matches no file (the caller then lets ``datasets`` resolve them and word the error)."""
    readme = folder / "README.md"
    stat = readme.stat()
    configs = _card_configs(str(readme.resolve()), stat.st_mtime_ns, stat.st_size)
    entries = [c for c in configs or () if c.get("config_name") == config]
    if len(entries) != 1:
        return None
    data_files = entries[0].get("data_files")
    if not isinstance(data_files, list):
        return None
    splits = [d for d in data_files if isinstance(d, dict) and d.get("split") == SPLIT]
    if len(splits) != 1:
        return None
    patterns = splits[0].get("path")
    patterns = [patterns] if isinstance(patterns, str) else patterns
    if not isinstance(patterns, list) or not patterns:
        return None
    files: list[Path] = []
    root = folder.resolve()
    for pattern in patterns:
        if not isinstance(pattern, str) or "://" in pattern or pattern.startswith("/") or ".." in pattern:
            return None
        matched = sorted(
            p
            for p in root.glob(pattern)
            if p.is_file() and not any(part.startswith((".", "__")) for part in p.relative_to(root).parts)
        )
        if not matched:
            return None
        files.extend(p for p in matched if p not in files)
    return files


def read_config_table(folder: Path, config: str) -> Any:  # -> pyarrow.Table | None
    """``config``'s rows as one ``pyarrow.Table`` (with the ``datasets`` features in its schema metadata), or
    ``None`` when the folder needs ``datasets``' general loader (see the module docstring)."""
    files = card_data_files(folder, config)
    if files is None:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(files[0])
    if sorted(schema.names) != sorted(COLUMNS) or _image_columns(schema) != set(IMAGE_COLUMNS):
        return None  # not exactly the UMU columns with their datasets features: let datasets cast or complain
    for file in files[1:]:
        if not pq.read_schema(file).equals(schema, check_metadata=False):
            return None
    tables = []
    for file in files:  # ParquetFile, not read_table: that imports pyarrow.dataset (and pandas), 0.2 s
        with pq.ParquetFile(file) as parquet:
            tables.append(parquet.read())
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    return table.replace_schema_metadata(schema.metadata)


def _image_columns(schema: Any) -> set[str]:
    """Columns an Arrow schema's ``datasets`` features declare as ``Image`` (decoded on access)."""
    metadata = (schema.metadata or {}).get(b"huggingface")
    if not metadata:
        return set()
    try:
        features = json.loads(metadata)["info"]["features"]
    except (ValueError, KeyError, TypeError):
        return set()
    return {name for name, feature in features.items() if isinstance(feature, dict) and feature.get("_type") == "Image"}


def decode_image(value: Any) -> Any:
    """A stored image cell (``{"bytes", "path"}``) as a PIL image, the way ``datasets.Image().decode_example``
    decodes it: opened from the bytes (else the local path), loaded, EXIF orientation applied."""
    if value is None:
        return None
    import io

    import PIL.Image
    import PIL.ImageOps

    data, path = value.get("bytes"), value.get("path")
    if data is None:
        if path is None:
            raise ValueError(f"An image should have one of 'path' or 'bytes' but both are None in {value}.")
        image = PIL.Image.open(path)
    else:
        image = PIL.Image.open(io.BytesIO(data))
    image.load()
    if image.getexif().get(PIL.Image.ExifTags.Base.Orientation) is not None:
        image = PIL.ImageOps.exif_transpose(image)
    return image


class ArrowSplit:
    """A read-only, ``datasets.Dataset``-like view of a ``pyarrow.Table`` (one split of UMU-Bench).

    Rows come out as dicts of Python values, like ``datasets`` formats them; the image column is decoded to
    PIL only for the rows and columns asked for.
    """

    def __init__(self, table: Any, image_columns: set[str] | None = None) -> None:
        self._table = table
        self._images = _image_columns(table.schema) if image_columns is None else set(image_columns)

    # -- what the callers of a ``datasets.Dataset`` use ----------------------------------------------------------
    @property
    def data(self) -> Any:
        """The underlying ``pyarrow.Table``."""
        return self._table

    @property
    def num_rows(self) -> int:
        return self._table.num_rows

    def __len__(self) -> int:
        return self._table.num_rows

    @property
    def column_names(self) -> list[str]:
        return list(self._table.column_names)

    def select_columns(self, column_names: str | Sequence[str]) -> ArrowSplit:
        names = [column_names] if isinstance(column_names, str) else list(column_names)
        missing = [n for n in names if n not in self._table.column_names]
        if missing:
            raise ValueError(f"columns {missing} not in the dataset; current columns: {self.column_names}")
        return ArrowSplit(self._table.select(names), self._images & set(names))

    def _decode(self, row: dict[str, Any]) -> dict[str, Any]:
        for name in self._images:
            if name in row:
                row[name] = decode_image(row[name])
        return row

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            values = self._table.column(key).to_pylist()
            return [decode_image(v) for v in values] if key in self._images else values
        if isinstance(key, bool) or not isinstance(key, int):
            raise TypeError(f"ArrowSplit rows are indexed by int or column name, got {type(key).__name__}")
        index = key + self.num_rows if key < 0 else key
        if not 0 <= index < self.num_rows:
            raise IndexError(f"row {key} out of range for a split of {self.num_rows} rows")
        return self._decode(self._table.slice(index, 1).to_pylist()[0])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self._table.to_batches(max_chunksize=64):
            for row in batch.to_pylist():
                yield self._decode(row)

    def __repr__(self) -> str:
        return f"ArrowSplit(columns={self.column_names}, num_rows={self.num_rows})"

    def to_dataset(self) -> Any:  # -> datasets.Dataset
        """The same rows as a ``datasets.Dataset`` (features from the schema; imports ``datasets``)."""
        import datasets
        from datasets.table import InMemoryTable

        return datasets.Dataset(InMemoryTable(self._table), split=datasets.Split(SPLIT))
