"""Builders and checks that several test modules share (fixtures live in conftest.py).

Test modules import from here (``from helpers import ...``; tests/ is on ``sys.path`` under pytest), never from
each other.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from transformers import TrainerCallback

from umu_hf.data.legacy import LEGACY_MULTIMODAL, LITERAL_COLUMNS, SPLIT_FOLDERS
from umu_hf.data.schema import FORGET_RATIOS, TASK_COLUMNS
from umu_hf.models.tiny import dataset_texts

# --- the evaluate modules ---------------------------------------------------------------------------------------


def run_metric_driver(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``tests/metric_driver.py *args METRICS_ROOT`` in a fresh process, from an empty folder under ``root``, with a
    private HF_HOME and HF_MODULES_CACHE under ``root``, offline, and this checkout's umu_hf first on the path (so
    the test neither reads nor writes the user's cache, and ``metrics install`` copies this checkout's scripts);
    asserts that it succeeded."""
    repo = Path(__file__).resolve().parent.parent
    workdir = root / "cwd"
    workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HF_HOME": str(root / "hf_home"),
        "HF_MODULES_CACHE": str(root / "modules"),
        "HF_HUB_OFFLINE": "1",
        "HF_EVALUATE_OFFLINE": "1",  # evaluate ignores HF_HUB_OFFLINE; skip its Hub probe (speed, hermetic)
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "PYTHONPATH": str(repo),
    }
    proc = subprocess.run(
        [sys.executable, str(repo / "tests" / "metric_driver.py"), *args, str(repo / "metrics")],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


# --- training ---------------------------------------------------------------------------------------------------


class BlowUpAtStep(TrainerCallback):
    """Simulates an exploding step: from optimiser step ``step`` on, the learning rate is infinite, so the
    weights become non-finite."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        if state.global_step + 1 >= self.step:
            for group in optimizer.param_groups:
                group["lr"] = float("inf")


def _legacy_record(row: Mapping[str, Any], answer_style: str, with_biography: bool) -> dict:
    """One schema row as a published-layout record (Python-literal strings, ``muitimodal``)."""
    from umu_hf.data.hub import image_value

    def qa(pairs: list[dict]) -> str:
        return repr(
            {
                "question": {i: p["question"] for i, p in enumerate(pairs)},
                "answer": {i: p["answer"] for i, p in enumerate(pairs)},
            }
        )

    def answer(item: dict, index: int) -> str:
        letter = item["answer"]
        style = answer_style if answer_style != "mixed" else ("letter" if (row["ID"] + index) % 2 else "text")
        return letter if style == "letter" else f"{letter}. {item['options'][letter]}"

    image = image_value(row["image"])
    record = {
        "ID": row["ID"],
        "image": {"bytes": image["bytes"], "path": image["path"] or f"{row['ID']}.png"},
        "MM_QA": qa(row["MM_QA"]),
        "UM_QA": qa(row["UM_QA"]),
    }
    for task, column in TASK_COLUMNS.items():
        parts = {}
        for modality, legacy_name in (("unimodal", "unimodal"), ("multimodal", LEGACY_MULTIMODAL)):
            items = {}
            for index, item in enumerate(row[column][modality]):
                entry = {"question": item["question"]}
                if task == "classification":
                    entry.update(options=dict(item["options"]), answer=answer(item, index))
                else:
                    entry["answer"] = item["answer"]
                items[item["key"]] = entry
            parts[legacy_name] = items
        record[column] = repr(parts)
    if with_biography:
        record["Biography"] = row["biography"]
    return record


def write_legacy_layout(
    rows: Sequence[dict],
    forget_ids: Mapping[Any, Sequence[int]],
    out_dir: str | Path,
    *,
    answer_style: str = "text",
    with_full: bool = False,
    with_biography: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write schema rows in the published layout (docs/protocol.md, Data), atomically; return ``out_dir``.

    ``answer_style``: classification answers as ``"B. text"`` (``"text"``), ``"B"`` (``"letter"``) or
    alternating (``"mixed"``). ``with_full`` adds ``full/`` with every row; ``with_biography`` the
    ``Biography`` column.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from umu_hf.data.hub import atomic_folder, check_split_invariants

    if answer_style not in ("text", "letter", "mixed"):
        raise ValueError(f"answer_style must be 'text', 'letter' or 'mixed', not {answer_style!r}")
    by_id = {row["ID"]: row for row in rows}
    fictitious = sorted(i for i, row in by_id.items() if row["source"] == "fictitious")
    forget = check_split_invariants(fictitious, forget_ids)
    members: dict[str, list[int]] = {
        "real_person": sorted(i for i, r in by_id.items() if r["source"] == "real")
    }
    for ratio in FORGET_RATIOS:
        members[f"forget_{ratio}"] = forget[ratio]
        members[f"retain_{100 - ratio}"] = sorted(set(fictitious) - set(forget[ratio]))
    if with_full:
        members["full"] = sorted(by_id)
    fields = [
        ("ID", pa.int64()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        *((column, pa.string()) for column in LITERAL_COLUMNS),
    ]
    if with_biography:
        fields.append(("Biography", pa.string()))
    schema = pa.schema(fields)
    records = {i: _legacy_record(row, answer_style, with_biography) for i, row in by_id.items()}
    with atomic_folder(out_dir, overwrite) as tmp:
        for folder in [*SPLIT_FOLDERS, *(["full"] if with_full else [])]:
            (tmp / folder).mkdir()
            table = pa.Table.from_pylist([records[i] for i in members[folder]], schema=schema)
            pq.write_table(table, tmp / folder / "train-00000-of-00001.parquet")
    return Path(out_dir)

# --- evaluation -------------------------------------------------------------------------------------------------


def assert_same_predictions(rows: list[dict], expected: list[dict]) -> None:
    """Equal records; the option log-likelihoods up to float rounding (padding changes the last digits)."""
    assert len(rows) == len(expected)
    for row, exp in zip(rows, expected, strict=True):
        row, exp = dict(row), dict(exp)
        assert row.pop("option_logliks", None) == pytest.approx(exp.pop("option_logliks", None), abs=1e-4)
        assert row == exp


# --- hand-made rows and tiny random models of the chat-template families -----------------------------------------

OPTIONS = {"A": "doctor", "B": "pilot", "C": "chef", "D": "baker"}
CITIES = ["Lisbon", "Oslo", "Quito", "Hanoi"]


def hand_rows(n: int = 4) -> list[dict]:
    """Rows in the schema of umu_hf.data.schema (hand-made, small)."""
    rows = []
    for i in range(n):
        name, city = f"Mara Quill{i}", CITIES[i % len(CITIES)]
        cls = {"key": "job", "options": dict(OPTIONS), "answer": "B"}
        rows.append(
            {
                "ID": i,
                "source": "fictitious" if i < n - 1 else "real",
                "image": Image.new("RGB", (40, 30), (40 * i, 100, 200 - 30 * i)),
                "biography": f"{name} was born in {city} and works as a pilot.",
                "MM_QA": [{"question": "Who is the person in the image?", "answer": name}],
                "UM_QA": [{"question": f"Where was {name} born?", "answer": f"{name} was born in {city}."}],
                "Classify": {
                    "unimodal": [{**cls, "question": f"What is the job of {name}?"}],
                    "multimodal": [{**cls, "question": "What is the job of the person in the image?"}],
                },
                "Cloze": {
                    "unimodal": [
                        {"key": "city", "question": f"{name} was born in ___.", "answer": f"{city}."}
                    ],
                    "multimodal": [
                        {"key": "city", "question": "This person was born in ___.", "answer": city}
                    ],
                },
                "Generation": {
                    "unimodal": [
                        {
                            "key": "bio",
                            "question": f"Tell me about {name}.",
                            "answer": f"A pilot from {city}.",
                        }
                    ],
                    "multimodal": [
                        {"key": "bio", "question": "Tell me about this person.", "answer": "A pilot."}
                    ],
                },
            }
        )
    return rows


def chat_tokenizer(special: list[str], extra: dict[str, str], template: str, **tokens):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    texts = list(dataset_texts(hand_rows())) + ["You are a helpful assistant.", "user model assistant system"]
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=special,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, extra_special_tokens=extra, chat_template=template, **tokens
    )


GEMMA3_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<start_of_image>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


#: the text model of every tiny test family: two small layers, grouped-query attention
TINY_TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
             "num_key_value_heads": 1, "max_position_embeddings": 256}


def tiny_gemma3():
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    special = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",
        "<end_of_image>",
        "<image_soft_token>",
    ]
    extra = {
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tok = chat_tokenizer(
        special, extra, GEMMA3_TEMPLATE, pad_token="<pad>", eos_token="<end_of_turn>", bos_token="<bos>"
    )
    image_processor = Gemma3ImageProcessorPil(size={"height": 32, "width": 32})
    processor = Gemma3Processor(
        image_processor=image_processor, tokenizer=tok, chat_template=GEMMA3_TEMPLATE, image_seq_length=4
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    config = Gemma3Config(
        text_config={
            "vocab_size": len(tok),
            **TINY_TEXT,
            "head_dim": 16,
            "sliding_window": 64,
            "pad_token_id": ids["<pad>"],
            "eos_token_id": ids["<end_of_turn>"],
            "bos_token_id": ids["<bos>"],
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        mm_tokens_per_image=4,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
    )
    torch.manual_seed(0)
    return Gemma3ForConditionalGeneration(config).eval(), processor


QWEN2_VL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'text' %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


class NoVideoProcessor:
    """Stands in for Qwen2-VL's video processor, which transformers builds only with torchvision (not installable
    beside the CPU torch wheel). UMU-Bench asks no video questions; tokenizer, image processor, chat template and
    model are Qwen2-VL's own. Where torchvision exists the real video processor is used."""

    merge_size = 2

    def to_dict(self) -> dict:
        return {}


def qwen2_vl_processor_class():
    from transformers import Qwen2VLProcessor

    if HAS_TORCHVISION:
        return Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def check_argument_for_proper_class(self, argument_name, argument):
            if argument_name == "video_processor" and isinstance(argument, NoVideoProcessor):
                return NoVideoProcessor
            return super().check_argument_for_proper_class(argument_name, argument)

    return ImageOnlyQwen2VLProcessor


def tiny_qwen2_vl(video_processor=None):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    special = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    extra = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>"}
    tok = chat_tokenizer(
        special, extra, QWEN2_VL_TEMPLATE, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 56 * 56})
    if video_processor is None and HAS_TORCHVISION:
        from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

        video_processor = Qwen2VLVideoProcessor()
    processor = qwen2_vl_processor_class()(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=video_processor or NoVideoProcessor(),
        chat_template=QWEN2_VL_TEMPLATE,
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tok),
            **TINY_TEXT,
            "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 1e4},
            "bos_token_id": None,
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 1,
            "embed_dim": 32,
            "hidden_size": 32,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(0)
    return Qwen2VLForConditionalGeneration(config).eval(), processor


def free_port() -> int:
    """A port nobody listens on now, for torchrun's rendezvous (a fixed one collides with another test run)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
