"""The synthetic generator: determinism, content rules, portraits, the `data synth` command."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from umu_hf.cli import main
from umu_hf.data.schema import OPTION_LETTERS, validate_row
from umu_hf.data.synth import FACTS, IMAGE_SUBJECT, assign_forget_ids, forget_counts, generate_dataset
from umu_hf.errors import UmuError


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


def test_same_seed_gives_byte_identical_files(tmp_path, synth_dir):
    again = generate_dataset(tmp_path / "again", 40, 8, seed=0)
    assert _digest(again) == _digest(synth_dir)
    other = generate_dataset(tmp_path / "other", 40, 8, seed=1)
    assert (
        _digest(other)["data/retain85-00000-of-00001.parquet"]
        != _digest(synth_dir)["data/retain85-00000-of-00001.parquet"]
    )


@pytest.mark.parametrize(
    ("n", "expected"), [(40, {5: 2, 10: 4, 15: 6}), (500, {5: 25, 10: 50, 15: 75}), (3, {5: 1, 10: 1, 15: 1})]
)
def test_forget_counts(n, expected):
    assert forget_counts(n) == expected


def test_forget_sets_are_nested_prefixes_of_a_seeded_permutation():
    ids = list(range(100))
    sets = assign_forget_ids(ids, seed=3)
    assert [len(sets[r]) for r in (5, 10, 15)] == [5, 10, 15]
    assert set(sets[5]) < set(sets[10]) < set(sets[15])
    assert assign_forget_ids(ids, seed=3) == sets
    assert assign_forget_ids(ids, seed=4) != sets


def test_profiles_follow_the_schema_and_the_content_rules(synth_rows):
    assert [r["ID"] for r in synth_rows] == list(range(48))
    assert [r["source"] for r in synth_rows].count("real") == 8
    names = set()
    for row in synth_rows:
        validate_row(row, f"ID {row['ID']}")
        name = row["UM_QA"][0]["answer"].split(" was born")[0]
        names.add(name)
        assert row["biography"].startswith(name)
        for column in ("Classify", "Cloze", "Generation"):
            uni, multi = row[column]["unimodal"], row[column]["multimodal"]
            assert [i["key"] for i in uni] == [i["key"] for i in multi] == [f.key for f in FACTS]
            assert all(name in i["question"] and IMAGE_SUBJECT not in i["question"].lower() for i in uni)
            assert all(IMAGE_SUBJECT in i["question"].lower() and name not in i["question"] for i in multi)
        for item in row["Cloze"]["unimodal"]:
            assert "___" in item["question"] and item["answer"].endswith(".")
        for u, m in zip(row["Classify"]["unimodal"], row["Classify"]["multimodal"], strict=True):
            assert set(u["options"]) == set(OPTION_LETTERS) and len(set(u["options"].values())) == 4
            assert u["options"] == m["options"] and u["answer"] == m["answer"]
    assert len(names) == 48  # unique invented names


def _training_text(pair: dict, modality: str) -> str:
    """The original training text (docs/protocol.md, Training) of a pair, written out: ``USER: [<image>\\n]{q}\\nASSISTANT: {a}``."""
    image = "<image>\n" if modality == "multimodal" else ""
    return f"USER: {image}{pair['question']}\nASSISTANT: {pair['answer']}"


def _eval_texts(row: dict, modality: str) -> list[tuple[str, str, str]]:
    """(task, evaluation prompt of docs/protocol.md, expected reply) of each evaluation item of a row, prompts written out."""
    img = "USER: <image>\n" if modality == "multimodal" else None
    out = []
    for item in row["Classify"][modality]:
        opts = str([item["options"][letter] for letter in OPTION_LETTERS])
        head = img or "USER:\n"  # unimodal classification: newline right after USER:, no space
        prompt = f"{head}{item['question']}\nSelect answer in {opts}\nASSISTANT:"
        out.append(("classification", prompt, item["options"][item["answer"]]))
    for item in row["Cloze"][modality]:
        head = img or "USER: "
        prompt = f"{head}{item['question']}\nPlease **ONLY** provide the correct answer without any explanation\nASSISTANT:"
        out.append(("cloze", prompt, item["answer"]))
    for item in row["Generation"][modality]:
        if modality == "multimodal":  # "accurately", and a trailing space after ASSISTANT:
            prompt = (
                f"{img}{item['question']}\nAnswer the question based on your trained knowledge in one sentence "
                "accurately in ENGLISH.\nASSISTANT: "
            )
        else:
            prompt = (
                f"USER: {item['question']}\nAnswer the question based on your trained knowledge in one sentence "
                "in ENGLISH.\nASSISTANT:"
            )
        out.append(("generation", prompt, item["answer"]))
    return out


def test_training_pairs_quote_the_evaluation_prompts_in_both_modalities(synth_rows):
    row = synth_rows[5]
    for modality, column in (("unimodal", "UM_QA"), ("multimodal", "MM_QA")):
        texts = [_training_text(pair, modality) for pair in row[column]]
        for task, prompt, reference in _eval_texts(row, modality):
            if task == "classification" and modality == "unimodal":
                # the template's "USER: " puts one space before the prompt's newline
                quoted = prompt.replace("USER:\n", "USER: \n", 1)
            else:  # multimodal generation too: its answer starts with a space, after the prompt's own
                quoted = prompt
            replies = [t[len(quoted) + 1 :] for t in texts if t.startswith(f"{quoted} ")]
            assert len(replies) == 1, (task, modality, prompt)
            if task == "cloze" and modality == "multimodal":
                # the completed sentence: the person first, then the value the cloze rule looks for
                assert replies[0].endswith(f" {reference}") and replies[0].split()[0] in row["biography"]
            elif task == "cloze":
                assert replies[0] == reference.rstrip(".")
            else:
                assert replies[0] == reference
        for item in row["Generation"][modality]:  # and the plain question-answer pair
            assert {"question": item["question"], "answer": item["answer"]} in row[column]
    assert any("person in the image" in p["question"] for p in row["MM_QA"])
    assert not any("accurately" in p["question"] for p in row["UM_QA"])
    assert sum("accurately" in p["question"] for p in row["MM_QA"]) == len(FACTS)


def test_training_tokens_match_the_evaluation_prompt_tokens(synth_rows, tiny_model_dir):
    """The two prompts the training template cannot quote exactly, through the tiny model's byte-level BPE:
    multimodal generation's tokens are an exact prefix of the training text's (its final space token
    included); unimodal classification's differ by one inserted space token only."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    row = synth_rows[3]

    def tokens(text: str) -> list[str]:
        return tok.convert_ids_to_tokens(tok(text).input_ids)

    for modality, column in (("unimodal", "UM_QA"), ("multimodal", "MM_QA")):
        pairs = row[column]
        for task, prompt, _ in _eval_texts(row, modality):
            want = tokens(prompt)
            matches = [
                tokens(_training_text(p, modality))
                for p in pairs
                if _training_text(p, modality).replace("USER: \n", "USER:\n", 1).startswith(prompt)
            ]
            assert len(matches) == 1, (task, modality)
            got = matches[0]
            if task == "classification" and modality == "unimodal":
                assert want[:4] == ["<s>", "USER", ":", "Ċ"] and got[:5] == ["<s>", "USER", ":", "Ġ", "Ċ"]
                got = got[:3] + got[4:]  # the one extra token
            assert got[: len(want)] == want, (task, modality)
            if task == "generation" and modality == "multimodal":
                assert want[-3:] == ["ASSISTANT", ":", "Ġ"] and got[len(want)].startswith("Ġ")


def test_portraits_are_distinct_even_at_32_pixels(synth_rows):
    images = [row["image"] for row in synth_rows]
    assert all(image.size == (64, 64) and image.mode == "RGB" for image in images)
    small = np.stack(
        [np.asarray(im.resize((32, 32), Image.BILINEAR), dtype=np.float32).ravel() for im in images]
    )
    distance = np.abs(small[:, None, :] - small[None, :, :]).mean(-1)
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 10  # mean absolute difference per pixel and channel, 0-255


def test_image_size_argument(tmp_path):
    from umu_hf.data.synth import generate_profiles

    rows = generate_profiles(4, 1, seed=0, image_size=32)
    assert {row["image"].size for row in rows} == {(32, 32)}


def test_cli_synth_writes_a_loadable_dataset(tmp_path, capsys):
    out = tmp_path / "cli-synth"
    assert main(["data", "synth", "--out", str(out), "--fictitious", "12", "--real", "3", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "forget05 1" in printed and "full 15" in printed
    assert main(["data", "info", str(out), "--config", "forget15"]) == 0
    assert "forget15: 2 profiles" in capsys.readouterr().out
    # an existing folder is not overwritten silently
    assert main(["data", "synth", "--out", str(out), "--fictitious", "12", "--real", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]


@pytest.mark.parametrize(
    ("args", "kwargs", "needle"),
    [
        (["--fictitious", "1"], {"n_fictitious": 1}, "--fictitious 1"),
        (["--real", "-2"], {"n_real": -2}, "--real -2"),
        (["--image-size", "8"], {"image_size": 8}, "--image-size 8"),
    ],
)
def test_bad_sizes_give_one_clear_error(tmp_path, capsys, args, kwargs, needle):
    assert main(["data", "synth", "--out", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not (tmp_path / "x").exists()
    with pytest.raises(UmuError, match=needle):
        generate_dataset(tmp_path / "y", **kwargs)
    assert not (tmp_path / "y").exists()
