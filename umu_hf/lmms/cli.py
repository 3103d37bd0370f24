"""``umu-hf export lmms-eval``: write UMU-Bench as lmms-eval task definitions (thin: parse, write, say how to run)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` command group (``export lmms-eval``) to the ``umu-hf`` parser."""
    export = subparsers.add_parser("export", help="write UMU-Bench for other evaluation harnesses (lmms-eval)")
    sub = export.add_subparsers(dest="export_command", metavar="SUBCOMMAND")
    export.set_defaults(func=lambda args: export.print_help() or 2)
    lmms = sub.add_parser(
        "lmms-eval",
        help="write lmms-eval task YAML files and their utils.py (group umu_bench_forgetRR)",
        description="Write lmms-eval tasks for one forget ratio: a group umu_bench_forgetRR of 9 subtasks "
        "(forget/retain/real x classification/cloze/generation, both modalities in each), the original "
        "LLaVA-1.5 prompts, greedy decoding, and umu-hf's scoring (utils.py imports umu_hf, so install umu-hf "
        "where lmms-eval runs). Then: lmms-eval --include_path OUT --tasks umu_bench_forgetRR --model umu_hf "
        "--model_args pretrained=MODEL (umu-hf's lmms-eval model: asks exactly as umu-hf eval does)",
    )
    lmms.add_argument(
        "--data", required=True,
        help="dataset: Hub repo id (lmms-eval downloads it), Hub-layout folder or published layout (converted once)",
    )
    lmms.add_argument("--forget-ratio", required=True, help="5, 10 or 15 (percent of fictitious profiles forgotten)")
    lmms.add_argument("--out", required=True, help="task folder to write (pass it to lmms-eval --include_path)")
    lmms.add_argument("--overwrite", action="store_true", help="replace --out if umu-hf wrote it")
    lmms.set_defaults(func=_lmms_eval)


def _lmms_eval(args: argparse.Namespace) -> int:
    from umu_hf.data.schema import check_forget_ratio
    from umu_hf.lmms.tasks import export_lmms_eval, group_name

    out = export_lmms_eval(args.data, args.forget_ratio, args.out, overwrite=args.overwrite)
    group = group_name(check_forget_ratio(args.forget_ratio))
    print(f"wrote lmms-eval tasks to {out}; run: lmms-eval --include_path {out} --tasks {group} "
          "--model umu_hf --model_args pretrained=MODEL")
    return 0
