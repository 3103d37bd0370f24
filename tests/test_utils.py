"""umu_hf.utils: atomic writes never leave half a file or folder, one-line error texts, the dtype check."""

from __future__ import annotations

import json

import pytest

from umu_hf.errors import UmuError
from umu_hf.utils import (
    DTYPES,
    atomic_dir,
    atomic_write_bytes,
    atomic_write_text,
    check_dtype,
    one_line,
    replace_dir,
    write_json,
)


class _Boom(Exception):
    pass


def _fail(*args):
    raise _Boom


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    atomic_write_text(target, "old")
    monkeypatch.setattr("umu_hf.utils.os.fsync", _fail)
    with pytest.raises(_Boom):
        atomic_write_bytes(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left


def test_write_json_is_strict_and_readable(tmp_path):
    write_json(tmp_path / "deep" / "r.json", {"nan": float("nan"), "inf": [float("-inf")], "name": "Zoë"})
    text = (tmp_path / "deep" / "r.json").read_text(encoding="utf-8")
    assert json.loads(text) == {"nan": None, "inf": [None], "name": "Zoë"} and text.endswith("}\n")


def test_atomic_dir_replaces_the_old_folder_only_on_success(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out) as tmp:
        (tmp / "v").write_text("1")
    with pytest.raises(_Boom), atomic_dir(out) as tmp:
        (tmp / "v").write_text("2")
        raise _Boom
    assert (out / "v").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with atomic_dir(out) as tmp:
        (tmp / "w").write_text("3")
    assert sorted(p.name for p in out.iterdir()) == ["w"] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_replace_dir_over_a_file(tmp_path):
    (tmp_path / "new").mkdir()
    (tmp_path / "out").write_text("a file")
    replace_dir(tmp_path / "new", tmp_path / "out")
    assert (tmp_path / "out").is_dir() and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_one_line_and_check_dtype():
    assert one_line(OSError("a\n\tb   c")) == "a b c" and len(one_line("x " * 500)) == 200
    assert [check_dtype(d) for d in DTYPES] == list(DTYPES)
    with pytest.raises(UmuError, match="unknown --model_dtype 'half'; use one of auto, float32"):
        check_dtype("half", "--model_dtype")


def test_close_process_group_destroys_the_group(monkeypatch):
    """A one-process gloo group is waited on and destroyed; without a group it does nothing."""
    import torch.distributed as dist
    from helpers import free_port

    from umu_hf.utils import close_process_group

    close_process_group()  # nothing initialised: a no-op
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    dist.init_process_group("gloo", rank=0, world_size=1)
    assert dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()


def test_close_process_group_lets_go_of_fsdp2_meshes(monkeypatch):
    """After a sharded forward and backward, DTensor's caches hold the device mesh and through it the gloo group;
    close_process_group leaves no mesh alive, so the group is not freed at interpreter exit (pytorch#179291)."""
    import gc

    import torch
    import torch.distributed as dist
    from helpers import free_port
    from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
    from torch.distributed.fsdp import fully_shard

    from umu_hf.utils import close_process_group

    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    dist.init_process_group("gloo", rank=0, world_size=1)
    model = fully_shard(torch.nn.Linear(4, 4), mesh=init_device_mesh("cpu", (1,)))
    model(torch.ones(2, 4)).sum().backward()
    del model
    gc.collect()
    assert any(isinstance(obj, DeviceMesh) for obj in gc.get_objects())  # the caches keep it
    close_process_group()
    assert not dist.is_initialized()
    assert not any(isinstance(obj, DeviceMesh) for obj in gc.get_objects())
