"""Privacy attacks beyond accuracy: membership inference on the forget set, in both modalities.

- :mod:`umu_hf.privacy.auc`: the pure math (ROC AUC via Mann–Whitney with ties), shared with the
  ``umu_privacy`` evaluate module;
- :mod:`umu_hf.privacy.mia`: per-example scores of four attacks (LOSS, zlib, Min-K%, Min-K%++) on the answer
  tokens of the training pairs, and the AUC of the forget set (members) against the ``holdout`` config
  (non-members) per modality — what ``umu-hf eval --privacy`` writes under ``privacy`` in ``results.json``.

Every score is oriented so that a higher score means "more likely a member": a model that memorised the forget
set gives AUC > 0.5, and unlearning that works brings it towards 0.5 (below 0.5: the forget set now looks *less*
familiar than never-seen people, itself a tell).
"""
