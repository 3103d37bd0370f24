"""Fully sharded training (PyTorch FSDP2) for every UMU-Bench trainer: the one place that knows about it.

Two things the stock Trainer + accelerate stack does not do by itself:

* **FSDP2 on CPU.** accelerate 1.15 switches FSDP on only for accelerator device types (CUDA, XPU, NPU, …); on a
  CPU run under ``torchrun`` (gloo) the FSDP plugin the Trainer built is dropped and the run silently becomes
  plain DDP. :func:`enable_fsdp` puts the plugin back, so ``--fsdp --fsdp_config trainers/accelerate/fsdp2.json``
  means the same thing on CPU (the test suite) as on GPUs; a run that asked for FSDP and cannot get it stops.
* **The reference p_ref.** With LoRA the reference is the same sharded network with the adapter switched off
  (peft's ``disable_adapter`` flips a flag on each LoRA layer; FSDP2 leaves the module tree in place, so it works
  on the sharded model: checked by the two-rank tests). Without LoRA there is no adapter to switch off: the
  frozen reference copy is sharded the same way (:func:`shard_reference`), so it costs ``1/world_size`` of the
  weights per rank instead of a full copy, and the log says so once.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from umu_hf.errors import UmuError

logger = logging.getLogger(__name__)


def fsdp_requested(args: Any) -> bool:
    """True when the training arguments ask for FSDP (``--fsdp``)."""
    return bool(getattr(args, "fsdp", None)) and getattr(args, "fsdp_plugin_args", None) is not None


def enable_fsdp(trainer: Any) -> None:
    """After the Trainer built its accelerator: make a CPU multi-process run use the FSDP plugin it asked for.

    accelerate's state keeps ``MULTI_CPU`` (DDP) for CPU processes whatever plugin it is given; switching the shared
    state to ``FSDP`` with the Trainer's plugin makes ``accelerator.prepare`` call ``fully_shard`` (FSDP2), which
    runs on CPU with gloo. Any other way FSDP can be missing is an error rather than a silent DDP run.
    """
    args = trainer.args
    if not fsdp_requested(args) or trainer.is_fsdp_enabled:
        return
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = trainer.accelerator.state
    if state.distributed_type != DistributedType.MULTI_CPU:
        raise UmuError(
            f"--fsdp was given but accelerate runs this job as {state.distributed_type.value}; launch several "
            "processes (torchrun --nproc_per_node N or accelerate launch --num_processes N)"
        )
    plugin_args = dict(args.fsdp_plugin_args)
    if int(plugin_args.get("fsdp_version", 2)) != 2:
        raise UmuError("FSDP on CPU needs fsdp_config version 2 (FSDP2, fully_shard); FSDP1 needs GPUs")
    state.fsdp_plugin = FullyShardedDataParallelPlugin(**plugin_args)
    state.distributed_type = DistributedType.FSDP
    # as accelerate does for its own FSDP: a later AcceleratorState() copies PartialState's type back over it
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    trainer.is_fsdp_enabled = True
    logger.info("FSDP2 on CPU (gloo): sharding over %d processes", state.num_processes)


def is_sharded(model: Any) -> bool:
    """True when some module of ``model`` is an FSDP2 ``fully_shard`` module."""
    return any(_is_fsdp(m) for m in model.modules())


def shard_reference(trainer: Any, ref_model: Any) -> Any:
    """The frozen reference copy, sharded as the trained model is (FSDP2 on each transformer layer, then the
    root), without gradients or optimiser state; unchanged when the run is not sharded.

    Under FSDP each rank then holds ``1/world_size`` of the reference weights, and the reference forward gathers
    each layer's weights for the moment it runs, exactly as the trained model's forward does.
    """
    if not trainer.is_fsdp_enabled:
        return ref_model
    from accelerate.utils.fsdp_utils import fsdp2_prepare_model

    ref_model.eval().requires_grad_(False)
    ref_model = fsdp2_prepare_model(trainer.accelerator, ref_model)  # the very wrapping the trained model gets
    layers = sum(1 for m in ref_model.modules() if _is_fsdp(m))
    logger.warning(
        "%s without LoRA under FSDP2: the reference p_ref is a frozen copy sharded over %d ranks (%d FSDP units); "
        "train with LoRA to use the adapter-off reference instead", trainer.method,
        trainer.accelerator.num_processes, layers,
    )
    return ref_model


def reshard(model: Any) -> None:
    """Free the gathered weights of every FSDP2 unit of ``model`` (no-op unsharded). accelerate leaves the last unit
    (final norm + LM head) gathered after a forward, for the backward that follows; a frozen reference has no
    backward, so without this each rank would keep that unit whole."""
    for module in model.modules():
        if _is_fsdp(module):
            module.reshard()


def _is_fsdp(module: torch.nn.Module) -> bool:
    """True for a module ``fully_shard`` turned into an FSDP2 unit."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)
