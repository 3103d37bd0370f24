"""The embedded default model: a small LLaVA-1.5 built from scratch, offline, from the dataset's own text.

Why: the whole pipeline (fine-tune, unlearn, evaluate, leaderboard) must run on a laptop CPU with no network.
The result is an ordinary Hub-style folder (``save_pretrained`` of model + processor), so every other part of
umu-hf loads it exactly like ``llava-hf/llava-1.5-7b-hf``: ``AutoProcessor`` / ``AutoModelForImageTextToText``.

Pieces (all stock transformers classes):

- tokenizer: byte-level BPE trained with ``tokenizers`` on the dataset text plus the benchmark's prompt templates,
  wrapped in ``PreTrainedTokenizerFast`` (``<s>`` prepended like Llama's, ``</s>`` eos, ``<pad>``, ``<image>``);
- ``CLIPImageProcessor`` (PIL backend, square resize + centre crop) and ``LlavaProcessor`` with
  ``vision_feature_select_strategy="default"`` and one additional (CLS) token, so an image becomes
  ``(image_size / patch_size)**2`` ``<image>`` tokens;
- ``LlavaForConditionalGeneration`` = ``CLIPVisionModel`` + 2-layer MLP projector + ``LlamaForCausalLM``,
  randomly initialised from ``seed``. The tower is tiny and trained from scratch, so the projector reads its
  *last* layer (``vision_feature_layer=-1``) rather than LLaVA-1.5's penultimate one.

Sizes (:data:`TINY_SIZES`). Parameter counts depend on the trained vocabulary: ``small`` measured on the
embedded bench data (36 profiles, vocabulary 1298), ``base`` on ``umu-hf data synth`` (653 profiles, vocabulary
1404), with the upper bound at the full BPE target:

=========  =======================================  ==============================  ==========  ===============
size       language model                           vision tower                    image       parameters
=========  =======================================  ==============================  ==========  ===============
``small``  hidden 128, 2 layers, 4 heads, ffn 512   hidden 128, 2 layers, ffn 256   32 px / 8   1.18 M (<=1.7 M)
``base``   hidden 512, 6 layers, 8 heads, ffn 1376  hidden 256, 4 layers, ffn 1024  64 px / 8   24.0 M (<=26.6 M)
=========  =======================================  ==============================  ==========  ===============

``small`` (16 image tokens, vocabulary <= 3000, 512 positions) is the CPU default: it learns the embedded
bench's profiles, image -> identity included, on two CPU cores (the README gives the measured time; a 4-layer x
256 model sat on a loss plateau far longer). ``base`` (64 image tokens, vocabulary <= 4000, 1024 positions) is
for measurements. Building either is mostly BPE training.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from umu_hf.errors import DataError, UmuError
from umu_hf.outputs import check_out_apart, check_replaceable, write_marker
from umu_hf.prompts import (
    CLOZE_INSTRUCTION,
    GENERATION_INSTRUCTION,
    GENERATION_INSTRUCTION_UNIMODAL,
    IMAGE_TOKEN,
    llava_prompt,
    llava_task_prompt,
)
from umu_hf.utils import atomic_dir

#: special tokens of the tiny tokenizer, in id order (pad=0, bos=1, eos=2, unk=3, image=4)
PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK, IMAGE_TOKEN)

#: architecture of each size; ``vocab_size`` is the BPE target (the trained vocabulary may be smaller).
TINY_SIZES: dict[str, dict[str, int]] = {
    "small": {
        "vocab_size": 3000,
        "hidden_size": 128,
        "intermediate_size": 512,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 512,
        "vision_hidden_size": 128,
        "vision_intermediate_size": 256,
        "vision_num_hidden_layers": 2,
        "vision_num_attention_heads": 4,
        "image_size": 32,
        "patch_size": 8,
    },
    "base": {
        "vocab_size": 4000,
        "hidden_size": 512,
        "intermediate_size": 1376,
        "num_hidden_layers": 6,
        "num_attention_heads": 8,
        "max_position_embeddings": 1024,
        "vision_hidden_size": 256,
        "vision_intermediate_size": 1024,
        "vision_num_hidden_layers": 4,
        "vision_num_attention_heads": 4,
        "image_size": 64,
        "patch_size": 8,
    },
}


def template_texts() -> list[str]:
    """The fixed wording of the benchmark's prompts and the shipped refusals (PO/IDK-DPO targets), so the tokenizer has
    compact tokens for them whatever the data."""
    from umu_hf.data.collate import load_refusals

    texts = [
        CLOZE_INSTRUCTION,
        GENERATION_INSTRUCTION,
        GENERATION_INSTRUCTION_UNIMODAL,
        "Select answer in ['A', 'B', 'C', 'D']",
    ]
    for with_image in (True, False):
        texts += [f"{llava_prompt('Who is this person?', with_image)} {refusal}" for refusal in load_refusals()]
    return texts


def dataset_texts(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Every text a model sees for these rows (schema of :mod:`umu_hf.data.schema`): the training pairs and
    the evaluation prompts of both modalities (LLaVA-1.5's, :func:`umu_hf.prompts.llava_task_prompt`) each
    followed by its answer, the options and biographies."""
    from umu_hf.data.schema import MODALITIES, OPTION_LETTERS, TASK_COLUMNS

    for row in rows:
        if row.get("biography"):
            yield row["biography"]
        for column in ("MM_QA", "UM_QA"):
            for pair in row.get(column) or []:
                for with_image in (True, False):
                    yield f"{llava_prompt(pair['question'], with_image)} {pair['answer']}"
        for task, column in TASK_COLUMNS.items():
            items_by_modality = row.get(column) or {}
            for modality in MODALITIES:
                for item in items_by_modality.get(modality) or []:
                    options = None
                    answer = item["answer"]
                    if task == "classification":
                        options = [item["options"][letter] for letter in OPTION_LETTERS]
                        answer = item["options"].get(answer, answer)
                    prompt = llava_task_prompt(task, modality, item["question"], options)
                    yield f"{prompt}{'' if prompt.endswith(' ') else ' '}{answer}"


def _train_tokenizer(texts: Iterable[str], vocab_size: int, max_length: int):
    """Byte-level BPE (any text encodes, nothing is ever unknown) wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    bos_id = tok.token_to_id(BOS)
    # Llama-style: every encoded text starts with <s>; no eos appended (training text carries it explicitly).
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        extra_special_tokens={"image_token": IMAGE_TOKEN},
        model_max_length=max_length,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def _check_size(size: str) -> dict[str, int]:
    if size not in TINY_SIZES:
        raise UmuError(f"unknown tiny model size {size!r}; choose one of {', '.join(TINY_SIZES)}")
    return TINY_SIZES[size]


def _prepare_out(out_dir: Path, overwrite: bool) -> None:
    """An empty or missing ``out_dir`` is fine; an existing one only with ``overwrite`` if umu-hf wrote it."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not overwrite:
        raise UmuError(
            f"output folder {out_dir} already exists and is not empty; remove it or pick another --out"
        )
    if overwrite:
        check_replaceable(out_dir, overwrite)


def build_tiny_llava(
    texts: Iterable[str],
    out_dir: str | os.PathLike,
    size: str = "small",
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Train the tokenizer on ``texts`` (+ the benchmark's templates), build a randomly initialised LLaVA of ``size``
    and save model + processor to ``out_dir`` (written atomically: a temporary folder renamed at the end)."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        GenerationConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    spec = _check_size(size)
    out_dir = Path(out_dir)
    _prepare_out(out_dir, overwrite)

    corpus = [*template_texts(), *texts]
    tokenizer = _train_tokenizer(corpus, spec["vocab_size"], spec["max_position_embeddings"])
    side = spec["image_size"]
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec["patch_size"],
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    num_image_tokens = (side // spec["patch_size"]) ** 2
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    ids["pad_token_id"] = tokenizer.pad_token_id
    vision_config = CLIPVisionConfig(
        hidden_size=spec["vision_hidden_size"],
        intermediate_size=spec["vision_intermediate_size"],
        num_hidden_layers=spec["vision_num_hidden_layers"],
        num_attention_heads=spec["vision_num_attention_heads"],
        image_size=side,
        patch_size=spec["patch_size"],
        projection_dim=spec["vision_hidden_size"],
    )
    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec["hidden_size"],
        intermediate_size=spec["intermediate_size"],
        num_hidden_layers=spec["num_hidden_layers"],
        num_attention_heads=spec["num_attention_heads"],
        num_key_value_heads=spec["num_attention_heads"],
        max_position_embeddings=spec["max_position_embeddings"],
        **ids,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=tokenizer.image_token_id,
        image_seq_length=num_image_tokens,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config).to(torch.float32)
    model.generation_config = GenerationConfig(do_sample=False, **ids)

    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "README.md").write_text(
            _model_card(size, seed, model.num_parameters(), num_image_tokens, tokenizer)
        )
        write_marker(tmp, "umu-hf model tiny")
        _prepare_out(out_dir, overwrite)  # nobody put a foreign folder there meanwhile
    return out_dir


def _model_card(size: str, seed: int, n_params: int, num_image_tokens: int, tokenizer) -> str:
    return (
        "---\nlibrary_name: transformers\npipeline_tag: image-text-to-text\ntags:\n- umu-bench\n- llava\n---\n\n"
        f"# umu-hf tiny LLaVA ({size})\n\n"
        "A randomly initialised LLaVA-1.5-architecture model built offline by `umu-hf model tiny` "
        f"(seed {seed}): {n_params:,} parameters, vocabulary {len(tokenizer)}, {num_image_tokens} image tokens. "
        "Fine-tune it on UMU-Bench profiles before evaluating.\n"
    )


def _dataset_rows(data: str | os.PathLike) -> Iterable[Mapping[str, Any]]:
    """The ``full`` config's rows without their images (only text is needed)."""
    from umu_hf.data.load import load_umu_split

    dataset = load_umu_split(data, "full")
    return dataset.remove_columns("image") if "image" in dataset.column_names else dataset


def build_tiny_from_dataset(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    size: str = "small",
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """:func:`build_tiny_llava` on all text of the ``full`` config of a dataset (Hub-layout folder, legacy
    folder or Hub repo id: anything :func:`umu_hf.data.load.load_umu_split` reads)."""
    _check_size(size)
    check_out_apart(out_dir, [("dataset", data_dir)])  # a Hub id has no folder to protect: skipped
    _prepare_out(Path(out_dir), overwrite)
    texts = list(dataset_texts(_dataset_rows(data_dir)))
    if not texts:
        raise DataError(f"dataset {data_dir} has no rows in config 'full'; nothing to train a tokenizer on")
    return build_tiny_llava(texts, out_dir, size=size, seed=seed, overwrite=overwrite)
