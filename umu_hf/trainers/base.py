"""What every UMU-Bench trainer shares: the data streams, term logging, checkpoints and the divergence guard
(:class:`UMUTrainer`); unlearning methods add the reference model (:class:`UnlearnTrainer`). A method only says
which streams it needs and its per-modality loss. The Configs are in :mod:`umu_hf.trainers.configs`, the guard in
:mod:`umu_hf.trainers.guard`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch
from transformers import Trainer

from umu_hf.data.collate import EpochSampler, StreamDataset, UMUCollator, load_refusals
from umu_hf.errors import UmuError
from umu_hf.trainers.configs import UMUConfig, UnlearnConfig
from umu_hf.trainers.fsdp import enable_fsdp, reshard, shard_reference
from umu_hf.trainers.guard import (
    DivergenceGuard,
    TrainingDivergedError,
    last_checkpoint_note,
    non_finite_weights,
)
from umu_hf.trainers.losses import answer_nll, modality_softmax_weights
from umu_hf.utils import write_json

logger = logging.getLogger(__name__)


def lora_parameters(model: Any) -> list[torch.Tensor]:
    """The trainable LoRA parameters of ``model`` (names containing ``lora_``)."""
    return [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]


def lora_l1_norm(model: Any) -> torch.Tensor:
    """``Σ|θ|`` over the trainable LoRA parameters (float32)."""
    return torch.stack([p.float().abs().sum() for p in lora_parameters(model)]).sum()


#: the file in a checkpoint that holds a trainer's own state (e.g. PDU's multipliers), beside the optimiser's
TRAINER_EXTRA_STATE = "umu_trainer_state.json"


def is_peft_model(model: Any) -> bool:
    """True for a peft model with an adapter that can be switched off."""
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


class UMUTrainer(Trainer):
    """Base of fine-tuning and every unlearning method: sums ``modality_loss`` over (multimodal, weight 1) and
    (unimodal, weight alpha).

    Subclasses set ``streams`` (which batches the collator builds) and implement :meth:`modality_loss`.
    ``train_dataset`` is a :class:`~umu_hf.data.collate.StreamDataset` (``streams="independent"``) or a
    :class:`~umu_hf.data.collate.QADataset` (``"paired"``), built by :mod:`umu_hf.trainers.jobs`.
    """

    method: ClassVar[str] = "base"
    streams: ClassVar[Mapping[str, tuple[str, str]]] = {"forget": ("forget", "answer")}
    #: whether the loss needs the model before training, p_ref (only unlearning methods: :class:`UnlearnTrainer`)
    needs_reference: ClassVar[bool] = False
    #: LoRA targets when the user names none (None: the original's, :data:`umu_hf.trainers.lora.ORIGINAL_TARGETS`)
    lora_target_modules: ClassVar[tuple[str, ...] | None] = None

    def __init__(
        self,
        model: Any,
        args: UMUConfig,
        train_dataset: Any,
        adapter: Any,
        data_collator: Any | None = None,
        refusals: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        streams = self.active_streams(args)
        train_dataset, images = self.training_data(train_dataset, args)
        if data_collator is None:
            if refusals is None and getattr(args, "refusals", None):
                refusals = load_refusals(args.refusals)
            data_collator = UMUCollator(
                adapter, images, streams, label_mode=args.label_mode, refusals=refusals, eos=args.eos, seed=args.seed,
            )
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            data_collator=data_collator,
            processing_class=adapter.processor,
            **kwargs,
        )
        self.adapter = adapter
        self.loss_is_scaled_for_ga = False  # our loss is a per-batch mean
        self._terms: dict[str, list[float]] = defaultdict(list)
        self.divergence_guard = DivergenceGuard()
        self.add_callback(self.divergence_guard)

    @classmethod
    def active_streams(cls, args: UMUConfig) -> Mapping[str, tuple[str, str]]:
        """The streams this run reads (a method may drop one its settings switch off)."""
        return cls.streams

    def training_data(self, train_dataset: Any, args: UMUConfig) -> tuple[Any, Mapping[int, Any]]:
        """``(dataset the Trainer iterates, decoded portraits)``: a :class:`StreamDataset` for ``--streams
        independent`` (configured with the batch size, seed and the streams this method reads) or a
        :class:`~umu_hf.data.collate.QADataset` for ``paired``; one clear error for the other."""
        independent = isinstance(train_dataset, StreamDataset)
        if independent != (args.streams == "independent"):
            raise UmuError(
                f"{self.method}: --streams {args.streams} needs a "
                f"{'StreamDataset' if args.streams == 'independent' else 'QADataset'}, got "
                f"{type(train_dataset).__name__}; build it with umu_hf.trainers.jobs.build_*_dataset(..., "
                f"streams={args.streams!r})"
            )
        if independent:
            keys = {key for key, _ in self.active_streams(args).values()}
            train_dataset.configure(args.per_device_train_batch_size, args.seed, keys)
        return train_dataset, train_dataset.images

    def create_accelerator_and_postprocess(self) -> None:
        """The Trainer's accelerator; ``--fsdp`` on CPU processes gets FSDP2 too (:func:`umu_hf.trainers.fsdp.enable_fsdp`)."""
        super().create_accelerator_and_postprocess()
        enable_fsdp(self)

    def get_train_dataloader(self) -> Any:
        """A :class:`StreamDataset` is served one step per batch, in order (it shuffles each stream itself)."""
        if not isinstance(self.train_dataset, StreamDataset):
            return super().get_train_dataloader()
        return self._get_dataloader(
            dataset=self.train_dataset,
            description="Training",
            batch_size=1,
            sampler_fn=EpochSampler,
            is_training=True,
        )

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """The Trainer's checkpoint, refused for a diverged or non-finite state (whatever ``save_strategy``).

        Refusing here also keeps ``save_total_limit`` from deleting the last good checkpoint in its favour.
        """
        if self.divergence_guard.diverged_at is None and non_finite_weights(self.model):
            self.divergence_guard.diverged_at = self.state.global_step
        if self.divergence_guard.diverged_at is not None:
            logger.warning("%s: not checkpointing step %d: the weights are not finite", self.method,
                           self.state.global_step)
            return
        super()._save_checkpoint(model, trial)

    def extra_state(self) -> dict[str, Any]:
        """A method's own state that must survive resume (JSON-serialisable); empty: nothing to save."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned when the checkpoint was saved."""

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        """The Trainer's optimiser and scheduler, plus :meth:`extra_state` (written before ``trainer_state.json``,
        so a complete checkpoint has it)."""
        super()._save_optimizer_and_scheduler(output_dir)
        state = self.extra_state()
        if state and self.args.should_save:
            write_json(os.path.join(output_dir, TRAINER_EXTRA_STATE), state)

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        """The Trainer's optimiser and scheduler, plus the checkpoint's :meth:`extra_state` when it has one."""
        super()._load_optimizer_and_scheduler(checkpoint)
        path = os.path.join(checkpoint, TRAINER_EXTRA_STATE) if checkpoint else None
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                self.load_extra_state(json.load(f))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        """Resume full-weight training correctly: transformers saves LLaVA-style checkpoints under their original
        key names (``language_model.model.…``), which the Trainer's plain ``load_state_dict`` does not map back —
        it reported the keys as missing and went on from the *initial* weights. ``from_pretrained`` maps them;
        its weights are copied in. LoRA adapter checkpoints load as the Trainer does it."""
        model = self.model if model is None else model
        if is_peft_model(model):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        loaded = type(model).from_pretrained(resume_from_checkpoint, dtype=next(model.parameters()).dtype)
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        if missing or unexpected:
            raise UmuError(
                f"cannot resume from {resume_from_checkpoint}: its weights do not match the model ({len(missing)} "
                f"missing, {len(unexpected)} unexpected keys); pass --overwrite to start again"
            )
        del loaded
        return None

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``, raising :class:`TrainingDivergedError` when a step left non-finite weights."""
        output = super().train(*args, **kwargs)
        if self.divergence_guard.diverged_at is not None:
            raise TrainingDivergedError(
                f"{self.method}: step {self.divergence_guard.diverged_at} left non-finite weights; training "
                f"stopped without saving them{last_checkpoint_note(self.args.output_dir)}. Lower --learning_rate "
                "or keep --max_grad_norm"
            )
        return output

    # ---- pieces methods use -------------------------------------------------------------------------------
    @staticmethod
    def stream_inputs(inputs: Mapping[str, Any], stream: str, modality: str) -> tuple[dict[str, Any], torch.Tensor]:
        """The model inputs and labels of one ``{stream}_{modality}_`` batch."""
        prefix = f"{stream}_{modality}_"
        sub = {k[len(prefix) :]: v for k, v in inputs.items() if k.startswith(prefix)}
        if "labels" not in sub:
            raise KeyError(f"batch has no '{prefix}labels'; the collator streams are {list(inputs)[:6]}...")
        labels = sub.pop("labels")
        return sub, labels

    def stream_logits(self, model: Any, inputs: Mapping[str, Any], stream: str, modality: str):
        """Forward one stream; returns ``(logits, labels)``."""
        sub, labels = self.stream_inputs(inputs, stream, modality)
        return model(**sub).logits, labels

    # ---- the loss ------------------------------------------------------------------------------------------
    def modality_loss(self, model: Any, inputs: Mapping[str, Any], modality: str) -> dict[str, torch.Tensor]:
        """``{"loss": ..., <term>: ...}`` for one modality (``"mm"`` or ``"um"``); terms are logged."""
        raise NotImplementedError

    def modality_weights(self, inputs: Mapping[str, Any]) -> list[tuple[str, float]]:
        """``[("mm", 1), ("um", alpha)]``, keeping only the modalities the batch has."""
        first = next(iter(self.streams))
        weights = [("mm", 1.0), ("um", self.args.alpha)]
        return [(m, w) for m, w in weights if f"{first}_{m}_input_ids" in inputs]

    def adaptive_modality_weights(
        self, model: Any, inputs: Mapping[str, Any], fixed: list[tuple[str, float]]
    ) -> list[tuple[str, float]]:
        """``--modality_weighting adaptive``: ``W · softmax_m(−NLL_m)`` with ``NLL_m`` the current (no-grad)
        forget-answer NLL of modality ``m`` and ``W`` the sum of the fixed weights (1 + alpha), so equal NLLs and
        alpha 1 give the fixed weights. Logged as ``weight_<modality>``."""
        stream = self.forget_answer_stream(self.args)
        with torch.no_grad():
            nll = {m: float(answer_nll(*self.stream_logits(model, inputs, stream, m))) for m, _ in fixed}
        share = modality_softmax_weights(nll)
        scale = sum(w for _, w in fixed)
        weights = [(m, scale * share[m]) for m, _ in fixed]
        for m, w in weights:
            self._terms[f"weight_{m}"].append(w)
        return weights

    @classmethod
    def forget_answer_stream(cls, args: UMUConfig) -> str:
        """The stream that holds the true forget answers (adaptive weighting reads it)."""
        for name, spec in cls.active_streams(args).items():
            if spec == ("forget", "answer"):
                return name
        raise UmuError(f"--modality_weighting adaptive needs the true forget answers, which method '{cls.method}' "
                       "does not read")

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """``L = L_mm + alpha · L_um`` (+ ``lora_l1 · Σ|θ_LoRA|``); every term is logged per modality; a non-finite
        loss stops training. ``--modality_weighting adaptive`` replaces the weights (:meth:`adaptive_modality_weights`).

        With ``multimodal_max_grad_norm`` the multimodal term is back-propagated here and its gradient clipped
        before the unimodal term is added, as the original NPO does; the returned total then carries only the
        unimodal term's gradient (the Trainer back-propagates it).
        """
        total = None
        clip_first = self.args.multimodal_max_grad_norm > 0 and model.training and torch.is_grad_enabled()
        weights = self.modality_weights(inputs)
        if getattr(self.args, "modality_weighting", "fixed") == "adaptive":
            weights = self.adaptive_modality_weights(model, inputs, weights)
        for modality, weight in weights:
            terms = self.modality_loss(model, inputs, modality)
            for name, value in terms.items():
                self._terms[f"{name}_{modality}"].append(float(value.detach()))
            loss = weight * terms["loss"]
            if clip_first and modality == "mm" and torch.isfinite(loss):
                self.accelerator.backward(loss)
                self.accelerator.clip_grad_norm_(model.parameters(), self.args.multimodal_max_grad_norm)
                loss = loss.detach()
            total = loss if total is None else total + loss
        if total is None:
            raise UmuError(f"{self.method}: the batch has none of the streams {list(self.streams)}")
        if getattr(self.args, "lora_l1", 0.0) > 0:
            l1 = self.args.lora_l1 * lora_l1_norm(model)
            self._terms["lora_l1"].append(float(l1.detach()))
            total = total + l1
        if not torch.isfinite(total):
            raise TrainingDivergedError(
                f"{self.method}: the loss became {float(total)} at step {self.state.global_step + 1}; training "
                f"stopped before that step changed the weights{last_checkpoint_note(self.args.output_dir)}. Lower "
                "--learning_rate, fewer epochs, or keep --max_grad_norm"
            )
        return (total, None) if return_outputs else total

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the mean of each loss term since the last log (training logs only)."""
        if "loss" in logs and self._terms:
            logs = {**logs, **{k: sum(v) / len(v) for k, v in self._terms.items()}}
            self._terms.clear()
        super().log(logs, start_time)


class UnlearnTrainer(UMUTrainer):
    """Base of every unlearning method: a :class:`UMUTrainer` that can compare with the model before unlearning.

    A method that sets ``needs_reference`` reads p_ref (:meth:`reference_logits`): the same network with the LoRA
    adapter switched off, or an explicit frozen ``ref_model`` when the model has no adapter.
    """

    #: the retain stream is read only when ``gamma > 0`` (methods whose paper trains on the forget set alone;
    #: the original NPO zips no retain loader): :meth:`active_streams` drops it, :meth:`with_retain_nll` adds it
    optional_retain: bool = False

    @classmethod
    def active_streams(cls, args: UMUConfig) -> Mapping[str, tuple[str, str]]:
        """Every stream, or the forget stream alone for an ``optional_retain`` method run with ``gamma = 0``."""
        if cls.optional_retain and not args.gamma > 0:
            return {"forget": cls.streams["forget"]}
        return cls.streams

    def with_retain_nll(
        self, model: Any, inputs: Mapping[str, Any], modality: str, loss: torch.Tensor, terms: dict[str, Any]
    ) -> dict[str, Any]:
        """``{"loss": loss + γ·NLL(retain), **terms, "retain_nll": …}`` when ``gamma > 0``, else ``loss`` and
        ``terms`` as they are: the optional retain term of an ``optional_retain`` method."""
        if self.args.gamma > 0:
            retain_nll = answer_nll(*self.stream_logits(model, inputs, "retain", modality))
            loss = loss + self.args.gamma * retain_nll
            terms = {**terms, "retain_nll": retain_nll}
        return {"loss": loss, **terms}

    def __init__(
        self,
        model: Any,
        args: UnlearnConfig,
        train_dataset: Any,
        adapter: Any,
        ref_model: Any | None = None,
        **kwargs: Any,
    ) -> None:
        if self.needs_reference and ref_model is None and not is_peft_model(model):
            raise UmuError(
                f"method '{self.method}' needs the model before unlearning as a reference: train with LoRA "
                "(the reference is the adapter switched off) or pass ref_model=<a frozen copy>"
            )
        if getattr(args, "modality_weighting", "fixed") == "adaptive":
            self.forget_answer_stream(args)
        if getattr(args, "lora_l1", 0.0) > 0 and not lora_parameters(model):
            raise UmuError("--lora_l1 needs trainable LoRA parameters; train with LoRA or leave --lora_l1 0")
        super().__init__(model, args, train_dataset, adapter, **kwargs)
        self.ref_model = None
        if ref_model is not None:
            ref_model.eval().requires_grad_(False)
            self.ref_model = shard_reference(self, ref_model.to(self.args.device))

    @contextlib.contextmanager
    def reference(self, model: Any) -> Iterator[Any]:
        """The reference network p_ref: the frozen ``ref_model`` or the same weights with the adapter off."""
        if self.ref_model is not None:
            try:
                yield self.ref_model
            finally:
                reshard(self.ref_model)  # a sharded copy: drop the units its forward left gathered
            return
        unwrapped = self.accelerator.unwrap_model(model)  # DDP hides disable_adapter
        with unwrapped.disable_adapter():
            yield unwrapped

    @torch.no_grad()
    def reference_logits(self, model: Any, inputs: Mapping[str, Any], stream: str, modality: str) -> torch.Tensor:
        """Logits of p_ref on one stream (no gradient)."""
        sub, _ = self.stream_inputs(inputs, stream, modality)
        with self.reference(model) as ref:
            return ref(**sub).logits
