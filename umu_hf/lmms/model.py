"""``--model umu_hf``: an lmms-eval model that asks questions exactly as ``umu-hf eval`` does.

lmms-eval's own LLaVA models cannot run UMU-Bench's protocol: they wrap every prompt in a chat template, and a
question without an image fails in them (lmms-eval 0.7.3: the processor gets ``images=[]``, the vision tower an
empty ``pixel_values``, and the reply is empty or the run stops), while half of the benchmark is asked in text
only. This model loads any checkpoint ``umu-hf eval`` loads (:func:`umu_hf.models.loading.load_model`) and
generates through its adapter (:meth:`umu_hf.models.adapters.ModelAdapter.generate`: greedy, left-padded
batches, the task's ``max_new_tokens``, the reply rule):

- a doc of the UMU-Bench tasks (``umu-hf export lmms-eval``) is asked with the adapter's prompt of its question:
  for LLaVA-1.5 that is the task's ``doc_to_text``, character for character; chat-template families get the
  original Qwen branch's text in their own template, as in ``umu-hf eval``;
- any other task's doc is asked with its ``doc_to_text`` as free text (:meth:`~umu_hf.models.adapters.
  ModelAdapter.free_prompt`), with its images when ``doc_to_visual`` gives exactly one.

lmms-eval finds it through the ``lmms_eval.models`` entry point of umu-hf's package metadata (:func:`manifest`);
the class is built on first use (:data:`CLASS_NAME` via the module's ``__getattr__``), so importing this module
needs no lmms-eval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from umu_hf.data.schema import MODALITIES, TASKS
from umu_hf.errors import UmuError
from umu_hf.prompts import MAX_NEW_TOKENS

#: the ``--model`` name
MODEL_NAME = "umu_hf"
#: the class lmms-eval imports: ``umu_hf.lmms.model.UmuHfModel``
CLASS_NAME = "UmuHfModel"


def manifest():  # -> lmms_eval.models.registry_v2.ModelManifest
    """The entry point's payload: ``--model umu_hf`` is :data:`CLASS_NAME` of this module."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_NAME, simple_class_path=f"{__name__}.{CLASS_NAME}")


def is_umu_doc(doc: Mapping[str, Any]) -> bool:
    """Whether a doc is one question of the exported UMU-Bench tasks (:mod:`umu_hf.lmms.hooks`)."""
    return doc.get("task") in TASKS and doc.get("modality") in MODALITIES and "question" in doc


def request_prompt(adapter: Any, context: str, doc: Mapping[str, Any], n_images: int) -> str:
    """The prompt a request is asked with: a UMU-Bench doc's question through the adapter, exactly as
    ``umu-hf eval`` asks it; any other doc's ``doc_to_text`` as free text."""
    if is_umu_doc(doc):
        return adapter.prompt(doc["task"], doc["question"], doc["modality"] == "multimodal", doc["options"] or None)
    if n_images > 1:
        raise UmuError(f"--model {MODEL_NAME} asks with one image at most; this doc has {n_images}")
    return adapter.free_prompt(context, n_images == 1)


def _build_class() -> type:
    from lmms_eval.api.model import lmms
    from tqdm.auto import tqdm

    from umu_hf.evaluation.batching import resolve_batch_size
    from umu_hf.models.loading import load_model

    class UmuHfModel(lmms):
        """lmms-eval model over umu-hf's loading and adapters; ``--model_args pretrained=PATH_OR_ID[,device=auto
        ,dtype=auto]`` and ``--batch_size N|auto`` (questions per ``generate`` call, ``auto`` as ``umu-hf eval``'s;
        greedy, so replies do not depend on it). One process (it reports rank 0 of 1 to lmms-eval)."""

        def __init__(
            self, pretrained: str, device: str | None = "auto", dtype: str = "auto", batch_size: int | str = 1,
            max_batch_size: int | None = None,
        ) -> None:
            super().__init__()
            self.model, self.processor, self.adapter = load_model(pretrained, device or "auto", dtype)
            text = str(batch_size).strip()
            try:
                self.batch_size_per_gpu = resolve_batch_size(int(text) if text.isdigit() else text, self.model)
            except UmuError as exc:
                raise UmuError(f"--batch_size: {exc}") from None

        @property
        def batch_size(self) -> int:
            return self.batch_size_per_gpu

        def _requests(self, requests: Sequence[Any]) -> list[dict[str, Any]]:
            asks = []
            for position, request in enumerate(requests):
                context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
                doc = self.task_dict[task][split][doc_id]
                images = list(doc_to_visual(doc) or []) if doc_to_visual is not None else []
                budget = int((gen_kwargs or {}).get("max_new_tokens") or MAX_NEW_TOKENS.get(doc.get("task"), 256))
                asks.append({
                    "position": position, "prompt": request_prompt(self.adapter, context, doc, len(images)),
                    "image": images[0] if images else None, "budget": budget,
                })
            return asks

        def generate_until(self, requests: Sequence[Any]) -> list[str]:
            """Replies to ``generate_until`` requests, in order; batches of one budget and one modality."""
            asks = self._requests(requests)
            replies: list[str] = [""] * len(asks)
            groups: dict[tuple[int, bool], list[dict[str, Any]]] = {}
            for ask in asks:
                groups.setdefault((ask["budget"], ask["image"] is not None), []).append(ask)
            with tqdm(total=len(asks), desc="umu_hf", unit="q", disable=self.rank != 0) as bar:
                for (budget, with_image), group in groups.items():
                    for start in range(0, len(group), self.batch_size):
                        batch = group[start : start + self.batch_size]
                        images = [a["image"] for a in batch] if with_image else None
                        out = self.adapter.generate(self.model, [a["prompt"] for a in batch], images, budget)
                        for ask, reply in zip(batch, out, strict=True):
                            replies[ask["position"]] = reply
                        bar.update(len(batch))
            return replies

        def loglikelihood(self, requests: Sequence[Any]) -> list[tuple[float, bool]]:
            raise NotImplementedError(f"--model {MODEL_NAME} only generates (UMU-Bench's tasks are generate_until)")

        def generate_until_multi_round(self, requests: Sequence[Any]) -> list[str]:
            raise NotImplementedError(f"--model {MODEL_NAME} asks single-turn questions only")

    UmuHfModel.__module__ = __name__
    return UmuHfModel


_CLASS: list[type] = []


def __getattr__(name: str) -> Any:
    if name != CLASS_NAME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _CLASS:
        _CLASS.append(_build_class())
    return _CLASS[0]
