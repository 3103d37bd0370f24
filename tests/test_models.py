"""The model layer: the embedded tiny LLaVA, loading, and the per-family adapters (LLaVA-1.5 and chat templates).

Everything is built locally from configs (no download). Chat-template families are proven end to end with a
tiny random Gemma 3 (runs everywhere) and a tiny random Qwen2-VL (its processor needs torchvision, which the
CPU environment may lack: then that test is skipped with the reason).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers import OPTIONS, hand_rows, tiny_gemma3, tiny_qwen2_vl
from huggingface_hub import metadata_load
from PIL import Image

from umu_hf.errors import ModelError, UmuError
from umu_hf.models.adapters import ChatTemplateAdapter, LlavaAdapter, get_adapter
from umu_hf.models.loading import load_model, resolve_device
from umu_hf.models.tiny import TINY_SIZES, build_tiny_llava, dataset_texts
from umu_hf.prompts import MAX_NEW_TOKENS


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from more threads, and one thread stays fast on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny_llava(dataset_texts(hand_rows()), tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return load_model(str(tiny_dir), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A minimal Hub-layout dataset folder (parquet + card declaring the 'full' config)."""
    from datasets import Dataset

    from umu_hf.data.schema import features

    root = tmp_path_factory.mktemp("data") / "umu"
    (root / "data").mkdir(parents=True)
    Dataset.from_list(hand_rows(), features=features()).to_parquet(
        str(root / "data" / "full-00000-of-00001.parquet")
    )
    card = "---\nconfigs:\n- config_name: full\n  data_files:\n  - split: train\n    path: data/full-*\n---\n"
    (root / "README.md").write_text(card)
    return root


def test_tiny_builds_and_reloads_with_auto_classes(tiny_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor, LlavaForConditionalGeneration

    processor = AutoProcessor.from_pretrained(tiny_dir)
    model = AutoModelForImageTextToText.from_pretrained(tiny_dir)
    assert isinstance(model, LlavaForConditionalGeneration)
    assert type(processor).__name__ == "LlavaProcessor"
    tok = processor.tokenizer
    assert model.config.image_token_index == tok.image_token_id == tok.convert_tokens_to_ids("<image>")
    assert model.config.text_config.vocab_size == len(tok)
    gen = model.generation_config
    assert (gen.eos_token_id, gen.pad_token_id, gen.do_sample) == (tok.eos_token_id, tok.pad_token_id, False)
    assert gen.eos_token_id != gen.pad_token_id
    spec = TINY_SIZES["small"]
    assert model.config.text_config.hidden_size == spec["hidden_size"]
    # the card's metadata tells the Hub which library and pipeline load the folder
    card = metadata_load(tiny_dir / "README.md")
    assert (card["library_name"], card["pipeline_tag"]) == ("transformers", "image-text-to-text")
    # the tokenizer round-trips the dataset text (byte-level BPE, no cleanup of spaces)
    text = "Mara Quill0 was born in Lisbon . ok"
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text


def test_tiny_build_is_deterministic_and_refuses_to_clobber(tiny_dir, tmp_path):
    again = build_tiny_llava(dataset_texts(hand_rows()), tmp_path / "again", seed=0)
    assert (again / "tokenizer.json").read_bytes() == (tiny_dir / "tokenizer.json").read_bytes()
    assert (again / "model.safetensors").read_bytes() == (tiny_dir / "model.safetensors").read_bytes()
    with pytest.raises(UmuError, match="already exists"):
        build_tiny_llava(["x"], again)
    with pytest.raises(UmuError, match="unknown tiny model size"):
        build_tiny_llava(["x"], tmp_path / "other", size="huge")
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("with_image", [True, False])
def test_llava_prompts_are_spec_text_verbatim(tiny, with_image):
    _, _, adapter = tiny
    assert isinstance(adapter, LlavaAdapter) and adapter.family == "llava"
    q = "What is the job of Mara?"
    opts = ["doctor", "pilot", "chef", "baker"]
    if with_image:
        expected = (
            "USER: <image>\nWhat is the job of Mara?\nSelect answer in ['doctor', 'pilot', 'chef', 'baker']\nASSISTANT:",
            "USER: <image>\nWhat is the job of Mara?\nPlease **ONLY** provide the correct answer without any "
            "explanation\nASSISTANT:",
            "USER: <image>\nWhat is the job of Mara?\nAnswer the question based on your trained knowledge in one "
            "sentence accurately in ENGLISH.\nASSISTANT: ",
        )
    else:
        expected = (
            "USER:\nWhat is the job of Mara?\nSelect answer in ['doctor', 'pilot', 'chef', 'baker']\nASSISTANT:",
            "USER: What is the job of Mara?\nPlease **ONLY** provide the correct answer without any "
            "explanation\nASSISTANT:",
            "USER: What is the job of Mara?\nAnswer the question based on your trained knowledge in one sentence "
            "in ENGLISH.\nASSISTANT:",
        )
    assert adapter.prompt("classification", q, with_image, opts) == expected[0]
    assert adapter.prompt("cloze", q, with_image) == expected[1]
    assert adapter.prompt("generation", q, with_image) == expected[2]
    img = "<image>\n" if with_image else ""
    assert adapter.free_prompt("Hi?", with_image) == f"USER: {img}Hi?\nASSISTANT:"
    prompt, full = adapter.train_example("Who?", "Mara", with_image)
    assert prompt == f"USER: {img}Who?\nASSISTANT:" and full == f"{prompt} Mara</s>"
    with pytest.raises(UmuError, match="options"):
        adapter.prompt("classification", q, with_image)


def test_encode_expands_image_tokens_and_pads_left(tiny):
    model, processor, adapter = tiny
    tok = processor.tokenizer
    prompts = [
        adapter.prompt("cloze", "Who?", True),
        adapter.prompt("cloze", "Who is the person in here?", True),
    ]
    images = [Image.new("L", (50, 20), 90), Image.new("RGBA", (20, 60), (1, 2, 3, 4))]  # converted to RGB
    batch = adapter.encode(prompts, images)
    n_tokens = (TINY_SIZES["small"]["image_size"] // TINY_SIZES["small"]["patch_size"]) ** 2
    assert (batch["input_ids"] == tok.image_token_id).sum(dim=1).tolist() == [n_tokens, n_tokens]
    assert model.config.image_seq_length == n_tokens
    assert tuple(batch["pixel_values"].shape) == (2, 3, 32, 32)
    assert batch["attention_mask"][0, 0] == 0 and batch["attention_mask"][:, -1].all()  # left padding
    assert batch["input_ids"][0, 0] == tok.pad_token_id
    right = adapter.encode(prompts, images, padding_side="right")
    assert right["attention_mask"][0, -1] == 0 and right["attention_mask"][:, 0].all()
    text_only = adapter.encode([adapter.prompt("cloze", "Who?", False)], None)
    assert "pixel_values" not in text_only and (text_only["input_ids"] == tok.image_token_id).sum() == 0
    assert text_only["input_ids"][0, 0] == tok.bos_token_id  # Llama-style <s> first
    with pytest.raises(UmuError, match="one image per prompt"):
        adapter.encode(prompts, images[:1])


def _trained_llava(tiny_dir, steps: int = 60):
    """The tiny LLaVA after a few steps on its own prompts, so greedy replies are non-trivial and stop at eos."""
    model, _, adapter = load_model(str(tiny_dir), device="cpu", dtype="float32")
    rows = hand_rows()
    examples = []
    for row in rows:
        for pair, with_image in ((row["MM_QA"][0], True), (row["UM_QA"][0], False)):
            examples.append(
                (adapter.train_example(pair["question"], pair["answer"], with_image), row["image"])
            )
    optim = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    torch.manual_seed(0)
    for step in range(steps):
        (prompt, full), image = examples[step % len(examples)]
        images = [image] if "<image>" in prompt else None
        batch = adapter.encode([full], images, padding_side="right")
        labels = batch["input_ids"].clone()
        labels[:, : adapter.encode([prompt], images)["input_ids"].shape[1]] = -100  # answer-only loss
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
    model.eval()
    return model, adapter, rows


def test_batched_greedy_generation_equals_one_by_one(tiny_dir):
    model, adapter, rows = _trained_llava(tiny_dir)
    for with_image in (True, False):
        questions = [
            "Who is the person in the image?",
            "What is the job of the person in the image?",
            f"Where was {rows[1]['biography'].split(' was')[0]} born?",
        ]
        prompts = [
            adapter.prompt(task, q, with_image, list(OPTIONS.values()))
            for task, q in zip(("cloze", "classification", "generation"), questions, strict=True)
        ]
        images = [row["image"] for row in rows[:3]] if with_image else None
        batched = adapter.generate(model, prompts, images, max_new_tokens=24)
        single = [
            adapter.generate(model, [p], None if images is None else [images[i]], max_new_tokens=24)[0]
            for i, p in enumerate(prompts)
        ]
        assert batched == single
        assert all(isinstance(reply, str) for reply in batched)
    # training taught the answer for the image question; replies stop at eos (no trailing garbage)
    reply = adapter.generate(
        model,
        [adapter.free_prompt("Who is the person in the image?", True)],
        [rows[0]["image"]],
        MAX_NEW_TOKENS["cloze"],
    )
    assert reply[0].startswith("Mara Quill")


@pytest.mark.parametrize(
    ("continuation", "reply"),
    [(" Paris. ", "Paris."), (" Paris. ASSISTANT: Rome", "Paris."), (" x ASSISTANT: Paris. ASSISTANT: y", "x")],
)
def test_decode_replies_takes_new_tokens_cut_before_the_first_assistant(tiny, continuation, reply):
    _, processor, adapter = tiny
    tok = processor.tokenizer
    prompt_ids = tok(["USER: Q\nASSISTANT:"]).input_ids[0]
    new_ids = tok(continuation, add_special_tokens=False).input_ids + [tok.eos_token_id, tok.pad_token_id]
    sequences = torch.tensor([prompt_ids + new_ids])
    assert adapter.decode_replies(sequences, len(prompt_ids)) == [reply]


# --- chat-template families ---------------------------------------------------------------------------------


def _check_chat_family(model, processor, image_token: str, expanded_token: str, n_image_tokens: int) -> None:
    adapter = get_adapter(processor, model.config)
    assert isinstance(adapter, ChatTemplateAdapter) and adapter.family == "chat"
    opts = list(OPTIONS.values())
    mm = adapter.prompt("classification", "What is the job of the person in the image?", True, opts)
    um = adapter.prompt("cloze", "Mara Quill0 was born in ___.", False)
    assert "Select answer in ['doctor', 'pilot', 'chef', 'baker']" in mm and image_token in mm
    assert (
        "Please **ONLY** provide the correct answer without any explanation" in um and image_token not in um
    )
    # the original's Qwen branch: the same user text in both modalities ("accurately" in unimodal too)
    for with_image in (True, False):
        gen = adapter.prompt("generation", "Who is Mara?", with_image)
        assert "Who is Mara?\nAnswer the question based on your trained knowledge in one sentence accurately in " in gen
    images = [row["image"] for row in hand_rows(2)]
    batch = adapter.encode([mm, mm + " "], images)
    tok = processor.tokenizer
    counts = (batch["input_ids"] == tok.convert_tokens_to_ids(expanded_token)).sum(1).tolist()
    assert counts == [n_image_tokens] * 2
    for prompts, imgs in (
        ([mm, mm], images),
        ([um, adapter.prompt("generation", "Who is Mara?", False)], None),
    ):
        replies = adapter.generate(model, prompts, imgs, max_new_tokens=6)
        assert len(replies) == 2 and all(isinstance(r, str) for r in replies)
        single = [
            adapter.generate(model, [p], None if imgs is None else [imgs[i]], 6)[0]
            for i, p in enumerate(prompts)
        ]
        assert replies == single
    prompt, full = adapter.train_example("Who is this?", "Mara", True)
    assert full.startswith(prompt) and full[len(prompt) :].startswith("Mara")


def test_chat_template_family_gemma3_generates_both_modalities():
    model, processor = tiny_gemma3()
    _check_chat_family(model, processor, "<start_of_image>", "<image_soft_token>", n_image_tokens=4)
    adapter = get_adapter(processor, model.config)
    batch = adapter.encode([adapter.free_prompt("Who?", True)], [hand_rows(1)[0]["image"]])
    assert (batch["input_ids"] == processor.tokenizer.bos_token_id).sum() == 1  # template's bos, not doubled


def test_task_example_ends_with_the_option_for_every_family(tiny):
    """Option log-likelihoods and truth ratios average the option's own tokens: the text that scores an option ends
    with it, without the end-of-turn marker training appends (EOS for LLaVA, the chat template's end of turn)."""
    model, processor = tiny_gemma3()
    options = ["Paris", "Lyon", "Rome", "Oslo"]
    for adapter in (tiny[2], get_adapter(processor, model.config)):
        for with_image in (False, True):
            prompt, text = adapter.task_example("classification", "Where?", "Lyon", with_image, options)
            assert prompt == adapter.prompt("classification", "Where?", with_image, options)
            assert text.startswith(prompt) and text.endswith("Lyon"), text[-40:]
            assert text[len(prompt) :].strip() == "Lyon"


def test_chat_template_family_qwen2_vl_generates_both_modalities():
    model, processor = tiny_qwen2_vl()
    # 40x30 portraits are resized to 84x56 pixels (~56*56 area, multiples of 28) -> 6x4 patches -> 3x2 merged
    _check_chat_family(model, processor, "<|image_pad|>", "<|image_pad|>", n_image_tokens=6)


# --- loading errors and the CLI -----------------------------------------------------------------------------


def test_load_model_errors_are_one_clear_line(tmp_path, monkeypatch):
    from transformers import LlamaConfig, LlamaForCausalLM

    with pytest.raises(ModelError, match="does not exist"):
        load_model(str(tmp_path / "missing"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        load_model(str(tmp_path / "empty"), device="cpu")
    text_only = tmp_path / "llama"
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
        )
    ).save_pretrained(text_only)
    with pytest.raises(ModelError, match="not a vision-language model") as info:
        load_model(str(text_only), device="cpu")
    assert "\n" not in str(info.value) and "'llama'" in str(info.value)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        load_model("some-org/some-model", device="cpu")
    with pytest.raises(UmuError, match="unknown dtype"):
        load_model(str(text_only), device="cpu", dtype="float8")
    with pytest.raises(UmuError, match="unknown device"):
        resolve_device("tpu-ish")
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_load_model_gives_eval_model_on_device(tiny):
    model, processor, adapter = tiny
    assert not model.training and model.device.type == "cpu" and model.dtype == torch.float32
    assert adapter.processor is processor


def test_cli_model_tiny_writes_loadable_folder(data_dir, tmp_path, capsys):
    from umu_hf.cli import main

    out = tmp_path / "cli_tiny"
    assert main(["model", "tiny", "--data", str(data_dir), "--out", str(out), "--seed", "3"]) == 0
    assert "written to" in capsys.readouterr().out
    model, processor, adapter = load_model(str(out), device="cpu")
    assert isinstance(adapter, LlavaAdapter)
    config = json.loads((out / "config.json").read_text())
    assert (
        config["model_type"] == "llava" and config["image_token_index"] == processor.tokenizer.image_token_id
    )
    # dataset words got their own tokens: a name from the data encodes compactly
    assert len(processor.tokenizer("Mara Quill", add_special_tokens=False).input_ids) <= 3
    assert main(["model", "tiny", "--data", str(data_dir), "--out", str(out)]) == 2  # exists: one-line error
    assert "already exists" in capsys.readouterr().err
    assert main(["model", "tiny", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_corrupt_weights_give_one_model_error(tiny_dir, tmp_path, capsys):
    import shutil

    from umu_hf.cli import main as cli_main

    broken = Path(shutil.copytree(tiny_dir, tmp_path / "broken"))
    (broken / "model.safetensors").write_bytes(b"not safetensors" * 10)
    with pytest.raises(ModelError, match="weights file is missing or corrupt"):
        load_model(str(broken), device="cpu", dtype="float32")
    assert cli_main(["eval", "--model", str(broken), "--data", str(tmp_path / "nowhere"), "--forget-ratio", "5",
                     "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
