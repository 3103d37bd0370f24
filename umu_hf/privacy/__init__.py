"""Privacy attacks beyond accuracy: membership inference on the forget set, in both modalities.

- :mod:`umu_hf.privacy.auc`: the pure math (ROC AUC via Mann–Whitney with ties), shared with the
  ``umu_privacy`` evaluate module;
- :mod:`umu_hf.privacy.mia`: per-example scores of four attacks (LOSS, zlib, Min-K%, Min-K%++) on the answer
  tokens of the training pairs, and the AUC of the forget set (members) against the ``holdout`` config
  (non-members) per modality — what ``umu-hf eval --privacy`` writes under ``privacy`` in ``results.json``;
- :mod:`umu_hf.privacy.reference`: one model's block and its comparison with a retain model's (forget quality,
  PrivLeak); :mod:`umu_hf.privacy.truth_ratio`: the truth ratios behind forget quality;
- :mod:`umu_hf.privacy.block`: the block measured on top of an evaluation, on the model it loaded
  (:func:`~umu_hf.privacy.block.evaluate_with_privacy`, called by ``umu-hf eval`` and the bench);
  :mod:`umu_hf.privacy.cli`: ``umu-hf eval``, the evaluation's command with the privacy flags;
- :mod:`umu_hf.privacy.relearn`: the relearning attack (``umu-hf relearn``).

Every score is oriented so that a higher score means "more likely a member": a model that memorised the forget
set gives AUC > 0.5, and unlearning that works brings it towards 0.5 (below 0.5: the forget set now looks *less*
familiar than never-seen people, itself a tell).
"""
