"""Model adapters: the one place that turns (question, optional image, task) into model inputs and the generated
tokens back into a reply.

Every prompt's text comes from :mod:`umu_hf.prompts`; families differ in which table they read:

- :class:`LlavaAdapter` (``model_type == "llava"``, LLaVA-1.5): the original's six plain-text prompts (docs/protocol.md)
  verbatim (:data:`umu_hf.prompts.LLAVA_PROMPTS`, asymmetric between the modalities);
- :class:`ChatTemplateAdapter` (Qwen2-VL / Qwen2.5-VL, Idefics3, SmolVLM, Gemma 3, …): the processor's chat
  template with the original Qwen branch's user-turn text (:data:`umu_hf.prompts.CHAT_USER_TEXTS`) in the user
  turn, ``add_generation_prompt=True``.

Replies (all families): the generated tokens only, special tokens skipped, cut before the first ``ASSISTANT:``
and stripped (:func:`umu_hf.prompts.extract_reply`).

Unimodal questions carry no image. A batch is all-multimodal (one image per prompt) or all-unimodal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from umu_hf.errors import ModelError, UmuError
from umu_hf.prompts import extract_reply, llava_prompt, llava_task_prompt, task_instruction

if TYPE_CHECKING:  # heavy imports only for type checkers
    import torch
    from PIL.Image import Image
    from transformers import BatchFeature


class ModelAdapter:
    """Base adapter: batching, encoding, greedy generation and reply decoding shared by every family."""

    family: str = "base"
    #: whether the tokenizer adds its own special tokens (BOS); chat templates already write them
    add_special_tokens: bool = True

    def __init__(self, processor: Any) -> None:
        self.processor = processor
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is None:
            raise ModelError(
                f"{type(processor).__name__} has no tokenizer; umu-hf needs a multimodal processor"
            )
        if tokenizer.pad_token is None:  # batched generation pads; eos is the usual stand-in
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer

    # -- prompts -------------------------------------------------------------------------------------------
    def prompt(self, task: str, question: str, with_image: bool, options: Sequence[str] | None = None) -> str:
        """Full prompt text of a benchmark question, ready for generation."""
        try:
            return self._task_prompt(task, question, with_image, options)
        except ValueError as exc:
            raise UmuError(str(exc)) from exc

    def _task_prompt(self, task: str, question: str, with_image: bool, options: Sequence[str] | None) -> str:
        """The family's prompt of a benchmark question (raises ``ValueError`` on a bad task or options)."""
        return self.free_prompt(task_instruction(task, question, options), with_image)

    def free_prompt(self, text: str, with_image: bool) -> str:
        """Prompt text for a user's own question (no task instruction)."""
        raise NotImplementedError

    def train_example(self, question: str, answer: str, with_image: bool, eos: bool = True) -> tuple[str, str]:
        """``(prompt_text, full_text)`` of a training pair; ``full_text`` starts with ``prompt_text`` (so
        answer-only labels are the tokens after the prompt's) and, with ``eos``, ends with the end-of-turn
        marker (the original training text has none)."""
        raise NotImplementedError

    def task_example(
        self, task: str, question: str, answer: str, with_image: bool, options: Sequence[str] | None = None
    ) -> tuple[str, str]:
        """``(prompt, text)`` of a benchmark question answered with ``answer``: ``prompt`` is exactly
        :meth:`prompt`'s, ``text`` continues it with the answer laid out as in :meth:`train_example`, up to the
        answer's last character: the end-of-turn marker after it is left out, so the tokens after the prompt are
        the answer's own (what option log-likelihoods and truth ratios average: :mod:`umu_hf.evaluation.loglik`)."""
        try:
            prompt, full = self.train_example(task_instruction(task, question, options), answer, with_image)
        except ValueError as exc:
            raise UmuError(str(exc)) from exc
        written = answer.strip()
        at = full.find(written, len(prompt))
        if not written or at < 0:
            raise ModelError(
                f"the chat template of {type(self.processor).__name__} does not write the answer {answer!r} "
                "verbatim after the prompt, so its tokens cannot be located"
            )
        return prompt, full[: at + len(written)]

    # -- tensors -------------------------------------------------------------------------------------------
    def encode(
        self,
        prompts: Sequence[str],
        images: Sequence[Image] | None,
        padding_side: str = "left",
    ) -> BatchFeature:
        """Tokenise a batch (padded on ``padding_side``) and, when ``images`` is given, preprocess one image per
        prompt; the processor expands each image placeholder into the model's number of image tokens."""
        prompts = list(prompts)
        kwargs: dict[str, Any] = {"text": prompts, "return_tensors": "pt", "padding": True}
        kwargs["add_special_tokens"] = self.add_special_tokens
        if images is not None:
            images = list(images)
            if len(images) != len(prompts):
                raise UmuError(
                    f"a multimodal batch needs one image per prompt: got {len(images)} for {len(prompts)}"
                )
            # nested, one list per prompt: the unambiguous batch layout every processor accepts
            kwargs["images"] = [[image.convert("RGB")] for image in images]
        return self.processor(padding_side=padding_side, **kwargs)

    def decode_replies(self, sequences: torch.Tensor, prompt_length: int) -> list[str]:
        """Replies from ``generate`` output (prompt + new tokens): decode the new tokens (special tokens skipped),
        then :func:`umu_hf.prompts.extract_reply` (cut before the first ``ASSISTANT:``, stripped)."""
        texts = self.tokenizer.batch_decode(
            sequences[:, prompt_length:], skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return [extract_reply(text) for text in texts]

    def generation_kwargs(self, model: Any, max_new_tokens: int) -> dict[str, Any]:
        """Greedy decoding that stops at the model's eos and pads finished rows with the pad token."""
        from transformers import GenerationConfig

        config = getattr(model, "generation_config", None)
        config = GenerationConfig() if config is None else GenerationConfig.from_dict(config.to_dict())
        config.update(do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None)
        config.max_new_tokens = max_new_tokens
        if config.eos_token_id is None:
            config.eos_token_id = self.tokenizer.eos_token_id
        if config.pad_token_id is None:
            config.pad_token_id = self.tokenizer.pad_token_id
        return {"generation_config": config}

    def generate(
        self, model: Any, prompts: Sequence[str], images: Sequence[Image] | None, max_new_tokens: int
    ) -> list[str]:
        """Greedy, batched, left-padded generation; returns one reply per prompt."""
        import torch

        inputs = self.encode(prompts, images, padding_side="left")
        inputs = inputs.to(model.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        with torch.inference_mode():
            sequences = model.generate(**inputs, **self.generation_kwargs(model, max_new_tokens))
        return self.decode_replies(sequences, inputs["input_ids"].shape[1])


class LlavaAdapter(ModelAdapter):
    """LLaVA-1.5: the six prompts of docs/protocol.md exactly (:data:`umu_hf.prompts.LLAVA_PROMPTS`), no chat template."""

    family = "llava"

    def _task_prompt(self, task: str, question: str, with_image: bool, options: Sequence[str] | None) -> str:
        modality = "multimodal" if with_image else "unimodal"
        return llava_task_prompt(task, modality, question, options)

    def free_prompt(self, text: str, with_image: bool) -> str:
        return llava_prompt(text, with_image)

    def train_example(self, question: str, answer: str, with_image: bool, eos: bool = True) -> tuple[str, str]:
        """The original training text ``USER: [<image>\\n]{q}\\nASSISTANT: {a}`` (+ eos when asked)."""
        prompt = llava_prompt(question, with_image)
        return prompt, f"{prompt} {answer}{self.tokenizer.eos_token if eos else ''}"

    def task_example(
        self, task: str, question: str, answer: str, with_image: bool, options: Sequence[str] | None = None
    ) -> tuple[str, str]:
        # the evaluation prompt itself (not always the training template: USER:\n…, a trailing space), then
        # one space and the answer as in training (without the eos after it: see ModelAdapter.task_example)
        prompt = self.prompt(task, question, with_image, options)
        separator = "" if prompt.endswith(" ") else " "
        return prompt, f"{prompt}{separator}{answer}"


class ChatTemplateAdapter(ModelAdapter):
    """Any processor with a chat template: the original Qwen branch's text as the user turn (both modalities)."""

    family = "chat"
    add_special_tokens = False

    def __init__(self, processor: Any) -> None:
        super().__init__(processor)
        if not getattr(processor, "chat_template", None):
            raise ModelError(
                f"{type(processor).__name__} has no chat template; umu-hf prompts non-LLaVA models through "
                "processor.apply_chat_template (save one with the processor, chat_template.jinja)"
            )

    @staticmethod
    def _user(text: str, with_image: bool) -> dict[str, Any]:
        content: list[dict[str, str]] = [{"type": "image"}] if with_image else []
        content.append({"type": "text", "text": text})
        return {"role": "user", "content": content}

    def _render(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        return self.processor.apply_chat_template(
            messages, add_generation_prompt=add_generation_prompt, tokenize=False
        )

    def free_prompt(self, text: str, with_image: bool) -> str:
        return self._render([self._user(text, with_image)], add_generation_prompt=True)

    def train_example(self, question: str, answer: str, with_image: bool, eos: bool = True) -> tuple[str, str]:
        """The chat template's rendering; it writes its own end-of-turn marker whatever ``eos`` says."""
        user = self._user(question, with_image)
        prompt = self._render([user], add_generation_prompt=True)
        assistant = {"role": "assistant", "content": [{"type": "text", "text": answer}]}
        full = self._render([user, assistant], add_generation_prompt=False)
        if not full.startswith(prompt):
            raise ModelError(
                f"the chat template of {type(self.processor).__name__} renders the prompt differently with and "
                "without the assistant turn, so answer-only training labels cannot be located"
            )
        return prompt, full


def get_adapter(processor: Any, model_config: Any) -> ModelAdapter:
    """The adapter of a model family, chosen from ``model_config.model_type`` and the processor."""
    model_type = getattr(model_config, "model_type", None)
    if model_type == "llava":
        return LlavaAdapter(processor)
    return ChatTemplateAdapter(processor)
