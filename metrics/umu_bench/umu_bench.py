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
chance, and after unlearning closer to 0.5 is better. `umu-hf eval --privacy` computes the scores. With the retain
model's AUC (`retain_auc`) it adds MUSE's PrivLeak, the relative AUC gap to it in percent in MUSE's convention
(closer to 0 is better; negative: still recognised, positive: over-unlearned).

Config "forget_quality": the KS-test p-value between an unlearned model's and a retain model's truth ratios on the
forget set (1 = indistinguishable from a model that never saw the forget people; higher is better).
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
    retain_auc (`float`, optional): the same attack's AUC on the retain model (fine-tuned without the members),
        in this config's convention (member score high), in [0, 1).

Returns (config "privacy"):
    auc (`float`): P(member score > non-member score) + 0.5 P(equal), the area under the ROC curve (Mann-Whitney
        U / (n_members * n_nonmembers)); 0.5 is chance, 1.0 every member above every non-member.
    n_members, n_nonmembers (`int`): the counts.
    privleak (`float`, with retain_auc): MUSE's PrivLeak in percent, (retain_auc - auc) / (1 - retain_auc) * 100:
        MUSE's (AUC - AUC_retain) / AUC_retain on MUSE's AUC, which scores members low (1 - auc). 0 = no leak
        beyond the retain model; < 0 the members are still recognised (near -100: memorised); > 0 over-unlearned.

Args (config "forget_quality"):
    unlearned_truth_ratios (`list` of `float`): the unlearned model's truth ratio of each forget-set
        classification item, R = mean over wrong options of exp(s_wrong) / exp(s_right), s the mean
        log-probability per option token (umu_hf.privacy.truth_ratio.truth_ratio).
    retain_truth_ratios (`list` of `float`): the retain model's, same items (the lists may differ in length).
    Equivalently, `truth_ratios` with `labels` (1 unlearned model, 0 retain model), also through add/add_batch.

Returns (config "forget_quality"):
    forget_quality (`float`): the two-sided two-sample Kolmogorov-Smirnov p-value (`scipy.stats.ks_2samp`); 1 =
        the two distributions cannot be told apart.
    ks_statistic (`float`): the largest gap between the two empirical distribution functions.
    n_unlearned, n_retain (`int`): the counts.

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
    >>> leak = privacy.compute(member_scores=[-0.1, -0.3, -2.0], nonmember_scores=[-2.0, -3.5], retain_auc=0.5)
    >>> round(leak["privleak"], 2)
    -83.33

    Forget quality: a model against itself is indistinguishable; against a retain model whose truth ratios are
    all higher (the right answer no longer stands out), the KS test tells them apart.

    >>> fq = evaluate.load("umu_bench", "forget_quality")
    >>> fq.compute(unlearned_truth_ratios=[0.2, 0.5, 0.9], retain_truth_ratios=[0.2, 0.5, 0.9])["forget_quality"]
    1.0
    >>> result = fq.compute(unlearned_truth_ratios=[0.01, 0.02, 0.03, 0.04, 0.05],
    ...                     retain_truth_ratios=[0.8, 0.9, 1.0, 1.1, 1.2])
    >>> round(result["forget_quality"], 4), result["ks_statistic"]
    (0.0079, 1.0)
"""

_TEXT = datasets.Value("string")
#: the privacy config's per-example columns: a score and whether the example is a member (1) or not (0)
_PRIVACY_FEATURES = datasets.Features({"scores": datasets.Value("float64"), "labels": datasets.Value("int64")})
#: the forget_quality config's per-item columns: a truth ratio and whose it is (1 unlearned model, 0 retain model)
_FQ_FEATURES = datasets.Features({"truth_ratios": datasets.Value("float64"), "labels": datasets.Value("int64")})
#: the two-list configs: config -> (score column, (positive list argument, negative list argument))
_TWO_LISTS = {
    "privacy": ("scores", ("member_scores", "nonmember_scores")),
    "forget_quality": ("truth_ratios", ("unlearned_truth_ratios", "retain_truth_ratios")),
}
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
    "forget_quality": _FQ_FEATURES,
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
        """As ``evaluate``'s; the privacy config also takes ``member_scores`` and ``nonmember_scores``, the
        forget_quality config ``unlearned_truth_ratios`` and ``retain_truth_ratios``."""
        if self.config_name in _TWO_LISTS:
            column, (first, second) = _TWO_LISTS[self.config_name]
            if first in kwargs or second in kwargs:
                ones = _number_list(kwargs.pop(first, None), first)
                zeros = _number_list(kwargs.pop(second, None), second)
                if kwargs.get(column) is not None or kwargs.get("labels") is not None:
                    raise ValueError(f"give {first} and {second}, or {column} and labels, not both")
                kwargs[column] = ones + zeros
                kwargs["labels"] = [1] * len(ones) + [0] * len(zeros)
        self._check_compute_arguments(kwargs)
        try:
            return super().compute(predictions=predictions, references=references, **kwargs)
        except Exception:
            self._release_cache_locks()
            raise

    def _release_cache_locks(self) -> None:
        """After an error inside ``_compute`` (e.g. a privacy AUC with no non-member score): release the cache
        files' locks that evaluate took for this compute and releases only on success."""
        for lock in getattr(self, "filelocks", None) or []:
            lock.release()
        self.filelocks = None

    def _check_compute_arguments(self, kwargs) -> None:
        """Refuse a bad ``option_matching``/``confidence_level``/``retain_auc`` before anything is written: an
        error raised later, inside ``_compute``, leaves evaluate's cache-file lock held, and every later
        ``compute`` of this config in the process then waits a second for it (one more second per such error)."""
        matching, level = kwargs.get("option_matching"), kwargs.get("confidence_level")
        if self.config_name != "classification":
            for name in ("options", "option_matching"):
                if kwargs.get(name) is not None:
                    raise ValueError(f"{name} is only for classification; the {self.config_name} config takes none")
        elif matching is not None:
            scoring.check_option_matching(matching)
        if level is not None:
            scoring.check_confidence_level(level)
        retain_auc = kwargs.get("retain_auc")
        if self.config_name == "privacy" and retain_auc is not None and (
            isinstance(retain_auc, bool) or not isinstance(retain_auc, (int, float)) or not 0 <= retain_auc < 1
        ):
            raise ValueError(f"retain_auc must be a number in [0, 1), got {retain_auc!r}")

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch (``unimodal_predictions``, ``multimodal_predictions``, ``references``[, ``options``]; the
        privacy config: ``scores``, ``labels``; forget_quality: ``truth_ratios``, ``labels``)."""
        if self.config_name in _TWO_LISTS:
            column, names = _TWO_LISTS[self.config_name]
            _check_labelled(kwargs.get(column), kwargs.get("labels"), column, names)
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
        if self.config_name in _TWO_LISTS:
            column, names = _TWO_LISTS[self.config_name]
            _check_labelled([kwargs.get(column)], [kwargs.get("labels")], column, names)
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
        retain_auc=None,
        truth_ratios=None,
    ):
        if self.config_name == "privacy":
            from umu_hf.privacy import auc, reference

            members = [s for s, label in zip(scores, labels, strict=True) if label == 1]
            nonmembers = [s for s, label in zip(scores, labels, strict=True) if label == 0]
            result = {
                "auc": auc.auc(members, nonmembers),
                "n_members": len(members),
                "n_nonmembers": len(nonmembers),
            }
            if retain_auc is not None:  # checked by compute, before anything was written
                result["privleak"] = reference.privleak(result["auc"], float(retain_auc))
            return result
        if self.config_name == "forget_quality":
            from umu_hf.privacy import truth_ratio

            ours = [r for r, label in zip(truth_ratios, labels, strict=True) if label == 1]
            theirs = [r for r, label in zip(truth_ratios, labels, strict=True) if label == 0]
            if not ours or not theirs:
                raise ValueError("forget_quality needs at least one truth ratio of each model")
            return {
                "forget_quality": truth_ratio.forget_quality(ours, theirs),
                "ks_statistic": truth_ratio.ks_statistic(ours, theirs),
                "n_unlearned": len(ours),
                "n_retain": len(theirs),
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
        if self.config_name == "cloze":
            return scoring.cloze_scores(
                unimodal_predictions, multimodal_predictions, references, confidence_level, seed=seed
            )
        return scoring.generation_scores(
            unimodal_predictions, multimodal_predictions, references, confidence_level, seed=seed
        )


def _number_list(values, name):
    """``member_scores`` / ``nonmember_scores`` as a list (a ``ValueError`` naming the argument otherwise)."""
    if values is None or isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of numbers (one attack score per example)")
    return list(values)


def _check_labelled(scores, labels, column="scores", names=("member_scores", "nonmember_scores")):
    """A two-list batch: as many labels as values, each label 1 (``names[0]``) or 0 (``names[1]``)."""
    if scores is None or labels is None:
        raise ValueError(f"this config takes {column} and labels (or {names[0]} and {names[1]})")
    if len(scores) != len(labels):
        raise ValueError(f"{len(scores)} {column} but {len(labels)} labels; give one label per value")
    for i, label in enumerate(labels):
        if label not in (0, 1) or isinstance(label, bool):
            raise ValueError(f"labels[{i}] is {label!r}; use 1 for {names[0]} and 0 for {names[1]}")
