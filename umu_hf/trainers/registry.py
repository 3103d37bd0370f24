"""Name → (Trainer, Config) for every unlearning method; the one list the CLI, scripts and bench read."""

from __future__ import annotations

from umu_hf.errors import UmuError
from umu_hf.trainers.base import UnlearnConfig, UnlearnTrainer
from umu_hf.trainers.methods.ce_u import CEUConfig, CEUTrainer
from umu_hf.trainers.methods.ga import GAConfig, GATrainer
from umu_hf.trainers.methods.gd import GDConfig, GDTrainer
from umu_hf.trainers.methods.idk_dpo import IdkDPOConfig, IdkDPOTrainer
from umu_hf.trainers.methods.kl import KLConfig, KLTrainer
from umu_hf.trainers.methods.npo import NPOConfig, NPOTrainer
from umu_hf.trainers.methods.pdu import PDUConfig, PDUTrainer
from umu_hf.trainers.methods.po import POConfig, POTrainer
from umu_hf.trainers.methods.rmu import RMUConfig, RMUTrainer
from umu_hf.trainers.methods.satimp import SatImpConfig, SatImpTrainer
from umu_hf.trainers.methods.simnpo import SimNPOConfig, SimNPOTrainer
from umu_hf.trainers.methods.undial import UNDIALConfig, UNDIALTrainer
from umu_hf.trainers.methods.wga import WGAConfig, WGATrainer

METHODS: dict[str, tuple[type[UnlearnTrainer], type[UnlearnConfig]]] = {
    "ga": (GATrainer, GAConfig),
    "gd": (GDTrainer, GDConfig),
    "kl": (KLTrainer, KLConfig),
    "po": (POTrainer, POConfig),
    "npo": (NPOTrainer, NPOConfig),
    "simnpo": (SimNPOTrainer, SimNPOConfig),
    "idk_dpo": (IdkDPOTrainer, IdkDPOConfig),
    "wga": (WGATrainer, WGAConfig),
    "satimp": (SatImpTrainer, SatImpConfig),
    "ce_u": (CEUTrainer, CEUConfig),
    "pdu": (PDUTrainer, PDUConfig),
    "rmu": (RMUTrainer, RMUConfig),
    "undial": (UNDIALTrainer, UNDIALConfig),
}
#: the methods of the original benchmark
ORIGINAL_METHODS = ("ga", "gd", "kl", "po", "npo")


def get_method(name: str) -> tuple[type[UnlearnTrainer], type[UnlearnConfig]]:
    """(Trainer class, Config class) of a method; a clear error lists the known ones."""
    key = name.strip().lower().replace("-", "_")
    if key not in METHODS:
        raise UmuError(f"unknown unlearning method {name!r}; known methods: {', '.join(METHODS)}")
    return METHODS[key]
