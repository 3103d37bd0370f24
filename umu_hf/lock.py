"""One run at a time per output folder: an OS-level lock on ``FOLDER/.umu-lock``.

The lock is ``fcntl.flock`` on the open lock file: the operating system releases it when its holder exits, however
it exits (``kill -9`` included), so a crashed run never blocks the next one. The file itself stays (deleting it
would let two runs lock two different files) and names its last holder: a second run is refused with "in use by
PID …". A multi-process run (``torchrun``) is one logical run: rank 0 holds the lock and tells every rank
whether it got it, so all of them go on or all refuse.

    with folder_lock(out, "umu-hf eval"):
        ...  # nobody else writes into out meanwhile
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from umu_hf.errors import UmuError

logger = logging.getLogger(__name__)
LOCK_FILE = ".umu-lock"


class FolderInUseError(UmuError):
    """Another run holds the folder's lock."""


class FolderLock:
    """An exclusive, non-blocking lock on ``folder`` (created if missing) for one run of ``command``."""

    def __init__(self, folder: str | os.PathLike, command: str = "umu-hf") -> None:
        self.folder = Path(folder)
        self.command = command
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def acquire(self) -> FolderLock:
        """Take the lock or raise :class:`FolderInUseError` naming the holder; returns ``self``."""
        try:
            import fcntl
        except ImportError:  # not POSIX: run unlocked rather than not at all
            logger.warning("no fcntl on this system: %s is not locked against a second run", self.folder)
            return self
        if self.folder.exists() and not self.folder.is_dir():
            raise UmuError(f"--out {self.folder} is a file; give a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderInUseError(
                f"{self.folder} is in use by {self.holder()}; wait for it to finish or use another --out"
            ) from None
        except OSError as exc:  # a file system without locks (some network mounts)
            os.close(fd)
            logger.warning("cannot lock %s (%s): it is not protected against a second run", self.path, exc)
            return self
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())
        self._fd = fd
        return self

    def holder(self) -> str:
        """``"PID 123 (umu-hf eval, since …)"`` from the lock file, as far as it says."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return "another process (PID unknown)"
        if not isinstance(info, Mapping):
            return "another process (PID unknown)"
        host = f" on {info['host']}" if info.get("host") not in (None, socket.gethostname()) else ""
        return f"PID {info.get('pid', '?')}{host} ({info.get('command', 'umu-hf')}, since {info.get('since', '?')})"

    def release(self) -> None:
        """Let go of the lock (the file stays); a no-op when not held."""
        if self._fd is None:
            return
        import fcntl

        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, command: str, shard: Any = None) -> Iterator[None]:
    """Hold ``folder``'s lock for the ``with`` block.

    ``shard`` (:class:`umu_hf.evaluation.sharding.Shard` or anything with ``is_main`` and ``distributed``): in a
    multi-process run rank 0 takes the lock and broadcasts the outcome, so every rank proceeds or every rank
    raises the same :class:`FolderInUseError`.
    """
    if shard is None or not getattr(shard, "distributed", False):
        with FolderLock(folder, command):
            yield
        return
    import torch.distributed as dist

    lock, error = FolderLock(folder, command), None
    if shard.is_main:
        try:
            lock.acquire()
        except UmuError as exc:
            error = exc
    box = [str(error) if error is not None else None]
    dist.broadcast_object_list(box, src=0)
    if error is not None:
        raise error
    if box[0] is not None:
        raise FolderInUseError(box[0])
    try:
        yield
    finally:
        lock.release()

