"""Membership inference on the forget set: ROC AUC of member against non-member attack scores, and MUSE's PrivLeak
against a retain model, as an `evaluate` module.

A thin wrapper: the AUC is ``umu_hf.privacy.auc.auc`` and PrivLeak ``umu_hf.privacy.reference.privleak`` (the
umu-hf package), which ``umu-hf eval --privacy`` calls too, so every number agrees. As evaluate's own modules, it
overrides only ``_info`` and ``_compute``: the members' scores are the module's rows (``member_scores``, which
``add`` and ``add_batch`` take too), the non-members' scores the distribution they are compared with, given to
``compute`` (as ``reference_distribution`` in evaluate's ``mahalanobis``). The argument checks run in ``_compute``
under ``umu_hf.metric_modules.released_on_error``, so a refused argument leaves no cache file or lock behind.
Imports are one per line on purpose: the import scanner of ``evaluate`` mis-reads ``import a, b``.
"""

import datasets
import evaluate

from umu_hf.metric_modules import check_unit_interval, number_list, refuse_unknown, released_on_error
from umu_hf.privacy import auc, reference

_CITATION = """\
@inproceedings{umubench2025,
  title     = {{UMU-Bench}: Closing the Modality Gap in Multimodal Unlearning Evaluation},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS), Datasets and Benchmarks Track},
  year      = {2025},
  url       = {https://openreview.net/forum?id=M476xkfNXe}
}
@article{shi2024muse,
  title         = {{MUSE}: Machine Unlearning Six-Way Evaluation for Language Models},
  author        = {Weijia Shi and Jaechan Lee and Yangsibo Huang and Sadhika Malladi and Jieyu Zhao and Ari Holtzman
                   and Daogao Liu and Luke Zettlemoyer and Noah A. Smith and Chiyuan Zhang},
  year          = {2024},
  eprint        = {2407.06460},
  archivePrefix = {arXiv},
  url           = {https://arxiv.org/abs/2407.06460}
}
"""

_DESCRIPTION = """\
A model can stop answering about a person and still recognise the person's training text. Given one
membership-inference attack's score per example for members (examples the model was trained on: the forget set's
training pairs) and non-members (examples it never saw: UMU-style data from `umu-hf data synth` has a `holdout`
config of fictitious people left out of every fine-tuning), this metric returns the ROC AUC
P(member score > non-member score) + 0.5 P(equal), in 0-1, for the rule "member when the score is high": 0.5 is
chance, and after unlearning closer to 0.5 is better. With the retain model's AUC (`retain_auc`, the same attack on
the fine-tuning without the forget people) it adds MUSE's PrivLeak, the relative AUC gap to it in percent in MUSE's
convention (closer to 0 is better; negative: still recognised, positive: over-unlearned). `umu-hf eval --privacy`
computes the scores of four attacks (LOSS, zlib, Min-K%, Min-K%++) in both modalities.
"""

_KWARGS_DESCRIPTION = """
Args:
    member_scores (`list` of `float`): one attack's score of each member example (e.g. a forget-set training
        pair), oriented so that higher means "more likely a member" (e.g. minus the loss). The module's rows: `add`
        and `add_batch` take them too.
    nonmember_scores (`list` of `float`): the same attack's score of each non-member example (e.g. a holdout
        pair), given to `compute`; any length.
    retain_auc (`float`, optional): the same attack's AUC on the retain model (fine-tuned without the members),
        in this metric's convention (member score high), in [0, 1).

Returns:
    auc (`float`): P(member score > non-member score) + 0.5 P(equal), the area under the ROC curve (Mann-Whitney
        U / (n_members * n_nonmembers)); 0.5 is chance, 1.0 every member above every non-member.
    n_members, n_nonmembers (`int`): the counts.
    privleak (`float`, with retain_auc): MUSE's PrivLeak in percent, (retain_auc - auc) / (1 - retain_auc) * 100:
        MUSE's (AUC - AUC_retain) / AUC_retain on MUSE's AUC, which scores members low (1 - auc). 0 = no leak
        beyond the retain model; < 0 the members are still recognised (near -100: memorised); > 0 over-unlearned.

Examples:

    Minus the loss of three forget-set examples (members) against two never-trained ones; the third member ties
    the first non-member, which counts one half.

    >>> import evaluate
    >>> privacy = evaluate.load("umu_privacy")
    >>> privacy.compute(member_scores=[-0.1, -0.3, -2.0], nonmember_scores=[-2.0, -3.5])
    {'auc': 0.9166666666666666, 'n_members': 3, 'n_nonmembers': 2}

    Against a retain model at chance, the members are still recognised (PrivLeak well below 0):

    >>> leak = privacy.compute(member_scores=[-0.1, -0.3, -2.0], nonmember_scores=[-2.0, -3.5], retain_auc=0.5)
    >>> round(leak["privleak"], 2)
    -83.33

    The members' scores can be added as they come, the non-members' given at the end:

    >>> for batch in ([-0.1, -0.3], [-2.0]):
    ...     privacy.add_batch(member_scores=batch)
    >>> privacy.compute(nonmember_scores=[-2.0, -3.5])["auc"]
    0.9166666666666666
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UmuPrivacy(evaluate.Metric):
    """The membership-inference AUC of ``umu_hf.privacy.auc`` and PrivLeak of ``umu_hf.privacy.reference``."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"member_scores": datasets.Value("float64")}),
            homepage="https://github.com/QDRhhhh/UMU-bench",
            codebase_urls=["https://github.com/swj0419/muse_bench"],
            reference_urls=["https://arxiv.org/abs/2407.06460", "https://openreview.net/forum?id=M476xkfNXe"],
        )

    def _compute(
        self,
        member_scores: list[float],
        nonmember_scores: list[float] | None = None,
        retain_auc: float | None = None,
        **unknown: object,
    ) -> dict:
        """The AUC of ``member_scores`` against ``nonmember_scores``, and PrivLeak when ``retain_auc`` is given."""
        with released_on_error(self):
            refuse_unknown(unknown, "umu_privacy", ("member_scores", "nonmember_scores", "retain_auc"))
            retain = check_unit_interval(
                retain_auc, "retain_auc", "the same attack's AUC on the retain model, or leave it out"
            )
            others = number_list(
                nonmember_scores,
                "nonmember_scores",
                "the same attack's score of each non-member example (e.g. a holdout pair)",
            )
            result = {
                "auc": auc.auc(member_scores, others),
                "n_members": len(member_scores),
                "n_nonmembers": len(others),
            }
            if retain is not None:
                result["privleak"] = reference.privleak(result["auc"], retain)
            return result
