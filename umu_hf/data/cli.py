"""``umu-hf data convert | synth | push | info``: the dataset commands, thin wrappers over the modules."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``data`` command group to the ``umu-hf`` parser."""
    data = subparsers.add_parser("data", help="convert, generate, inspect and push UMU-Bench datasets")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data.set_defaults(func=lambda args: data.print_help() or 2)

    convert = sub.add_parser("convert", help="convert the published (legacy) layout into the Hub layout")
    convert.add_argument("src", type=Path, help="folder with forget_5/ … retain_85/ real_person/ [full/]")
    convert.add_argument("--out", type=Path, required=True, help="output dataset folder (Hub layout)")
    convert.add_argument("--overwrite", action="store_true", help="replace --out if umu-hf wrote it (never an input or a foreign folder)")
    convert.set_defaults(func=_convert)

    synth = sub.add_parser(
        "synth", help="generate a synthetic UMU-style dataset (invented people) in the Hub layout"
    )
    synth.add_argument("--out", type=Path, required=True, help="output dataset folder")
    synth.add_argument("--fictitious", type=int, default=500, help="fictitious profiles (default 500)")
    synth.add_argument(
        "--real", type=int, default=153, help="profiles standing in for the real set (default 153)"
    )
    synth.add_argument(
        "--holdout",
        type=int,
        default=None,
        help="extra fictitious profiles in no fine-tuning, the `holdout` config of non-members for membership "
        "inference (default: 10%% of --fictitious, at least 4; 0: no holdout)",
    )
    synth.add_argument("--seed", type=int, default=0, help="random seed; same seed -> byte-identical files")
    synth.add_argument("--image-size", type=int, default=64, help="portrait size in pixels (default 64)")
    synth.add_argument("--overwrite", action="store_true", help="replace --out if umu-hf wrote it (never an input or a foreign folder)")
    synth.set_defaults(func=_synth)

    push = sub.add_parser("push", help="upload a Hub-layout dataset folder to the Hugging Face Hub")
    push.add_argument("folder", type=Path, help="dataset folder written by `data convert` or `data synth`")
    push.add_argument("--repo-id", required=True, help="target dataset repo, ORG/NAME")
    push.add_argument("--private", action="store_true", help="create the repo as private")
    push.add_argument("--revision", default=None, help="branch to push to (default: main)")
    push.set_defaults(func=_push)

    info = sub.add_parser(
        "info", help="load a dataset (repo id, Hub folder or legacy folder) and count its rows"
    )
    info.add_argument("source", help="Hub repo id ORG/NAME, Hub-layout folder, or published-layout folder")
    info.add_argument("--config", action="append", default=None, help="config(s) to load (default: all)")
    info.set_defaults(func=_info)


def _convert(args: argparse.Namespace) -> int:
    from umu_hf.data.legacy import convert_legacy

    start = time.perf_counter()
    out = convert_legacy(args.src, args.out, overwrite=args.overwrite, progress=True)
    print(f"wrote {out} ({_summary(out)}) in {time.perf_counter() - start:.1f} s")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from umu_hf.data.synth import generate_dataset

    start = time.perf_counter()
    out = generate_dataset(args.out, args.fictitious, args.real, args.seed, args.image_size,
                           n_holdout=args.holdout, overwrite=args.overwrite, progress=True)  # fmt: skip
    print(f"wrote {out} ({_summary(out)}) in {time.perf_counter() - start:.1f} s")
    return 0


def _push(args: argparse.Namespace) -> int:
    from umu_hf.data.hub import push_hub_dataset

    url = push_hub_dataset(args.folder, args.repo_id, private=args.private, revision=args.revision)
    print(f"pushed {args.folder} to {url}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from umu_hf.data.load import has_config, load_umu_split
    from umu_hf.data.schema import ALL_CONFIG_NAMES, TASK_COLUMNS, check_config

    configs = [check_config(name) for name in args.config] if args.config else [
        name for name in ALL_CONFIG_NAMES if has_config(args.source, name)
    ]
    for config in configs:
        split = load_umu_split(args.source, config)
        items = {
            task: sum(len(block["unimodal"]) for block in split[column])
            for task, column in TASK_COLUMNS.items()
        }
        counts = ", ".join(f"{n} {task}" for task, n in items.items())
        print(f"{config}: {split.num_rows} profiles; items per modality: {counts}")
    return 0


def _summary(folder: Path) -> str:
    """Row counts per config, read back from the card's YAML, and the folder's size on disk."""
    import yaml

    header = (folder / "README.md").read_text(encoding="utf-8").split("---", 2)[1]
    infos = yaml.safe_load(header)["dataset_info"]
    counts = ", ".join(f"{info['config_name']} {info['splits'][0]['num_examples']}" for info in infos)
    size = sum(file.stat().st_size for file in folder.rglob("*") if file.is_file())
    return f"{counts}; {size / 2**20:.1f} MiB"
