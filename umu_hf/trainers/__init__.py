"""Fine-tuning and unlearning as ``transformers.Trainer`` subclasses (docs/protocol.md, Training).

Each method is one small module in :mod:`umu_hf.trainers.methods` with a ``<Method>Config`` (a
``TrainingArguments`` dataclass) beside its ``<Method>Trainer``; :mod:`umu_hf.trainers.registry` maps names to
them. Import what you need, e.g. ``from umu_hf.trainers.methods.npo import NPOConfig, NPOTrainer``.
"""
