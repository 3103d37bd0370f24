"""TOFU's forget quality: the two-sample Kolmogorov-Smirnov p-value between an unlearned model's and a retain
model's truth ratios on the forget set, as an `evaluate` module.

A thin wrapper: the test is ``umu_hf.privacy.truth_ratio.forget_quality`` (``scipy.stats.ks_2samp``) and
``ks_statistic`` (the umu-hf package), which ``umu-hf eval --privacy --retain-model`` calls too, so every number
agrees. As evaluate's own modules, it overrides only ``_info`` and ``_compute``: the unlearned model's truth ratios
are the module's rows (``unlearned_truth_ratios``, which ``add`` and ``add_batch`` take too), the retain model's
the distribution they are compared with, given to ``compute`` (as ``reference_distribution`` in evaluate's
``mahalanobis``). The argument checks run in ``_compute`` under ``umu_hf.metric_modules.released_on_error``, so a
refused argument leaves no cache file or lock behind. Imports are one per line on purpose: the import scanner of
``evaluate`` mis-reads ``import a, b``.
"""

import datasets
import evaluate

from umu_hf.metric_modules import number_list, refuse_unknown, released_on_error
from umu_hf.privacy import truth_ratio

_CITATION = """\
@inproceedings{umubench2025,
  title     = {{UMU-Bench}: Closing the Modality Gap in Multimodal Unlearning Evaluation},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS), Datasets and Benchmarks Track},
  year      = {2025},
  url       = {https://openreview.net/forum?id=M476xkfNXe}
}
@inproceedings{maini2024tofu,
  title     = {{TOFU}: A Task of Fictitious Unlearning for {LLMs}},
  author    = {Maini, Pratyush and Feng, Zhili and Schwarzschild, Avi and Lipton, Zachary Chase and Kolter, J Zico},
  booktitle = {First Conference on Language Modeling},
  year      = {2024}
}
"""

_DESCRIPTION = """\
Is the unlearned model indistinguishable from a model that never saw the forget people? For each forget-set
multiple-choice item the truth ratio R = mean over the wrong options of exp(s_wrong) / exp(s_right), with s the
option's mean log-probability per token: near 0 the right answer stands out, near 1 or above it does not. Given
the unlearned model's truth ratios and the retain model's (the fine-tuning without the forget people) on the same
items, this metric returns TOFU's forget quality, the two-sided two-sample Kolmogorov-Smirnov p-value
(`scipy.stats.ks_2samp`, default method): higher is better, 1 means the two distributions cannot be told apart.
`umu-hf eval --privacy --retain-model M` computes both models' truth ratios, per modality.
"""

_KWARGS_DESCRIPTION = """
Args:
    unlearned_truth_ratios (`list` of `float`): the unlearned model's truth ratio of each forget-set
        classification item, R = mean over wrong options of exp(s_wrong) / exp(s_right), s the mean
        log-probability per option token (umu_hf.privacy.truth_ratio.truth_ratio). The module's rows: `add` and
        `add_batch` take them too.
    retain_truth_ratios (`list` of `float`): the retain model's, same items, given to `compute` (the two lists
        may differ in length).

Returns:
    forget_quality (`float`): the two-sided two-sample Kolmogorov-Smirnov p-value (`scipy.stats.ks_2samp`); 1 =
        the two distributions cannot be told apart.
    ks_statistic (`float`): the largest gap between the two empirical distribution functions.
    n_unlearned, n_retain (`int`): the counts.

Examples:

    A model against itself is indistinguishable:

    >>> import evaluate
    >>> fq = evaluate.load("umu_forget_quality")
    >>> fq.compute(unlearned_truth_ratios=[0.2, 0.5, 0.9], retain_truth_ratios=[0.2, 0.5, 0.9])["forget_quality"]
    1.0

    Against a retain model whose truth ratios are all higher (the right answer no longer stands out), the KS test
    tells them apart:

    >>> result = fq.compute(unlearned_truth_ratios=[0.01, 0.02, 0.03, 0.04, 0.05],
    ...                     retain_truth_ratios=[0.8, 0.9, 1.0, 1.1, 1.2])
    >>> round(result["forget_quality"], 4), result["ks_statistic"]
    (0.0079, 1.0)

    The unlearned model's truth ratios can be added as they come, the retain model's given at the end:

    >>> for ratio in (0.01, 0.02, 0.03, 0.04, 0.05):
    ...     fq.add(unlearned_truth_ratios=ratio)
    >>> fq.compute(retain_truth_ratios=[0.8, 0.9, 1.0, 1.1, 1.2])["n_unlearned"]
    5
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UmuForgetQuality(evaluate.Metric):
    """TOFU's forget quality of ``umu_hf.privacy.truth_ratio``: the KS p-value of two truth-ratio samples."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"unlearned_truth_ratios": datasets.Value("float64")}),
            homepage="https://github.com/QDRhhhh/UMU-bench",
            codebase_urls=["https://github.com/locuslab/tofu"],
            reference_urls=["https://arxiv.org/abs/2401.06121", "https://openreview.net/forum?id=M476xkfNXe"],
        )

    def _compute(
        self,
        unlearned_truth_ratios: list[float],
        retain_truth_ratios: list[float] | None = None,
        **unknown: object,
    ) -> dict:
        """The KS p-value and statistic of ``unlearned_truth_ratios`` against ``retain_truth_ratios``."""
        with released_on_error(self):
            refuse_unknown(unknown, "umu_forget_quality", ("unlearned_truth_ratios", "retain_truth_ratios"))
            ours = number_list(
                unlearned_truth_ratios, "unlearned_truth_ratios", "the unlearned model's truth ratio of each item"
            )
            theirs = number_list(
                retain_truth_ratios,
                "retain_truth_ratios",
                "the retain model's truth ratio of each forget-set item",
            )
            for name, values in (("unlearned_truth_ratios", ours), ("retain_truth_ratios", theirs)):
                if not values:
                    raise ValueError(
                        f"{name} is empty; forget quality needs at least one truth ratio of each model"
                    )
            return {
                "forget_quality": truth_ratio.forget_quality(ours, theirs),
                "ks_statistic": truth_ratio.ks_statistic(ours, theirs),
                "n_unlearned": len(ours),
                "n_retain": len(theirs),
            }
