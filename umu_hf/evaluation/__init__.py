"""The UMU-Bench evaluation runner (``umu-hf eval``): a model in, the benchmark numbers out.

Modules: :mod:`.items` (the benchmark questions of a split and how a reply is judged), :mod:`.store` (the
output folder: ``run.json``, ``predictions.jsonl``, resume), :mod:`.results` (predictions ->
``results.json``), :mod:`.loglik` (multiple choice by option log-likelihood), :mod:`.sharding` (several
processes) and :mod:`.runner` (an :class:`~umu_hf.evaluation.runner.EvalRequest` run by
:func:`~umu_hf.evaluation.runner.evaluate_model`: plan, execute, results). Nothing heavy is imported here.
"""
