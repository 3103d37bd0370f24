"""The evaluation output folder: ``run.json``, ``predictions.jsonl`` (+ per-process shards) and atomic writes.

Why this shape: a benchmark run can take hours, so every finished batch is appended to a JSON-lines file and
flushed at once; a rerun reads what is there and asks only the rest. A crash can leave at most a truncated
last line, which reading ignores and appending first cuts off. ``run.json`` records the settings that change
the numbers, written before the first question, so a rerun with other settings cannot mix its predictions into
these.

Files in ``OUT``:

- ``run.json``: ``{"umu_hf_version", "identity": {...}, "model", "data"}`` (see :func:`check_run`);
- ``predictions.jsonl``: one record per question and modality, keyed by ``"id"`` (``Question.uid``); at the
  end of a run rewritten in canonical order, so an interrupted-and-resumed run ends with the same file;
- ``predictions.rank{R}.jsonl``: what process R wrote in a multi-process run, merged into
  ``predictions.jsonl`` at the end;
- ``results.json``: written by :mod:`umu_hf.evaluation.results`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from umu_hf.errors import ResultsConflictError, UmuError
from umu_hf.identity import RecordError, conflict, first_difference, read_record
from umu_hf.utils import atomic_write_text, finite_json, write_json

PREDICTIONS = "predictions.jsonl"
RESULTS = "results.json"
RUN = "run.json"
_SHARD_GLOB = "predictions.rank*.jsonl"
_HINT = "use another --out or --overwrite"


def shard_path(out: Path, rank: int) -> Path:
    """The predictions file process ``rank`` appends to in a multi-process run."""
    return out / f"predictions.rank{rank}.jsonl"


def prediction_files(out: Path) -> list[Path]:
    """``predictions.jsonl`` and every shard file that exists, main file first."""
    files = [out / PREDICTIONS] if (out / PREDICTIONS).is_file() else []
    return files + sorted(out.glob(_SHARD_GLOB))


# -- writing -------------------------------------------------------------------------------------------------


def _record_line(record: Mapping[str, Any]) -> str:
    return json.dumps(finite_json(dict(record)), ensure_ascii=False, allow_nan=False) + "\n"


def repair_tail(path: Path) -> None:
    """Cut a truncated last line (a crash in the middle of a write) so the next append starts a fresh line."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    with open(path, "rb+") as handle:
        handle.truncate(data.rfind(b"\n") + 1)


class PredictionWriter:
    """Appends prediction records to a JSON-lines file, flushing after every batch."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_tail(path)
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")  # closed in close()

    def write(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append the records of one batch and flush them to the OS, so a crash loses at most this batch."""
        self._handle.write("".join(_record_line(r) for r in records))
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- reading -------------------------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of one predictions file. A last line without its newline is a write cut short by a crash
    and is ignored (that question is asked again); any other unreadable line is an error naming the line."""
    data = path.read_bytes()
    *complete, _partial = data.split(b"\n")
    records = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise ResultsConflictError(
                f"{path}, line {number}: not a prediction record of umu-hf eval; remove the line or {_HINT}"
            )
        records.append(record)
    return records


def load_records(out: Path) -> dict[str, dict[str, Any]]:
    """Every finished prediction in ``out`` (main file and shards), by id."""
    records: dict[str, dict[str, Any]] = {}
    for path in prediction_files(out):
        for record in read_records(path):
            records[record["id"]] = record
    return records


def merge_predictions(out: Path, sort_key: Callable[[dict[str, Any]], Any]) -> dict[str, dict[str, Any]]:
    """Merge the main file and the shards into ``predictions.jsonl`` sorted by ``sort_key`` (atomically), then
    remove the shards. Returns the records by id."""
    records = load_records(out)
    ordered = sorted(records.values(), key=sort_key)
    atomic_write_text(out / PREDICTIONS, "".join(_record_line(r) for r in ordered))
    for path in sorted(out.glob(_SHARD_GLOB)):
        path.unlink(missing_ok=True)
    return records


# -- the run's identity --------------------------------------------------------------------------------------


def check_out_dir(out: Path) -> Path:
    """``out`` as a Path; refuses a path that exists and is not a folder."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise UmuError(f"--out {out} is a file; give a folder for results.json and predictions.jsonl")
    return out


def check_run(out: Path, identity: Mapping[str, Any], keys: Iterable[str] | None = None) -> bool:
    """Whether ``out`` already belongs to this run; raise :class:`ResultsConflictError` if it holds another's.

    Compares ``identity`` (the settings that change the numbers) with ``run.json`` on ``keys`` (all by
    default). Returns False for a folder with no results at all. Predictions or results without ``run.json``
    are refused: their settings are unknown.
    """
    run_file = out / RUN
    if not run_file.is_file():
        leftovers = [p.name for p in (out / RESULTS, *prediction_files(out)) if p.is_file()]
        if leftovers:
            raise ResultsConflictError(
                f"{out} holds {', '.join(leftovers)} but no {RUN}, so its settings are unknown and it may be "
                f"another model's results; {_HINT}"
            )
        return False
    try:
        stored = read_record(run_file)
    except RecordError as exc:
        raise ResultsConflictError(f"{run_file} is not a run.json written by umu-hf eval; {_HINT}") from exc
    key = first_difference(stored, identity, keys if keys is not None else list(identity))
    if key is not None:
        raise ResultsConflictError(f"{out} holds results of another run ({conflict(key, stored, identity)}); {_HINT}")
    return True


def write_run(out: Path, run: Mapping[str, Any]) -> None:
    """Record the run's settings (atomically) before the first prediction is written."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / RUN, run)


def clear_run(out: Path) -> None:
    """Remove this runner's files from ``out`` (``--overwrite``); other files in the folder are kept."""
    for path in (out / RESULTS, out / RUN, *prediction_files(out)):
        path.unlink(missing_ok=True)
