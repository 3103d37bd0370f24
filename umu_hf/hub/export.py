"""``umu-hf hub export``: one model of a bench folder as a folder ready for a Hub model repo.

The folder holds what ``from_pretrained`` needs (``config.json``, the safetensors weights, the processor and
tokenizer files), the training record (``umu_training.json``), the model's ``results.json`` and a ``README.md``
model card whose ``model-index`` lists every headline and per-modality number (:mod:`umu_hf.hub.card`). It is
written into a temporary folder and renamed into place, so an interrupted export leaves nothing that looks done.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path
from typing import Any

from umu_hf.bench.manifest import MANIFEST, Manifest, ModelEntry, read_manifest, resolve_inside
from umu_hf.errors import UmuError
from umu_hf.hub.card import LOCAL_PREFIX, CardFacts, render_model_card
from umu_hf.identity import is_hub_id
from umu_hf.outputs import check_out_apart, check_replaceable, write_marker
from umu_hf.trainers.checkpoints import TRAINING_RECORD
from umu_hf.utils import atomic_dir

#: the model's files a Hub repo needs: config, safetensors weights, generation config
MODEL_FILES = ("config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json")
#: the processor's and tokenizer's files, whatever the family writes
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json", "video_preprocessor_config.json",
                   "tokenizer*", "special_tokens_map.json", "added_tokens.json", "chat_template.*", "vocab.*",
                   "merges.txt", "spiece.model")
_HUB_PREFIX = "hub:"


def _model_files(model_dir: Path) -> list[Path]:
    """The files of ``model_dir`` to export; a clear error when the weights are not safetensors or the processor
    is missing."""
    files = [p for p in sorted(model_dir.iterdir())
             if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in MODEL_FILES + PROCESSOR_FILES)]
    names = {p.name for p in files}
    if "config.json" not in names:
        raise UmuError(f"{model_dir} has no config.json: not a saved model folder")
    if not any(n.endswith(".safetensors") for n in names):
        raise UmuError(f"{model_dir} has no safetensors weights; re-save the model with save_pretrained() "
                       "(safetensors is its default) before exporting")
    if not names & {"processor_config.json", "preprocessor_config.json", "tokenizer_config.json"}:
        raise UmuError(f"{model_dir} has no processor files; save the processor into it (processor.save_pretrained)")
    return files


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UmuError(f"{path} cannot be read as JSON ({exc}); rerun `umu-hf bench`") from None


def _in_bench(bench: Path, source: str) -> Path | None:
    """The bench folder a training record's ``model`` names: the recorded path when it lies in the bench, else
    the folder of that name under ``models/`` (a bench moved since); None for anything else."""
    path = Path(source)
    if path.is_dir() and path.resolve().is_relative_to(bench):
        return path.resolve()
    moved = bench / "models" / path.name
    return moved if path.name and moved.is_dir() else None


def lineage(bench: Path, model_dir: Path, record: dict[str, Any] | None) -> tuple[list[str], str | None, bool]:
    """How the model was made, oldest step first, following each ``umu_training.json``'s ``model`` back through
    the bench; also the Hub id the chain starts from (if it does) and whether it starts at the embedded tiny
    LLaVA (the bench's ``models/tiny-*``)."""
    steps: list[str] = []
    base, tiny, seen, where = None, False, {model_dir}, model_dir
    while record is not None and len(seen) < 8:
        method = record.get("method", "?")
        what = "fine-tuned" if method == "finetune" else f"unlearned with `{method}`"
        steps.insert(0, f"{what} (`{_shown(bench, where)}`, protocol {record.get('protocol', '?')})")
        source = str(record.get("model", ""))
        folder = _in_bench(bench, source)
        if folder is None or folder in seen:
            if is_hub_id(source, namespaced=False) and not Path(source).exists():
                base = source
                steps.insert(0, f"`{source}`")
            else:
                steps.insert(0, f"a local checkpoint (`{Path(source).name}`)")
            break
        seen.add(folder)
        where, record_file = folder, folder / TRAINING_RECORD
        record = _read_json(record_file) if record_file.is_file() else None
        if record is None:
            tiny = folder.name.startswith("tiny-")
            rel = _shown(bench, folder)
            steps.insert(0, f"the embedded tiny LLaVA (`{rel}`, built from scratch)" if tiny else f"`{rel}`")
    if not steps:
        steps = [f"`{_shown(bench, model_dir)}` (given to the bench, not trained by it)"]
    return steps, base, tiny


def _shown(bench: Path, folder: Path) -> str:
    """A model folder as the card shows it: relative to the bench (a merged model as its training folder)."""
    folder = folder.parent if folder.name == "merged" else folder
    return str(folder.relative_to(bench)) if folder.is_relative_to(bench) else folder.name


def _dataset(bench: Path, manifest: Manifest, dataset_id: str | None) -> tuple[str, bool, bool]:
    """(dataset id or local name, whether it names a Hub dataset, whether it is the synthetic stand-in)."""
    data = manifest.data
    synthetic = False
    if not data.startswith(_HUB_PREFIX):  # inside the bench, or a folder the bench was given (as it was named)
        readmes = [p for p in (bench / data / "README.md", Path(data) / "README.md") if p.is_file()]
        synthetic = Path(data).name.startswith("synth-") or any(
            "Synthetic stand-in" in p.read_text(encoding="utf-8", errors="replace") for p in readmes[:1])
    if dataset_id is not None:
        if not is_hub_id(dataset_id):
            raise UmuError(f"--dataset-id {dataset_id!r}: expected the published dataset's Hub id, ORG/NAME")
        return dataset_id, True, synthetic
    if data.startswith(_HUB_PREFIX):
        return data[len(_HUB_PREFIX):], True, synthetic
    return f"{LOCAL_PREFIX}{Path(data).name}", False, synthetic


def _row_name(entry: ModelEntry) -> str:
    """The model's row in leaderboard.json: its method, or its name without the seed."""
    return entry.method or entry.name.split(" (seed ")[0]


def _across_seeds(bench: Path, entry: ModelEntry, ratio: int) -> tuple[list[int], dict[str, Any]]:
    """(the bench's seeds, the leaderboard cells of this model's row) from leaderboard.json, when it is there."""
    file = bench / "leaderboard.json"
    if not file.is_file():
        return [], {}
    board = _read_json(file)
    seeds = list(board.get("training", {}).get("seeds") or [])
    for row in board.get("rows", []):
        if row.get("model") == _row_name(entry) and row.get("forget_ratio") == ratio:
            return seeds, dict(row.get("cells") or {})
    return seeds, {}


def gather_facts(bench_dir: str | Path, name: str, dataset_id: str | None = None
                 ) -> tuple[CardFacts, Path, Path, dict[str, Any]]:
    """(card facts, model folder, results.json, results) of the bench model ``name`` (as in bench.json)."""
    bench = Path(bench_dir).resolve()
    manifest = read_manifest(bench)
    entry = manifest.model(name)
    if entry.path.startswith(_HUB_PREFIX):
        raise UmuError(f"model {name!r} is the checkpoint {entry.path[len(_HUB_PREFIX):]} that the bench was given "
                       "(already on the Hub), not one it trained; export one of its unlearned models")
    model_dir = resolve_inside(bench, entry.path)
    if not model_dir.is_dir():
        raise UmuError(f"model {name!r}: its folder {model_dir} is missing; rerun `umu-hf bench --out {bench_dir}`")
    if entry.results is None:
        raise UmuError(f"model {name!r} has no results in {MANIFEST}; rerun `umu-hf bench --out {bench_dir}`")
    results_file = resolve_inside(bench, entry.results)
    if not results_file.is_file():
        raise UmuError(f"model {name!r}: {results_file} is missing; rerun `umu-hf bench --out {bench_dir}`")
    results = _read_json(results_file)
    record_file = model_dir / TRAINING_RECORD
    record = _read_json(record_file) if record_file.is_file() else None
    steps, base, tiny = lineage(bench, model_dir, record)
    dataset, on_hub, synthetic = _dataset(bench, manifest, dataset_id)
    seeds, cells = _across_seeds(bench, entry, manifest.forget_ratio)
    if not seeds and record and "seed" in record:
        seeds = [record["seed"]]
    facts = CardFacts(name=name, method=entry.method, forget_ratio=manifest.forget_ratio, dataset_id=dataset,
                      dataset_on_hub=on_hub, synthetic=synthetic, tiny=tiny, base_model=base, lineage=steps,
                      record=record, seeds=seeds, across_seeds=cells)
    return facts, model_dir, results_file, results


def export_model(bench_dir: str | Path, name: str, out: str | Path, *, dataset_id: str | None = None,
                 model_name: str | None = None, license: str | None = None,
                 overwrite: bool = False) -> tuple[Path, CardFacts]:
    """Write the Hub model folder of the bench model ``name`` to ``out`` (atomically; an existing ``out`` is
    replaced only with ``overwrite`` and only when umu-hf wrote it). ``model_name`` names it in ``model-index``
    (default: ``out``'s folder name), ``license`` is the card's license id. Returns ``(out, the card's facts)``."""
    bench = Path(bench_dir)
    if not bench.is_dir():
        raise UmuError(f"--bench-dir {bench_dir} is not a folder; give the --out folder of `umu-hf bench`")
    facts, model_dir, results_file, results = gather_facts(bench, name, dataset_id)
    check_out_apart(out, [("bench folder", bench)])
    check_replaceable(out, overwrite)
    files = _model_files(model_dir)
    card = render_model_card(facts, results, model_name or Path(out).resolve().name, license)
    with atomic_dir(out) as tmp:
        for file in files:
            shutil.copy2(file, tmp / file.name)
        if (model_dir / TRAINING_RECORD).is_file():
            _write_published(model_dir / TRAINING_RECORD, tmp / TRAINING_RECORD)
        _write_published(results_file, tmp / "results.json")
        (tmp / "README.md").write_text(card, encoding="utf-8")
        write_marker(tmp, "umu-hf hub export")
        check_replaceable(out, overwrite)  # nobody put a foreign folder there meanwhile
    return Path(out), facts


def published(value: Any) -> Any:
    """``value`` (a JSON record) with every absolute local path replaced by ``local:<its last part>``: what this
    machine's folders were called is not for a public model page.

    >>> published({"model": "/home/me/bench/models/ga-1/merged", "data": "org/umu", "n": 3, "x": ["/tmp/d"]})
    {'model': 'local:merged', 'data': 'org/umu', 'n': 3, 'x': ['local:d']}
    """
    if isinstance(value, dict):
        return {key: published(item) for key, item in value.items()}
    if isinstance(value, list):
        return [published(item) for item in value]
    if isinstance(value, str) and value.startswith(("/", "\\")) and len(value) > 1 and "\n" not in value:
        return f"local:{Path(value).name}"
    return value


def _write_published(source: Path, target: Path) -> None:
    record = json.loads(source.read_text(encoding="utf-8"))
    target.write_text(json.dumps(published(record), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

