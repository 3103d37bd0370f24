"""Several processes (``accelerate launch`` / ``torchrun``): split the questions, then merge the results.

Design: every process reads the finished predictions, takes every ``world``-th of the *pending* questions (the
same list on every process, so the shards are disjoint and balanced), and appends its own
``predictions.rank{R}.jsonl``. After a barrier, process 0 merges the files into ``predictions.jsonl`` and
writes ``results.json``; the others wait for it at a second barrier. No tensors are exchanged, only files in
``--out`` (which must therefore be on a file system every process sees).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")
#: generous: a process that finishes early waits at the barrier for the slowest one
BARRIER_TIMEOUT = timedelta(hours=12)


@dataclass
class Shard:
    """This process's place in the run: ``rank`` of ``world`` processes."""

    rank: int = 0
    world: int = 1
    device: Any = None  #: the device a multi-process run assigns to this process (None: single process)
    _state: Any = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        """Wait until every process gets here (no-op in a single process)."""
        if self._state is not None:
            self._state.wait_for_everyone()

    def take(self, items: Sequence[T]) -> list[T]:
        """This process's share: every ``world``-th item starting at ``rank``."""
        return list(items[self.rank :: self.world])


def world_size_from_env() -> int:
    """Processes in this run according to the launcher's environment (1 when not launched)."""
    for name in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


def current_shard(device: str = "auto") -> Shard:
    """The shard of this process. Launched as several processes, it initialises ``torch.distributed`` through
    accelerate: gloo when ``device`` is or resolves to the CPU, the accelerator's backend otherwise."""
    world = world_size_from_env()
    if world <= 1:
        return Shard()
    from accelerate import PartialState

    from umu_hf.errors import UmuError
    from umu_hf.models.loading import resolve_device

    on_cpu = resolve_device(device).type == "cpu"
    state = PartialState(cpu=on_cpu, timeout=BARRIER_TIMEOUT)
    if state.num_processes != world:  # never let several processes write the same files unsharded
        raise UmuError(
            f"launched as {world} processes but torch.distributed could not join them (device {device!r}); "
            "launch with torchrun or accelerate launch, and pass --device cpu on a machine without GPUs"
        )
    return Shard(rank=state.process_index, world=state.num_processes, device=state.device, _state=state)
