"""The published (legacy) UMU-Bench layout (docs/protocol.md, Data): read it, convert it, and write it back.

Input, accepted as published: folders ``forget_5/ forget_10/ forget_15/ retain_95/ retain_90/ retain_85/
real_person/`` (``full/`` or ``full_data/`` optional), each with parquet files whose columns are ``ID``,
``image`` (struct ``{bytes, path}``) and ``MM_QA UM_QA Classify Cloze Generation`` as Python-literal strings
(parsed with ``ast.literal_eval``, never ``eval``), the multimodal key spelled ``muitimodal``, classification
answers ``"B. text"`` or ``"B"``, and an optional ``Biography`` column. Rows come out in the schema of
:mod:`umu_hf.data.schema`; a problem is one :class:`~umu_hf.errors.DataError` naming file, row/ID and field.

The tests write rows back in this layout with ``tests/helpers.py``'s ``write_legacy_layout``.
"""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from umu_hf.data.schema import FORGET_RATIOS, OPTION_LETTERS, TASK_COLUMNS, validate_row
from umu_hf.errors import DataError
from umu_hf.utils import one_line

#: split folder -> (set, forget ratio it belongs to)
SPLIT_FOLDERS: dict[str, tuple[str, int | None]] = {
    "forget_5": ("forget", 5),
    "forget_10": ("forget", 10),
    "forget_15": ("forget", 15),
    "retain_95": ("retain", 5),
    "retain_90": ("retain", 10),
    "retain_85": ("retain", 15),
    "real_person": ("real", None),
}
FULL_FOLDERS: tuple[str, ...] = ("full", "full_data")
REQUIRED_COLUMNS: tuple[str, ...] = ("ID", "image", "MM_QA", "UM_QA", "Classify", "Cloze", "Generation")
LITERAL_COLUMNS: tuple[str, ...] = ("MM_QA", "UM_QA", "Classify", "Cloze", "Generation")
LEGACY_MULTIMODAL = "muitimodal"  # sic: the published spelling
_LETTER_RE = re.compile(r"^\(?([A-D])\)?(?:\s*[.):]\s*(.*))?$", re.DOTALL)


def is_legacy_folder(path: str | Path) -> bool:
    """Whether ``path`` holds at least one of the published split folders."""
    root = Path(path)
    return any((root / name).is_dir() for name in SPLIT_FOLDERS)


def _parquet_files(folder: Path) -> list[Path]:
    """The parquet files of a split folder, each checked for the required columns."""
    import pyarrow.parquet as pq

    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise DataError(f"{folder}: no parquet file; put the split's train-00000-of-00001.parquet here")
    for file in files:
        try:
            names = pq.read_schema(file).names
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise DataError(
                f"{file}: not a readable parquet file ({one_line(exc)}); re-download it"
            ) from exc
        for column in REQUIRED_COLUMNS:
            if column not in names:
                raise DataError(
                    f"{file}: column {column} missing (found {', '.join(names)}); the published layout has "
                    f"{', '.join(REQUIRED_COLUMNS)}; re-export the file with it"
                )
    return files


def _folder_ids(files: Sequence[Path]) -> list[tuple[Path, list[int]]]:
    """(file, IDs in row order) for each file; IDs must be integers, unique within the folder."""
    import pyarrow.parquet as pq

    seen: dict[int, Path] = {}
    out = []
    for file in files:
        ids = pq.read_table(file, columns=["ID"]).column("ID").to_pylist()
        for index, value in enumerate(ids):
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataError(
                    f"{file}: row {index}, field ID: {value!r} is not an integer ID; fix the cell"
                )
            if value in seen:
                raise DataError(
                    f"{file}: row {index}, field ID: ID {value} appears twice in {file.parent.name}/"
                )
            seen[value] = file
        out.append((file, ids))
    return out


def _literal(value: Any, where: str, column: str) -> Any:
    """Parse a Python-literal cell with ``ast.literal_eval`` (structured cells pass through)."""
    if isinstance(value, (dict, list)):
        return value
    if not isinstance(value, str):
        raise DataError(
            f"{where}, field {column}: expected a Python-literal string, got {type(value).__name__}"
        )
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise DataError(
            f"{where}, field {column}: cannot parse the Python literal ({type(exc).__name__}: "
            f"{one_line(exc)}); fix the cell or re-export the file"
        ) from exc


def _keyed(value: Any, where: str, field: str) -> list[tuple[str, Any]]:
    """A legacy ``{key: value}`` dict (or a list, keyed by position) as (string key, value) pairs in order."""
    if isinstance(value, dict):
        return [(str(key), item) for key, item in value.items()]
    if isinstance(value, list):
        return [(str(index), item) for index, item in enumerate(value)]
    raise DataError(f"{where}, field {field}: expected a dict of items, got {type(value).__name__}")


def _qa_pairs(value: Any, where: str, column: str) -> list[dict[str, str]]:
    """``{"question": {k: q}, "answer": {k: a}}`` -> ``[{"question": q, "answer": a}, ...]`` in key order."""
    if isinstance(value, list):
        items = value
    elif isinstance(value, dict) and "question" in value and "answer" in value:
        answers = dict(_keyed(value["answer"], where, f"{column}.answer"))
        items = []
        for key, question in _keyed(value["question"], where, f"{column}.question"):
            if key not in answers:
                raise DataError(f"{where}, field {column}.answer: no answer for question {key!r}; add it")
            items.append({"question": question, "answer": answers[key]})
    else:
        raise DataError(f"{where}, field {column}: expected {{'question': {{...}}, 'answer': {{...}}}}")
    pairs = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or item.get("question") is None or item.get("answer") is None:
            raise DataError(f"{where}, field {column}[{index}]: needs a question and an answer")
        pairs.append({"question": str(item["question"]), "answer": str(item["answer"])})
    return pairs


def _options(value: Any, where: str, field: str) -> dict[str, str]:
    """Options as ``{"A": text, …, "D": text}`` from a dict (keys like ``A``/``a``/``A.``) or a list of 4."""
    if isinstance(value, (list, tuple)) and len(value) == len(OPTION_LETTERS):
        return {letter: str(text) for letter, text in zip(OPTION_LETTERS, value, strict=True)}
    if isinstance(value, dict):
        options = {str(key).strip().rstrip(".").upper(): str(text) for key, text in value.items()}
        if set(options) == set(OPTION_LETTERS):
            return {letter: options[letter] for letter in OPTION_LETTERS}
    raise DataError(f"{where}, field {field}: expected the four options A, B, C, D, got {value!r:.120}")


def parse_answer_letter(answer: Any, options: Mapping[str, str], where: str, field: str) -> str:
    """The correct letter from a legacy answer: ``"B. text"``, ``"B"`` or (fallback) an option's text."""
    text = str(answer).strip()
    match = _LETTER_RE.match(text)
    if match:
        return match.group(1)
    for letter, option in options.items():
        if option.strip().lower() == text.lower():
            return letter
    raise DataError(
        f"{where}, field {field}: answer {text!r:.80} is neither a letter A-D nor one of the options"
    )


def _task_items(value: Any, where: str, column: str, classification: bool) -> dict[str, list[dict]]:
    """A task column ``{"unimodal": {k: item}, "muitimodal": {k: item}}`` -> the schema's two paired lists."""
    if not isinstance(value, dict):
        raise DataError(f"{where}, field {column}: expected a dict with 'unimodal' and '{LEGACY_MULTIMODAL}'")
    mm_key = LEGACY_MULTIMODAL if LEGACY_MULTIMODAL in value else "multimodal"
    for part in ("unimodal", mm_key):
        if part not in value:
            raise DataError(f"{where}, field {column}: no '{part}' part; both modalities are required")
    uni = _keyed(value["unimodal"], where, f"{column}.unimodal")
    multi = _keyed(value[mm_key], where, f"{column}.{mm_key}")
    multi_by_key = dict(multi)
    if set(multi_by_key) == {key for key, _ in uni} and len(multi_by_key) == len(multi):
        multi = [(key, multi_by_key[key]) for key, _ in uni]  # pair by key, in unimodal order
    elif len(multi) != len(uni):
        raise DataError(
            f"{where}, field {column}: {len(uni)} unimodal but {len(multi)} {mm_key} items; they must pair up"
        )
    out: dict[str, list[dict]] = {"unimodal": [], "multimodal": []}
    for (key, u_item), (_, m_item) in zip(uni, multi, strict=True):
        letter = None
        for modality, item in (("unimodal", u_item), ("multimodal", m_item)):
            field = f"{column}.{mm_key if modality == 'multimodal' else modality}[{key!r}]"
            if not isinstance(item, dict) or item.get("question") is None or item.get("answer") is None:
                raise DataError(f"{where}, field {field}: needs a question and an answer")
            entry = {"key": key, "question": str(item["question"])}
            if classification:
                options = _options(item.get("options"), where, f"{field}.options")
                if letter is None:  # the unimodal letter is the truth for both modalities
                    letter = parse_answer_letter(item["answer"], options, where, f"{field}.answer")
                entry.update(options=options, answer=letter)
            else:
                entry["answer"] = str(item["answer"])
            out[modality].append(entry)
    return out


def _confined(folder: Path, path: str, where: str) -> Path:
    """``folder/path`` when it lies inside the source folder (the split folder's parent), symlinks resolved;
    an absolute or escaping path is refused, so conversion (and ``data push``) never embeds another local file."""
    root = folder.resolve().parent
    target = (folder / path).resolve()
    if Path(path).is_absolute() or (target != root and root not in target.parents):
        raise DataError(
            f"{where}, field image.path: {path!r} points outside the source folder {root}; embed the portrait "
            "in image.bytes or keep the file inside the dataset folder"
        )
    return target


def _image(value: Any, where: str, folder: Path) -> dict:
    """The portrait as ``{"bytes", "path"}``, checked to decode (bytes, or a file next to the parquet)."""
    from PIL import Image

    data, path = (value.get("bytes"), value.get("path")) if isinstance(value, dict) else (value, None)
    if data is None and path:
        file = _confined(folder, str(path), where)
        if file.is_file():
            data = file.read_bytes()
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise DataError(
            f"{where}, field image: no image bytes; the published layout embeds them in image.bytes"
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as exc:  # PIL raises many types for corrupt data
        raise DataError(
            f"{where}, field image: the bytes do not decode as an image ({one_line(exc)}); "
            "re-export the portrait"
        ) from exc
    return {"bytes": bytes(data), "path": path}


def convert_row(record: Mapping[str, Any], source: str, where: str, folder: Path) -> dict:
    """One legacy parquet record -> one schema row (validated); ``where`` names file and row in errors."""
    literals = {column: _literal(record[column], where, column) for column in LITERAL_COLUMNS}
    biography = record.get("Biography")
    row = {
        "ID": record["ID"],
        "source": source,
        "image": _image(record["image"], where, folder),
        "biography": "" if biography is None else str(biography),
        "MM_QA": _qa_pairs(literals["MM_QA"], where, "MM_QA"),
        "UM_QA": _qa_pairs(literals["UM_QA"], where, "UM_QA"),
    }
    for task, column in TASK_COLUMNS.items():
        row[column] = _task_items(literals[column], where, column, task == "classification")
    validate_row(row, where)
    return row


def read_legacy(src_dir: str | Path, progress: bool = False) -> tuple[list[dict], dict[int, list[int]]]:
    """Read a published-layout folder: (rows sorted by ID, forget sets ratio -> IDs), all checked."""
    import pyarrow.parquet as pq
    from tqdm.auto import tqdm

    from umu_hf.data.hub import check_split_invariants

    src = Path(src_dir)
    if not src.is_dir():
        raise DataError(
            f"{src}: no such folder; pass the folder that holds forget_5/, retain_95/, … real_person/"
        )
    for name in SPLIT_FOLDERS:
        if not (src / name).is_dir():
            raise DataError(
                f"{src / name}: split folder missing; the published layout has "
                f"{', '.join(f'{n}/' for n in SPLIT_FOLDERS)} each with a parquet file; restore it"
            )
    folders = list(SPLIT_FOLDERS) + [name for name in FULL_FOLDERS if (src / name).is_dir()]
    ids_of = {name: _folder_ids(_parquet_files(src / name)) for name in folders}
    id_sets = {name: {i for _, ids in files for i in ids} for name, files in ids_of.items()}

    real = id_sets["real_person"]
    fictitious = set().union(*(id_sets[name] for name, (kind, _) in SPLIT_FOLDERS.items() if kind != "real"))
    both = sorted(real & fictitious)
    if both:
        holder = next(n for n in SPLIT_FOLDERS if n != "real_person" and both[0] in id_sets[n])
        raise DataError(
            f"ID {both[0]} is in both real_person/ and {holder}/; a profile is either real or fictitious"
        )
    forget: dict[int, list[int]] = {}
    for ratio in FORGET_RATIOS:
        f_name, r_name = f"forget_{ratio}", f"retain_{100 - ratio}"
        overlap = sorted(id_sets[f_name] & id_sets[r_name])
        if overlap:
            raise DataError(f"ID {overlap[0]} is in both {f_name}/ and {r_name}/; they must be disjoint")
        missing = sorted(fictitious - id_sets[f_name] - id_sets[r_name])
        if missing:
            raise DataError(
                f"ID {missing[0]} is in neither {f_name}/ nor {r_name}/; together they must hold every "
                "fictitious profile"
            )
        forget[ratio] = sorted(id_sets[f_name])
    check_split_invariants(sorted(fictitious), forget, name=lambda ratio: f"forget_{ratio}/")
    for name in folders[len(SPLIT_FOLDERS) :]:
        stray = sorted(id_sets[name] - fictitious - real)
        if stray:
            raise DataError(f"ID {stray[0]} is in {name}/ but in no split folder; add it to one or remove it")

    rows: dict[int, dict] = {}
    with tqdm(
        total=len(fictitious | real), desc="converting", unit="profile", disable=not progress or None
    ) as bar:
        for name in folders:
            source = "real" if name == "real_person" else "fictitious"
            for file, ids in ids_of[name]:
                todo = [index for index, i in enumerate(ids) if i not in rows]
                if not todo:
                    continue
                records = pq.read_table(file).to_pylist()
                for index in todo:
                    record = records[index]
                    rows[record["ID"]] = convert_row(
                        record, source, f"{file}: row {index} (ID {record['ID']})", file.parent
                    )
                    bar.update()
    return [rows[i] for i in sorted(rows)], forget


def convert_legacy(
    src_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False, progress: bool = False
) -> Path:
    """Convert a published-layout folder to the Hub layout (docs/protocol.md, Data) in ``out_dir``; return ``out_dir``."""
    from umu_hf.data.hub import write_hub_dataset
    from umu_hf.outputs import check_out_apart, check_replaceable

    check_out_apart(out_dir, [("source folder", src_dir)])
    check_replaceable(out_dir, overwrite)  # before the slow reading
    rows, forget = read_legacy(src_dir, progress=progress)
    return write_hub_dataset(
        rows,
        out_dir,
        forget,
        pretty_name="UMU-Bench",
        description=(
            f"Converted from the published UMU-Bench layout (folder `{Path(src_dir).name}`) by `umu-hf data "
            "convert`: Python-literal columns parsed into typed features, `muitimodal` spelled `multimodal`, "
            "classification answers reduced to the correct letter (the unimodal item's letter, for both "
            "modalities)."
        ),
        overwrite=overwrite,
        progress=progress,
    )
