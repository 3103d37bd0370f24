"""UMU-Bench: modality-aligned unlearning metrics (AccF, AccR, RLF, RLR) as an `evaluate` module.

A thin wrapper: the rules and the arithmetic live in ``umu_hf.scoring`` (the umu-hf package), which the
evaluation runner and the Space call too, so every number agrees. Imports are one per line on purpose: the import
scanner of ``evaluate`` mis-reads ``import a, b``.
"""

import datasets
import evaluate

from umu_hf import scoring

_CITATION = """\
@inproceedings{umubench2025,
  title     = {{UMU-Bench}: Closing the Modality Gap in Multimodal Unlearning Evaluation},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS), Datasets and Benchmarks Track},
  year      = {2025},
  url       = {https://openreview.net/forum?id=M476xkfNXe}
}
"""

_DESCRIPTION = """\
UMU-Bench checks that a multimodal model forgets a person's profile in *both* modalities: asked in text alone
(unimodal) and asked with the person's photo (multimodal). Every question is asked in both modalities and the
two results are combined per question, so a method that forgets in one modality only is exposed.

Configs: "classification" (multiple choice), "cloze" (fill in the blank) -> AccF, AccR, per-modality accuracy and
the 2x2 table; "generation" (open answer) -> RLF, RLR, per-modality ROUGE-L and, as secondary numbers, per-modality
BLEU, ROUGE-1 and ROUGE-2. All values are percent (0-100).
AccF and RLF are read on the forget set (lower is better); AccR and RLR on the retain and real sets (higher is
better).

Config "privacy" (membership inference, beyond accuracy): the ROC AUC (0-1) of per-example attack scores of
members (the forget set) against non-members (profiles never trained on), "member when the score is high"; 0.5 is
chance, and after unlearning closer to 0.5 is better. `umu-hf eval --privacy` computes the scores.
"""

_KWARGS_DESCRIPTION = """
Args:
    unimodal_predictions (`list` of `str`): the model's reply to each question asked in text only.
    multimodal_predictions (`list` of `str`): the reply to the same question asked with the image, same order.
    references (`list` of `str`): the correct answer of each question. classification: the correct option's
        *text* (not its letter); cloze: the raw answer, whose part before the first '.' must appear in the reply
        (case-insensitive); generation: the reference answer for ROUGE-L F1 (stemmer on).
    options (`list` of `list` of `str`, classification only): the 4 option texts (A-D) of each question.
    option_matching (`str`, classification only, default "exact"): "exact" — the stripped reply must equal the
        correct option text (case and punctuation matter: "B" or "B. Paris" is wrong); "closest" — the reply is
        first snapped to the most similar option (difflib.SequenceMatcher ratio; ties go to the first option).
    confidence_level (`float`, optional): e.g. 0.95 adds a percentile bootstrap interval `<metric>_ci` = [lo, hi]
        for each headline metric, resampling questions (1000 resamples, seeded).
    seed (`int`, optional, default 42): seed of the bootstrap.

Returns:
    classification and cloze:
        AccF (`float`): % of questions answered right in at least one modality (forget set: lower is better).
        AccR (`float`): % answered right in both modalities (retain/real sets: higher is better).
        unimodal_acc, multimodal_acc (`float`): accuracy of each modality.
        both_correct, only_unimodal, only_multimodal, both_wrong (`float`): the 2x2 table, % of n.
        n (`int`): number of questions.
    generation:
        RLF (`float`): mean contraharmonic mean (a²+b²)/(a+b) of the two ROUGE-L F1 scores (forget: lower better).
        RLR (`float`): mean harmonic mean 2ab/(a+b) (retain/real: higher is better); both 0 when a+b = 0.
        unimodal_rougeL, multimodal_rougeL (`float`): mean ROUGE-L F1 of each modality.
        n (`int`): number of questions.
        secondary (`dict`): the original's secondary numbers, not headline: per modality ("unimodal",
            "multimodal") the mean sentence BLEU (nltk, smoothing method 1, whitespace tokens) and ROUGE-1 /
            ROUGE-2 F1 (stemmer on): {"bleu", "rouge1", "rouge2"}.
    With confidence_level: AccF_ci and AccR_ci, or RLF_ci and RLR_ci.
    No questions: n = 0, every metric NaN and a warning.

Args (config "privacy"):
    member_scores (`list` of `float`): one attack's score of each member example (e.g. a forget-set training
        pair), oriented so that higher means "more likely a member" (e.g. minus the loss).
    nonmember_scores (`list` of `float`): the same attack's score of each non-member example (e.g. a holdout
        pair). The two lists may differ in length.
    Equivalently, `scores` (`list` of `float`) with `labels` (`list` of `int`, 1 member, 0 non-member), also
    through add/add_batch.

Returns (config "privacy"):
    auc (`float`): P(member score > non-member score) + 0.5 P(equal), the area under the ROC curve (Mann-Whitney
        U / (n_members * n_nonmembers)); 0.5 is chance, 1.0 every member above every non-member.
    n_members, n_nonmembers (`int`): the counts.

Examples:

    Classification: question 1 is still known in text only, question 2 with the image only.
Examples:

    Classification: question 1 is still known in text only, question 2 with the image only.

    >>> import evaluate
    >>> umu_bench = evaluate.load("umu_bench", "classification")
    >>> options = [["Paris", "Lyon", "Rome", "Oslo"], ["1990", "1991", "1992", "1993"]]
    >>> results = umu_bench.compute(
    ...     unimodal_predictions=["Paris", "1991"],
    ...     multimodal_predictions=["B. Paris", "1992"],
    ...     references=["Paris", "1992"],
    ...     options=options,
    ... )
    >>> results["AccF"], results["AccR"], results["only_unimodal"], results["only_multimodal"]
    (100.0, 0.0, 50.0, 50.0)

    With "closest" matching, "B. Paris" snaps to "Paris" and question 1 is right in both modalities:

    >>> results = umu_bench.compute(
    ...     unimodal_predictions=["Paris", "1991"],
    ...     multimodal_predictions=["B. Paris", "1992"],
    ...     references=["Paris", "1992"],
    ...     options=options,
    ...     option_matching="closest",
    ... )
    >>> results["AccF"], results["AccR"], results["both_correct"], results["n"]
    (100.0, 50.0, 50.0, 2)

    Cloze, with a 95% bootstrap interval:

    >>> cloze = evaluate.load("umu_bench", "cloze")
    >>> results = cloze.compute(
    ...     unimodal_predictions=["She lives in Lyon", "I don't know", "a nurse", "no idea"],
    ...     multimodal_predictions=["Lyon, France", "a teacher", "I cannot say", "no idea"],
    ...     references=["Lyon.", "Teacher. She teaches maths.", "Nurse", "1984"],
    ...     confidence_level=0.95,
    ... )
    >>> results["AccF"], results["AccR"], results["unimodal_acc"], results["multimodal_acc"]
    (75.0, 25.0, 50.0, 50.0)
    >>> results["AccF_ci"]
    [25.0, 100.0]

    Generation (ROUGE-L F1 of each reply against the reference answer):

    >>> generation = evaluate.load("umu_bench", "generation")
    >>> results = generation.compute(
    ...     unimodal_predictions=["Alice was born in Paris in 1990."],
    ...     multimodal_predictions=["I do not know."],
    ...     references=["Alice was born in Paris in 1990."],
    ... )
    >>> results["RLF"], results["RLR"], results["unimodal_rougeL"], results["multimodal_rougeL"]
    (100.0, 0.0, 100.0, 0.0)
    >>> results["secondary"]["unimodal"], results["secondary"]["multimodal"]["bleu"]
    ({'bleu': 100.0, 'rouge1': 100.0, 'rouge2': 100.0}, 0.0)

    Privacy: minus the loss of three forget-set examples (members) against two never-trained ones; the third member
    ties the first non-member, which counts one half.

    >>> privacy = evaluate.load("umu_bench", "privacy")
    >>> privacy.compute(member_scores=[-0.1, -0.3, -2.0], nonmember_scores=[-2.0, -3.5])
    {'auc': 0.9166666666666666, 'n_members': 3, 'n_nonmembers': 2}
    >>> privacy.compute(scores=[-0.1, -2.0, -3.5], labels=[1, 0, 0])["auc"]
    1.0
"""

_TEXT = datasets.Value("string")
#: the privacy config's per-example columns: a score and whether the example is a member (1) or not (0)
_PRIVACY_FEATURES = datasets.Features({"scores": datasets.Value("float64"), "labels": datasets.Value("int64")})
_FEATURES = {
    "classification": datasets.Features(
        {
            "unimodal_predictions": _TEXT,
            "multimodal_predictions": _TEXT,
            "references": _TEXT,
            "options": datasets.Sequence(_TEXT),
        }
    ),
    "cloze": datasets.Features(
        {"unimodal_predictions": _TEXT, "multimodal_predictions": _TEXT, "references": _TEXT}
    ),
    "generation": datasets.Features(
        {"unimodal_predictions": _TEXT, "multimodal_predictions": _TEXT, "references": _TEXT}
    ),
    "privacy": _PRIVACY_FEATURES,
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UmuBench(evaluate.Metric):
    """AccF/AccR (classification, cloze) and RLF/RLR (generation) of UMU-Bench; see ``umu_hf.scoring``. The
    privacy config: the membership-inference AUC of ``umu_hf.privacy.auc``."""

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name not in _FEATURES:
            raise ValueError(
                f"umu_bench has configs {list(_FEATURES)}, got {self.config_name!r}: "
                f'use e.g. evaluate.load("umu_bench", "classification")'
            )
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=_FEATURES[self.config_name],
            homepage="https://github.com/QDRhhhh/UMU-bench",
            codebase_urls=["https://github.com/QDRhhhh/UMU-bench"],
            reference_urls=["https://openreview.net/forum?id=M476xkfNXe"],
        )

    def _check_batch(self, unimodal_predictions, multimodal_predictions, references, options) -> None:
        """Validate a batch before it is written, so errors name our arguments and the index."""
        scoring.check_text_inputs(
            self.config_name,
            unimodal_predictions,
            multimodal_predictions,
            references,
            options if self.config_name == "classification" else None,
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """As ``evaluate``'s; the privacy config also takes ``member_scores`` and ``nonmember_scores``."""
        if self.config_name == "privacy" and ("member_scores" in kwargs or "nonmember_scores" in kwargs):
            members = _privacy_list(kwargs.pop("member_scores", None), "member_scores")
            nonmembers = _privacy_list(kwargs.pop("nonmember_scores", None), "nonmember_scores")
            if kwargs.get("scores") is not None or kwargs.get("labels") is not None:
                raise ValueError("give member_scores and nonmember_scores, or scores and labels, not both")
            kwargs["scores"] = members + nonmembers
            kwargs["labels"] = [1] * len(members) + [0] * len(nonmembers)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch (``unimodal_predictions``, ``multimodal_predictions``, ``references``[, ``options``]; the
        privacy config: ``scores``, ``labels``)."""
        if self.config_name == "privacy":
            _check_privacy(kwargs.get("scores"), kwargs.get("labels"))
            return super().add_batch(predictions=predictions, references=references, **kwargs)
        if predictions is not None:
            raise ValueError(
                "umu_bench takes unimodal_predictions and multimodal_predictions, not predictions"
            )
        self._check_batch(
            kwargs.get("unimodal_predictions"),
            kwargs.get("multimodal_predictions"),
            references,
            kwargs.get("options"),
        )
        return super().add_batch(references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one question (``unimodal_predictions``, ``multimodal_predictions``, ``references``[, ``options``];
        the privacy config: one ``scores`` and its ``labels``)."""
        if self.config_name == "privacy":
            _check_privacy([kwargs.get("scores")], [kwargs.get("labels")])
            return super().add(prediction=prediction, reference=reference, **kwargs)
        if prediction is not None:
            raise ValueError(
                "umu_bench takes unimodal_predictions and multimodal_predictions, not prediction"
            )
        self._check_batch(
            [kwargs.get("unimodal_predictions")],
            [kwargs.get("multimodal_predictions")],
            [reference if reference is not None else kwargs.get("references")],
            [kwargs.get("options")],
        )
        return super().add(reference=reference, **kwargs)

    def _compute(
        self,
        unimodal_predictions=None,
        multimodal_predictions=None,
        references=None,
        options=None,
        option_matching=None,
        confidence_level=None,
        seed=scoring.DEFAULT_SEED,
        scores=None,
        labels=None,
    ):
        if self.config_name == "privacy":
            from umu_hf.privacy import auc

            members = [s for s, label in zip(scores, labels, strict=True) if label == 1]
            nonmembers = [s for s, label in zip(scores, labels, strict=True) if label == 0]
            return {
                "auc": auc.auc(members, nonmembers),
                "n_members": len(members),
                "n_nonmembers": len(nonmembers),
            }
        if self.config_name == "classification":
            return scoring.classification_scores(
                unimodal_predictions,
                multimodal_predictions,
                references,
                options,
                option_matching="exact" if option_matching is None else option_matching,
                confidence_level=confidence_level,
                seed=seed,
            )
        for name, value in (("options", options), ("option_matching", option_matching)):
            if value is not None:
                raise ValueError(
                    f"{name} is only for classification; the {self.config_name} config takes none"
                )
        if self.config_name == "cloze":
            return scoring.cloze_scores(
                unimodal_predictions, multimodal_predictions, references, confidence_level, seed=seed
            )
        return scoring.generation_scores(
            unimodal_predictions, multimodal_predictions, references, confidence_level, seed=seed
        )


def _privacy_list(values, name):
    """``member_scores`` / ``nonmember_scores`` as a list (a ``ValueError`` naming the argument otherwise)."""
    if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of numbers (one attack score per example)")
    return list(values)


def _check_privacy(scores, labels):
    """A privacy batch: as many labels as scores, each label 1 (member) or 0 (non-member)."""
    if scores is None or labels is None:
        raise ValueError("the privacy config takes scores and labels (or member_scores and nonmember_scores)")
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} scores but {len(labels)} labels; give one label per score")
    for i, label in enumerate(labels):
        if label not in (0, 1) or isinstance(label, bool):
            raise ValueError(f"labels[{i}] is {label!r}; use 1 for a member and 0 for a non-member")
