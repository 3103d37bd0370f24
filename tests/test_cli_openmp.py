"""The CLI's OpenMP default: a short spin unless the user chose (see :mod:`umu_hf.cli`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = (
    "import os\nfrom umu_hf.cli import main\nmain(['data'])\n"
    "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'))"
)


@pytest.mark.parametrize(
    ("given", "seen"),
    [
        ({}, "1000 None"),
        ({"GOMP_SPINCOUNT": "5"}, "5 None"),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, "None ACTIVE"),
    ],
)
def test_short_openmp_spin_unless_the_user_chose(given, seen):
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(given, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == seen
