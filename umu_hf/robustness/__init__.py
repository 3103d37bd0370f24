"""Is it really forgotten? The evaluation asked again under changes that should not matter
(``umu-hf eval --robustness``; results.json's ``robustness`` block, built on top of an evaluation by
:mod:`umu_hf.robustness.block`):

- ``paraphrase``: every classification, cloze and generation question of forget and retain asked again in the
  dataset's other wordings (same answer), per modality, with the change against the original wording;
- ``image``: every multimodal classification and cloze question of forget and retain asked again with the portrait
  transformed (:mod:`umu_hf.robustness.transforms`: crop, blur, grayscale, flip, JPEG), accuracy per transform and
  its change against the untransformed portrait;
- ``extraction``: exact memorization and extraction strength of the forget set's answers, per modality, as
  open-unlearning defines them (:mod:`umu_hf.robustness.extraction`);
- ``quantization``: the same questions on a copy of the model with 8-bit (and, on a GPU, 4-bit) weights, and the
  recovery of forgotten answers (:mod:`umu_hf.robustness.quantize`).

Data without paraphrases (converted published data) gets ``{"unavailable": why}`` there, never a number.

The arithmetic on scored replies (score in percent, change against the plain replies) is
:mod:`umu_hf.robustness.compare`, which the evaluate module's ``robustness_*`` configs (``metrics/umu_bench``) call
too: ``paraphrase``, ``image`` and ``quantization`` can be computed from replies alone; ``extraction`` cannot.
"""
