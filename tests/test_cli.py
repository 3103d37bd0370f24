"""The top-level ``umu-hf`` parser: every command group is there, and one that cannot be imported is an error."""

from __future__ import annotations

import sys

import pytest

from umu_hf import cli


def _commands(parser) -> set[str]:
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices)


def test_every_command_group_is_registered():
    assert _commands(cli.build_parser()) == {
        "data", "model", "eval", "relearn", "finetune", "unlearn", "metrics", "bench", "hub", "export",
        "space",
    }


def test_a_command_module_that_fails_to_import_raises(monkeypatch):
    """It used to be skipped silently, so a broken group just vanished from ``umu-hf --help``."""
    monkeypatch.setitem(sys.modules, "umu_hf.space.cli", None)  # importing it raises ModuleNotFoundError
    with pytest.raises(ModuleNotFoundError, match="umu_hf.space.cli"):
        cli.build_parser()
    monkeypatch.setattr(cli, "_COMMAND_MODULES", (*cli._COMMAND_MODULES[:-1], "umu_hf.no_such_group.cli"))
    with pytest.raises(ModuleNotFoundError, match="umu_hf.no_such_group"):
        cli.build_parser()
