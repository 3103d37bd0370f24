"""UMU-Bench: modality-aligned unlearning metrics (AccF, AccR, RLF, RLR) as an `evaluate` module.

A thin wrapper: the rules and the arithmetic live in ``umu_hf.scoring`` (the umu-hf package), which the
evaluation runner and the Space call too, so every number agrees; the ``robustness_*`` configs call
``umu_hf.robustness.compare``, the arithmetic of the robustness block of ``umu-hf eval --robustness``. As evaluate's own modules, it overrides only
``_info`` and ``_compute``; the argument checks run in ``_compute`` under ``umu_hf.metric_modules.released_on_error``,
so a refused argument leaves no cache file or lock behind. Membership inference and forget quality are the modules
``umu_privacy`` and ``umu_forget_quality``. Imports are one per line on purpose: the import scanner of ``evaluate``
mis-reads ``import a, b``.
"""

import datasets
import evaluate

from umu_hf import scoring
from umu_hf.metric_modules import refuse_unknown, released_on_error
from umu_hf.robustness.compare import variant_scores

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

Robustness configs (umu-hf's, not the paper's): "robustness_classification", "robustness_cloze",
"robustness_generation" -> the numbers of the robustness block of `umu-hf eval --robustness` that replies alone
determine: per variant (paraphrased question, transformed portrait, quantized weights, ...) and modality, the
score (accuracy %, generation ROUGE-L %) and its change against the same questions asked plainly. Extraction
strength and exact memorization need the model's token-level predictions, not replies: not computable here.

Membership inference (AUC, PrivLeak) and forget quality (TOFU's KS test) are modules of their own:
evaluate.load("umu_privacy") and evaluate.load("umu_forget_quality").
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

Robustness configs ("robustness_classification", "robustness_cloze", "robustness_generation"): one row per reply.
    predictions (`list` of `str`): the model's reply to each question, in either modality, under any variant.
    references (`list` of `str`): the correct answer of each row's question, as for the config of the same task.
    modalities (`list` of `str`): "unimodal" or "multimodal", the modality each reply was asked in.
    variants (`list` of `str`): what each reply was asked under: "plain" for the question as the evaluation asks
        it (the dataset's wording, the untransformed portrait, the unquantized model), else any name, e.g.
        "paraphrase" (every rewording pooled, as the robustness block pools them), "crop", "blur", "grayscale",
        "flip", "jpeg", "int8", "int4". Every modality a variant has needs "plain" replies to the same questions.
    options (`list` of `list` of `str`, robustness_classification only): the 4 option texts of each row.
    option_matching (`str`, robustness_classification only, default "exact"): as for "classification".

Returns (robustness configs): {variant: {modality: cell}}, "plain" first, then the variants in order of first
    appearance, each with the modalities it has (unimodal first):
    "plain": {"score", "n"}; any other variant: {"score", "plain", "n", "change"}, where score is the accuracy %
    (generation: mean ROUGE-L F1 %) of the variant's replies, plain that of the plain replies in the same
    modality, n the variant's replies and change = score - plain (points; on the forget set a positive change is
    knowledge the variant brings back). No rows: {} and a warning.

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

    Robustness, cloze on the forget set: two questions asked plainly in both modalities and again with the
    portrait blurred. With the plain portrait neither answer is given; with the blurred one both come back.

    >>> robustness = evaluate.load("umu_bench", "robustness_cloze")
    >>> results = robustness.compute(
    ...     predictions=["She lives in Lyon", "I don't know", "I cannot say", "no idea", "Lyon, France", "a teacher"],
    ...     references=["Lyon.", "Teacher", "Lyon.", "Teacher", "Lyon.", "Teacher"],
    ...     modalities=["unimodal", "unimodal", "multimodal", "multimodal", "multimodal", "multimodal"],
    ...     variants=["plain", "plain", "plain", "plain", "blur", "blur"],
    ... )
    >>> results["plain"]
    {'unimodal': {'score': 50.0, 'n': 2}, 'multimodal': {'score': 0.0, 'n': 2}}
    >>> results["blur"]
    {'multimodal': {'score': 100.0, 'plain': 0.0, 'n': 2, 'change': 100.0}}
"""

_TEXT = datasets.Value("string")
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
}
#: the robustness configs: one row per reply, with its modality and variant (umu_hf.robustness.compare)
_ROBUSTNESS = {f"robustness_{task}": task for task in ("classification", "cloze", "generation")}
for _config, _task in _ROBUSTNESS.items():
    _FEATURES[_config] = datasets.Features(
        {
            "predictions": _TEXT,
            "references": _TEXT,
            "modalities": _TEXT,
            "variants": _TEXT,
            **({"options": datasets.Sequence(_TEXT)} if _task == "classification" else {}),
        }
    )
#: each config's arguments: its inputs, then what compute passes on to _compute
_ARGUMENTS = {
    config: (
        *features,
        *(("option_matching",) if config in ("classification", "robustness_classification") else ()),
        *(() if config in _ROBUSTNESS else ("confidence_level", "seed")),
    )
    for config, features in _FEATURES.items()
}
#: configs this module had before they became modules of their own: config -> (module, its compute arguments)
_MOVED = {
    "privacy": ("umu_privacy", "member_scores=[...], nonmember_scores=[...][, retain_auc=...]"),
    "forget_quality": ("umu_forget_quality", "unlearned_truth_ratios=[...], retain_truth_ratios=[...]"),
}


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class UmuBench(evaluate.Metric):
    """AccF/AccR (classification, cloze) and RLF/RLR (generation) of UMU-Bench, see ``umu_hf.scoring``; the
    robustness numbers that replies determine (robustness_*), see ``umu_hf.robustness.compare``."""

    def _info(self) -> evaluate.MetricInfo:
        if self.config_name in _MOVED:
            module, arguments = _MOVED[self.config_name]
            raise ValueError(
                f'umu_bench\'s "{self.config_name}" config is now a module of its own: use '
                f'evaluate.load("{module}").compute({arguments}) (installed by `umu-hf metrics install`; by '
                f"path: metrics/{module})"
            )
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

    def _compute(
        self,
        references: list[str],
        unimodal_predictions: list[str] | None = None,
        multimodal_predictions: list[str] | None = None,
        predictions: list[str] | None = None,
        modalities: list[str] | None = None,
        variants: list[str] | None = None,
        options: list[list[str]] | None = None,
        option_matching: str | None = None,
        confidence_level: float | None = None,
        seed: int | None = None,
        **unknown: object,
    ) -> dict:
        """The config's ``umu_hf.scoring`` (or ``umu_hf.robustness.compare``) function on the inputs; its checks
        name the argument and the index."""
        with released_on_error(self):
            config = self.config_name
            arguments = _ARGUMENTS[config]
            passed = {
                "unimodal_predictions": unimodal_predictions,
                "multimodal_predictions": multimodal_predictions,
                "predictions": predictions,
                "modalities": modalities,
                "variants": variants,
                "confidence_level": confidence_level,
                "seed": seed,
            }
            foreign = {name: value for name, value in passed.items() if value is not None and name not in arguments}
            refuse_unknown({**foreign, **unknown}, f"umu_bench ({config})", arguments)
            for name, value in (("options", options), ("option_matching", option_matching)):
                if value is not None and name not in arguments:
                    raise ValueError(f"{name} is only for classification; the {config} config takes none")
            option_matching = "exact" if option_matching is None else option_matching
            if config in _ROBUSTNESS:
                return variant_scores(
                    _ROBUSTNESS[config], predictions, references, modalities, variants, options, option_matching
                )
            seed = scoring.DEFAULT_SEED if seed is None else seed
            if config == "classification":
                return scoring.classification_scores(
                    unimodal_predictions,
                    multimodal_predictions,
                    references,
                    options,
                    option_matching=option_matching,
                    confidence_level=confidence_level,
                    seed=seed,
                )
            if config == "cloze":
                return scoring.cloze_scores(
                    unimodal_predictions, multimodal_predictions, references, confidence_level, seed=seed
                )
            return scoring.generation_scores(
                unimodal_predictions, multimodal_predictions, references, confidence_level, seed=seed
            )
