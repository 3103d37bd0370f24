"""``--batch-size auto``: a larger batch for small models, the old default for large ones, recorded in the
results, and never a different reply."""

from __future__ import annotations

import json

import pytest
import torch

from umu_hf.cli import build_parser, main
from umu_hf.errors import UmuError
from umu_hf.evaluation import batching, runner, store

BUDGETS = {"classification": 4, "cloze": 4, "generation": 8}


class _Sized(torch.nn.Module):
    """A model of ``n`` parameters that takes no memory (meta tensors)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(n, device="meta"))


def test_auto_batch_size_depends_on_the_model_size():
    assert batching.resolve_batch_size("auto", _Sized(5_000_000)) == batching.AUTO_BATCH_SMALL == 64
    assert batching.resolve_batch_size("auto", _Sized(7_000_000_000)) == batching.AUTO_BATCH_DEFAULT == 8
    assert batching.resolve_batch_size(3, _Sized(7_000_000_000)) == 3
    for bad in (0, -2, 1.5, "big", True):
        with pytest.raises(UmuError, match="batch_size"):
            batching.resolve_batch_size(bad, _Sized(1))


def test_cli_batch_size(capsys):
    parser = build_parser()
    common = ["eval", "--model", "m", "--data", "d", "--forget-ratio", "5", "--out", "o"]
    assert parser.parse_args(common).batch_size == "auto"
    assert parser.parse_args([*common, "--batch-size", "AUTO"]).batch_size == "auto"
    assert parser.parse_args([*common, "--batch-size", "16"]).batch_size == 16
    for bad in ("0", "-1", "many"):
        with pytest.raises(SystemExit) as exit_:
            main([*common, "--batch-size", bad])
        assert exit_.value.code == 2
        assert "positive integer or auto" in capsys.readouterr().err


@pytest.mark.slow
def test_auto_batch_equals_one_by_one_and_is_recorded(tiny_model_dir, synth_dir, tmp_path):
    from umu_hf.models.loading import load_model

    loaded = load_model(str(tiny_model_dir), "cpu", "float32")
    runs = {}
    for batch_size in ("auto", 1):
        out = tmp_path / f"bs-{batch_size}"
        request = runner.EvalRequest(
            str(tiny_model_dir), str(synth_dir), 5, out, batch_size=batch_size, limit=6,
            sets=("forget", "real"), max_new_tokens=BUDGETS,
        )  # fmt: skip
        runs[batch_size] = runner.evaluate_model(request, loaded=loaded, progress=False)
        runs[batch_size]["lines"] = (out / store.PREDICTIONS).read_text().splitlines()
    auto, single = runs["auto"], runs[1]
    assert auto["settings"]["batch_size"] == 64 and auto["settings"]["batch_size_auto"] is True
    assert single["settings"]["batch_size"] == 1 and single["settings"]["batch_size_auto"] is False
    assert len(auto["lines"]) == 2 * 3 * 6 * 2
    assert [json.loads(line) for line in auto["lines"]] == [json.loads(line) for line in single["lines"]]
    assert auto["headline"] == single["headline"] and auto["sets"] == single["sets"]
