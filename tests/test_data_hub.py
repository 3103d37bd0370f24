"""The Hub layout: every config loads with `datasets.load_dataset`, split invariants, card, atomic writes."""

from __future__ import annotations

import re

import datasets
import pytest
import yaml

from umu_hf.cli import main
from umu_hf.data import card, hub, schema
from umu_hf.data.hub import check_split_invariants, push_hub_dataset, write_hub_dataset
from umu_hf.data.load import load_umu_split
from umu_hf.data.schema import ALL_CONFIG_NAMES, features
from umu_hf.errors import DataError, UmuError
from umu_hf.evaluation.items import iter_items

EXPECTED_ROWS = {"forget05": 2, "forget10": 4, "forget15": 6, "retain95": 38, "retain90": 36, "retain85": 34,
                 "real": 8, "full": 48, "holdout": 4}  # fmt: skip


@pytest.fixture(scope="module")
def splits(synth_dir) -> dict[str, datasets.Dataset]:
    datasets.disable_progress_bars()
    return {name: datasets.load_dataset(str(synth_dir), name)["train"] for name in ALL_CONFIG_NAMES}


def _ids(split: datasets.Dataset) -> set[int]:
    return set(split["ID"])


def test_every_config_loads_with_load_dataset_and_exact_features(splits):
    for name, split in splits.items():
        assert split.num_rows == EXPECTED_ROWS[name], name
        assert split.features == features(), name
    row = splits["forget05"][0]
    assert row["image"].size == (64, 64)
    assert set(row["Classify"]) == {"unimodal", "multimodal"}


def test_split_invariants_hold(splits):
    fictitious = {
        i for i, s in zip(splits["full"]["ID"], splits["full"]["source"], strict=True) if s == "fictitious"
    }
    for ratio in (5, 10, 15):
        forget, retain = _ids(splits[f"forget{ratio:02d}"]), _ids(splits[f"retain{100 - ratio}"])
        assert not forget & retain
        assert forget | retain == fictitious
    assert _ids(splits["forget05"]) < _ids(splits["forget10"]) < _ids(splits["forget15"])
    assert not _ids(splits["real"]) & fictitious
    assert set(splits["real"]["source"]) == {"real"}
    assert _ids(splits["full"]) == fictitious | _ids(splits["real"])
    assert len(splits["full"]) == len(_ids(splits["full"]))  # rows stored once
    # the holdout: fictitious people in no other config (so in no fine-tuning on `full`)
    holdout = _ids(splits["holdout"])
    assert len(holdout) == 4 and set(splits["holdout"]["source"]) == {"fictitious"}
    assert all(not holdout & _ids(split) for name, split in splits.items() if name != "holdout")


def _card_table(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first markdown table under ``## heading``, as stripped cells."""
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]  # header, ---, body


def test_card_declares_configs_features_and_metric_directions(synth_dir, splits):
    """What the card says is what the data and the scoring do: the header's configs and features load, the
    configs table counts the rows that load, the metrics table names the headline metric and direction that
    umu_hf.scoring uses for every set, and the usage example runs."""
    from umu_hf.scoring import HEADLINE_METRICS, LOWER_IS_BETTER

    text = (synth_dir / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---", 2)[1])
    assert [c["config_name"] for c in meta["configs"]] == list(ALL_CONFIG_NAMES)
    for info in meta["dataset_info"]:
        assert datasets.Features._from_yaml_list(info["features"]) == features()
        assert info["splits"][0]["num_examples"] == EXPECTED_ROWS[info["config_name"]]
    assert sorted(p.name for p in (synth_dir / "data").iterdir()) == sorted(
        f"{part}-00000-of-00001.parquet" for part in (*schema.PARTS, schema.HOLDOUT_PART)
    )

    assert {row[0].strip("`"): int(row[1]) for row in _card_table(text, "Configs")} == {
        name: split.num_rows for name, split in splits.items()
    }
    documented = {}
    for metric, sets, _definition, better in _card_table(text, "Metrics"):
        for set_name in sets.split(", "):
            documented[(metric, set_name)] = better
    assert documented == {
        (metric, set_name): "lower" if metric in LOWER_IS_BETTER else "higher"
        for by_set in HEADLINE_METRICS.values()
        for set_name, metric in by_set.items()
    }

    (usage,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    namespace: dict = {}
    exec(usage.replace("<this repo or folder>", str(synth_dir)), namespace)
    assert (namespace["forget"].num_rows, namespace["retain"].num_rows) == (
        EXPECTED_ROWS["forget05"], EXPECTED_ROWS["retain95"]
    )

    # the synthetic data's card warns (a block quote) where a card of converted real data has nothing
    sizes = {info["config_name"]: (info["splits"][0]["num_examples"], info["splits"][0]["num_bytes"])
             for info in meta["dataset_info"]}  # fmt: skip
    plain = card.render_card(sizes).splitlines()
    warning = [line for line in card.render_card(sizes, synthetic=True).splitlines() if line not in plain]
    assert warning and all(line.startswith(">") for line in warning if line), warning
    assert set(warning) <= set(text.splitlines())


def test_load_umu_split_and_eval_items(synth_dir):
    split = load_umu_split(synth_dir, "forget10")
    assert split.num_rows == 4
    items = list(iter_items(split, "forget"))
    assert len(items) == 4 * 3 * 6 * 2  # profiles x tasks x facts x modalities
    uni, multi = items[0], items[1]
    assert uni.task == "classification" and (uni.modality, multi.modality) == ("unimodal", "multimodal")
    assert uni.key == multi.key and uni.pair_key() == multi.pair_key()
    assert uni.profile_id == split[uni.row]["ID"]
    cloze = list(iter_items(split, "forget", tasks=["cloze"]))
    assert len(cloze) == 48 and {item.task for item in cloze} == {"cloze"}


def test_sharding_splits_large_parts_and_still_loads(tmp_path, synth_rows):
    forget = {5: [0], 10: [0, 1], 15: [0, 1, 2]}
    out = write_hub_dataset(
        synth_rows[:10] + synth_rows[-1:], tmp_path / "sharded", forget, max_shard_bytes=20_000
    )
    shards = sorted(p.name for p in (out / "data").glob("retain85-*.parquet"))
    assert len(shards) > 1 and shards[0].endswith(f"-of-{len(shards):05d}.parquet")
    assert load_umu_split(out, "retain85")["ID"] == list(range(3, 10))
    assert load_umu_split(out, "retain95")["ID"] == list(range(1, 10))


@pytest.mark.parametrize(
    ("forget", "needle"),
    [
        ({5: [0], 10: [1, 2], 15: [0, 1, 2]}, "nested"),
        ({5: [0], 10: [0, 1], 15: [0, 1, 47]}, "not a fictitious profile"),
        ({5: [0], 10: [0, 1], 15: [0, 1, 999]}, "not a fictitious profile"),
        ({5: [0], 10: [0, 1]}, "ratio 15"),
        ({5: [], 10: [0, 1], 15: [0, 1, 2]}, "empty"),
        ({5: [0], 10: [0, 1], 20: [0, 1, 2]}, "unknown forget ratio"),
        ({5: [0], 10: [0, 1], 15: list(range(40))}, "retain set would be empty"),
    ],
)
def test_write_checks_split_invariants(tmp_path, synth_rows, forget, needle):
    with pytest.raises(UmuError, match=needle):
        write_hub_dataset(synth_rows, tmp_path / "bad", forget)
    assert not (tmp_path / "bad").exists()


def test_write_checks_rows(tmp_path, synth_rows):
    forget = {5: [0], 10: [0, 1], 15: [0, 1, 2]}
    broken = [dict(row) for row in synth_rows]
    broken[3] = {**broken[3], "Cloze": {"unimodal": broken[3]["Cloze"]["unimodal"], "multimodal": []}}
    with pytest.raises(DataError, match=r"row 3 \(ID 3\), field Cloze: 6 unimodal items but 0 multimodal"):
        write_hub_dataset(broken, tmp_path / "bad", forget)
    with pytest.raises(DataError, match="appears twice"):
        write_hub_dataset([*synth_rows, synth_rows[0]], tmp_path / "bad", forget)
    assert check_split_invariants([0, 1, 2, 3], {"5": [0], "10%": [0, 1], 15: [2, 1, 0]}) == {
        5: [0], 10: [0, 1], 15: [0, 1, 2]
    }  # fmt: skip


def test_interrupted_write_leaves_nothing_that_loads(tmp_path, synth_rows, monkeypatch):
    forget = {5: [0], 10: [0, 1], 15: [0, 1, 2]}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # the parquet shards are written by now; the card is not

    monkeypatch.setattr(hub, "render_card", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_hub_dataset(synth_rows, tmp_path / "out", forget)
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary folder


def test_overwrite_replaces_atomically(tmp_path, synth_rows):
    forget = {5: [0], 10: [0, 1], 15: [0, 1, 2]}
    out = write_hub_dataset(synth_rows[:20] + synth_rows[-2:], tmp_path / "out", forget)
    with pytest.raises(UmuError, match="already exists"):
        write_hub_dataset(synth_rows, out, forget)
    write_hub_dataset(synth_rows, out, forget, overwrite=True)
    assert load_umu_split(out, "full").num_rows == 48
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_sources_and_configs(tmp_path, synth_dir, capsys):
    with pytest.raises(DataError, match="neither a Hub-layout dataset"):
        load_umu_split(tmp_path, "full")
    with pytest.raises(DataError, match="no such folder"):
        load_umu_split(tmp_path / "missing" / "deeper" / "x", "full")
    with pytest.raises(UmuError, match="unknown config 'everything'"):
        load_umu_split(synth_dir, "everything")
    assert main(["data", "info", str(tmp_path), "--config", "full"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path) in err[0]


def _minimal_hub_folder(tmp_path):
    """A folder that passes the Hub-layout check (the repo id check comes next, before any network)."""
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "README.md").write_text("---\nconfigs:\n- config_name: full\n---\n", encoding="utf-8")
    return tmp_path / "ok"


def test_push_refuses_bad_folders_and_repo_ids(tmp_path, capsys):
    with pytest.raises(DataError, match="configs"):
        push_hub_dataset(tmp_path, "org/name")
    assert main(["data", "push", str(tmp_path / "nope"), "--repo-id", "org/name"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]
    with pytest.raises(UmuError, match="expected ORG/NAME"):
        push_hub_dataset(_minimal_hub_folder(tmp_path), "not a repo id")
