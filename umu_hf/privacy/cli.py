"""``umu-hf eval``: the evaluation's command (:mod:`umu_hf.evaluation.cli`) with the privacy flags and
``--robustness``, whose blocks (:mod:`umu_hf.privacy.block`, :mod:`umu_hf.robustness.block`) are measured on top
of the evaluation, with the model it loaded."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` to the ``umu-hf`` parser: the evaluation's flags, then ``--privacy``, ``--retain-model`` and
    ``--unimodal-layout``."""
    from umu_hf.evaluation.cli import add_eval_parser
    from umu_hf.privacy.mia import UNIMODAL_LAYOUTS

    parser = add_eval_parser(subparsers)
    group = parser.add_argument_group("privacy", "membership inference, forget quality and PrivLeak, measured on "
                                      "the evaluated model (results.json's 'privacy' block)")
    group.add_argument(
        "--privacy",
        action="store_true",
        help="also run membership inference (LOSS, zlib, Min-K%%, Min-K%%++ on the training pairs' answer tokens): "
        "AUC of the forget set against the dataset's holdout config, per modality, under 'privacy' in "
        "results.json ('unavailable' when the data has no holdout, e.g. converted published data)",
    )
    group.add_argument(
        "--retain-model",
        metavar="MODEL",
        help="a retain model (vanilla fine-tuned without the forget people: `umu-hf finetune --config_name "
        "retain85+real`): adds forget quality (KS p-value of forget truth ratios) and PrivLeak (relative MIA AUC "
        "gap) against it, per modality; implies --privacy",
    )
    group.add_argument(
        "--unimodal-layout",
        choices=tuple(UNIMODAL_LAYOUTS),
        default=None,
        help="how the fine-tuning that made the forget set members asked UM_QA, for the unimodal attacks: "
        "with-portrait (the original vanilla fine-tuning) or text-only (umu-hf's paired streams). Default: read "
        "from the model's umu_training.json (an unlearned model's record leads to its vanilla's); a model without "
        "one (a Hub checkpoint) is scored text-only, and results.json's privacy.layout says which and why",
    )
    group.add_argument(
        "--gradnorm",
        action="store_true",
        help="with --privacy: also the gradient-norm attack (open-unlearning's GradNorm: one backward pass per "
        "pair, so off by default)",
    )
    parser.add_argument_group("robustness", "the evaluation asked again under changes that should not matter "
                              "(results.json's 'robustness' block)").add_argument(
        "--robustness",
        action="store_true",
        help="also ask every multimodal classification and cloze question of forget and retain with the portrait "
        "cropped, blurred, in grayscale, flipped and as a low-quality JPEG (accuracy per transform and its change), "
        "and score exact memorization and extraction strength of the forget answers per modality "
        "(open-unlearning's definitions)",
    )
    parser.set_defaults(func=_eval)


def _eval(args: argparse.Namespace) -> int:
    from umu_hf.evaluation.cli import eval_request, print_report
    from umu_hf.evaluation.runner import evaluate_model

    request = eval_request(args)
    blocks: dict = {}
    privacy = args.privacy or args.retain_model is not None
    if privacy:
        from umu_hf.privacy.block import PRIVACY, PrivacyBlock, PrivacyOptions

        options = PrivacyOptions(retain_model=args.retain_model, unimodal_layout=args.unimodal_layout,
                                 gradnorm=args.gradnorm)
        blocks[PRIVACY] = PrivacyBlock(request, options)
    if args.robustness:
        from umu_hf.robustness.block import ROBUSTNESS, RobustnessBlock

        blocks[ROBUSTNESS] = RobustnessBlock(request)
    results = evaluate_model(request, progress=not args.no_progress, extra_blocks=blocks)
    reports = []
    if privacy:
        from umu_hf.privacy.mia import format_privacy
        from umu_hf.privacy.reference import format_comparison

        reports += [format_privacy(results[PRIVACY]), format_comparison(results[PRIVACY])]
    if args.robustness:
        from umu_hf.robustness.block import format_robustness

        reports.append(format_robustness(results[ROBUSTNESS]))
    print_report(results, args.out, *reports)
    return 0
