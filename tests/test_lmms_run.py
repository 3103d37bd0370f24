"""lmms-eval itself runs the exported UMU-Bench tasks on the embedded tiny LLaVA (``--model umu_hf``), and every
number and every reply equals ``umu-hf eval``'s on the same model and data.

lmms-eval is not a dependency of umu-hf (it pins much of the stack), so this test runs it in the interpreter
``$UMU_LMMS_EVAL_PYTHON`` (default: this one), which needs lmms-eval and umu-hf installed (``pip install lmms-eval``
and ``pip install -e .``: the ``--model umu_hf`` entry point is in umu-hf's package metadata); it is skipped,
saying so, when that interpreter lacks either.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from umu_hf.data.schema import SETS, TASKS
from umu_hf.lmms.hooks import TASK_METRICS
from umu_hf.lmms.tasks import export_lmms_eval, subtask_name

REPO = Path(__file__).resolve().parent.parent
LMMS_PYTHON = os.environ.get("UMU_LMMS_EVAL_PYTHON", sys.executable)
_PROBE = (
    "import sys, lmms_eval; from importlib.metadata import entry_points; "
    "sys.exit(0 if any(ep.name == 'umu_hf' for ep in entry_points(group='lmms_eval.models')) else 3)"
)

pytestmark = pytest.mark.slow


def _missing_lmms_eval() -> str | None:
    """Why lmms-eval cannot run here, or None."""
    probe = subprocess.run([LMMS_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=300, check=False)
    if probe.returncode == 0:
        return None
    if probe.returncode == 3:
        return f"{LMMS_PYTHON} has lmms-eval but umu-hf is not installed there (pip install -e {REPO})"
    return (
        f"lmms-eval is not importable by {LMMS_PYTHON}; set UMU_LMMS_EVAL_PYTHON to the python of a virtual "
        "environment with lmms-eval and umu-hf installed"
    )


@pytest.fixture(scope="session")
def lmms_python() -> str:
    """The interpreter that runs lmms-eval; the test is skipped, saying why, when it cannot (checked before the
    tiny model is built)."""
    reason = _missing_lmms_eval()
    if reason:
        pytest.skip(reason)
    return LMMS_PYTHON


def _env(tmp_path: Path) -> dict[str, str]:
    """Offline, one thread (both runs do the same float arithmetic), this checkout's umu_hf, a private cache."""
    return {
        **os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
        "GOMP_SPINCOUNT": "1000", "HF_DATASETS_CACHE": str(tmp_path / "datasets-cache"), "PYTHONPATH": str(REPO),
    }


def _run(command: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(command, env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=1200,
                          check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_lmms_eval_scores_equal_umu_hf_eval(lmms_python: str, tiny_model_dir: Path, tmp_path: Path):
    from umu_hf.data.synth import generate_dataset

    data = generate_dataset(tmp_path / "data", 6, 2, seed=1)  # forget05: 1 person, retain95: 5, real: 2
    tasks = export_lmms_eval(str(data), 5, tmp_path / "tasks")
    _run([lmms_python, "-m", "lmms_eval", "--include_path", str(tasks), "--tasks", "umu_bench_forget05",
          "--model", "umu_hf", "--model_args", f"pretrained={tiny_model_dir},device=cpu", "--batch_size", "1",
          "--output_path", str(tmp_path / "lmms"), "--log_samples"], tmp_path)  # fmt: skip
    _run([sys.executable, "-m", "umu_hf.cli", "eval", "--model", str(tiny_model_dir), "--data", str(data),
          "--forget-ratio", "5", "--out", str(tmp_path / "umu"), "--batch-size", "1", "--device", "cpu"],
         tmp_path)  # fmt: skip

    expected = json.loads((tmp_path / "umu" / "results.json").read_text())["sets"]
    (results_file,) = (tmp_path / "lmms").rglob("*_results.json")
    lmms_results = json.loads(results_file.read_text())["results"]
    compared = 0
    for set_name in SETS:
        for task in TASKS:
            for metric in TASK_METRICS[task]:
                got = lmms_results[subtask_name(5, set_name, task)][f"{metric},none"]
                assert got == pytest.approx(expected[set_name][task][metric], abs=1e-9), (set_name, task, metric)
                compared += 1
    assert compared == 36
    assert any(expected[s][t][m] > 0 for s in SETS for t in TASKS for m in TASK_METRICS[t])  # not all zeros

    predictions = {}
    for line in (tmp_path / "umu" / "predictions.jsonl").read_text().splitlines():
        record = json.loads(line)
        predictions[record["id"]] = record["reply"]
    replies = {}
    for samples in (tmp_path / "lmms").rglob("*_samples_*.jsonl"):
        for line in samples.read_text().splitlines():
            sample = json.loads(line)
            metric = next(m for m in ("AccF", "RLF") if m in sample)
            replies[sample[metric]["id"]] = sample[metric]["reply"]
    assert replies == predictions and len(replies) > 200
