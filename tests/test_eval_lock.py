"""Two runs into one ``--out`` of ``umu-hf eval``: the second is refused ("in use by PID …", exit 2) while the
first holds the folder's lock; a crashed holder (``kill -9``) blocks nobody."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from umu_hf.cli import main
from umu_hf.lock import LOCK_FILE, FolderInUseError, FolderLock

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
       "TOKENIZERS_PARALLELISM": "false"}
HOLD = "import sys; from umu_hf.lock import FolderLock; FolderLock(sys.argv[1], 'test holder').acquire(); " \
       "print('locked', flush=True); sys.stdin.read()"


def _holder(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s lock until it is killed (or its stdin closes)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], env=ENV, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _eval_args(model_dir, data_dir, out) -> list[str]:
    return ["eval", "--model", str(model_dir), "--data", str(data_dir), "--forget-ratio", "5", "--out", str(out),
            "--limit", "1", "--sets", "forget", "--device", "cpu", "--dtype", "float32", "--no-progress",
            "--max-new-tokens", "classification=2", "--max-new-tokens", "cloze=2", "--max-new-tokens",
            "generation=2"]


def test_second_eval_into_one_out_is_refused_and_a_crashed_holder_blocks_nobody(
    tiny_model_dir, synth_dir, tmp_path, capsys
):
    out = tmp_path / "eval"
    holder = _holder(out)
    try:
        for extra in ([], ["--overwrite"]):
            assert main(_eval_args(tiny_model_dir, synth_dir, out) + extra) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and f"in use by PID {holder.pid} (test holder" in err[0], err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written beside the other run
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert main(_eval_args(tiny_model_dir, synth_dir, out)) == 0  # the dead holder's lock went with it
    assert (out / "results.json").is_file()


def test_lock_is_exclusive_even_within_one_process_and_released(tmp_path):
    first = FolderLock(tmp_path / "f", "first").acquire()
    with pytest.raises(FolderInUseError, match=rf"in use by PID {os.getpid()} \(first, since"):
        FolderLock(tmp_path / "f", "second").acquire()
    first.release()
    with FolderLock(tmp_path / "f", "second"):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="is a file"):
        FolderLock(tmp_path / "file").acquire()


@pytest.mark.slow
def test_sharded_eval_is_refused_on_every_rank_without_hanging(tiny_model_dir, synth_dir, tmp_path):
    """A 2-process run into a locked folder: rank 0 cannot lock, both ranks stop at once (no barrier wait)."""
    out = tmp_path / "eval"
    holder = _holder(out)
    try:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
                   "umu_hf.cli", *_eval_args(tiny_model_dir, synth_dir, out)]
        done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert done.returncode != 0
    assert done.stderr.count(f"error: {out} is in use by PID {holder.pid}") == 2, done.stderr[-3000:]
