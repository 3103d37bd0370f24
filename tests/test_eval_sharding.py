"""Two CPU processes (torchrun, gloo) share the questions and merge into the same files as a single process.

The sharded run starts from an interrupted single-process run (a truncated ``predictions.jsonl``) plus a stale
shard file of an earlier crashed two-process run, so it also proves that every process reads all finished
predictions and that rank 0 merges them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import assert_same_predictions

from umu_hf.evaluation import store
from umu_hf.evaluation.runner import EvalRequest, evaluate_model

pytestmark = pytest.mark.slow  # two torchrun processes
BUDGETS = {"classification": 4, "cloze": 4, "generation": 6}


def _single(model_dir, data_dir, out, loaded, on_batch=None):
    request = EvalRequest(
        str(model_dir),
        str(data_dir),
        10,
        out,
        batch_size=4,
        limit=1,
        device="cpu",
        dtype="float32",
        classification_scoring="loglik",
        max_new_tokens=BUDGETS,
    )
    return evaluate_model(request, loaded=loaded, progress=False, on_batch=on_batch)


def test_two_process_run_equals_single_process_run(tiny_model_dir, synth_dir, tmp_path):
    from umu_hf.models.loading import load_model

    loaded = load_model(str(tiny_model_dir), "cpu", "float32")
    single = _single(tiny_model_dir, synth_dir, tmp_path / "single", loaded)
    expected = (tmp_path / "single" / store.PREDICTIONS).read_text()

    out = tmp_path / "sharded"

    def crash(n_batches: int) -> None:
        if n_batches == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _single(tiny_model_dir, synth_dir, out, loaded, on_batch=crash)
    main = out / store.PREDICTIONS
    main.write_bytes(main.read_bytes()[:-10])
    # a stale shard of an earlier two-process run that crashed mid-write: records not in the main file
    done = {r["id"] for r in store.read_records(main)}
    stale = [line for line in expected.splitlines() if json.loads(line)["id"] not in done][-3:]
    store.shard_path(out, 1).write_text("\n".join(stale)[:-7])

    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "umu_hf.cli",
        "eval",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(synth_dir),
        "--forget-ratio",
        "10",
        "--out",
        str(out),
        "--batch-size",
        "4",
        "--limit",
        "1",
        "--device",
        "cpu",
        "--dtype",
        "float32",
        "--classification-scoring",
        "loglik",
        "--no-progress",
        *[f"--max-new-tokens={task}={n}" for task, n in BUDGETS.items()],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("results:") == 1  # only rank 0 reports

    assert_same_predictions(
        [json.loads(line) for line in main.read_text().splitlines()],
        [json.loads(line) for line in expected.splitlines()],
    )
    assert not list(out.glob("predictions.rank*"))
    sharded = json.loads((out / store.RESULTS).read_text())
    assert sharded["settings"].pop("processes") == 2 and single["settings"].pop("processes") == 1
    assert sharded == single
