"""``umu-hf hub export | push``: publish a bench model with its results, or push a folder to the Hub."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hub`` command group to the ``umu-hf`` parser."""
    hub = subparsers.add_parser("hub", help="publish a bench model (weights, results, model card) on the Hub")
    sub = hub.add_subparsers(dest="hub_command", metavar="SUBCOMMAND")
    hub.set_defaults(func=lambda args: hub.print_help() or 2)

    export = sub.add_parser("export", help="write one bench model as a Hub model folder with a model-index card")
    export.add_argument("--bench-dir", type=Path, required=True, help="the --out folder of `umu-hf bench`")
    export.add_argument("--model", required=True, help="the model's name in bench.json, e.g. npo or 'npo (seed 1)'")
    export.add_argument("--out", type=Path, required=True, help="the folder to write (what `hub push` uploads)")
    export.add_argument("--dataset-id", default=None,
                        help="Hub id (ORG/NAME) of the published dataset the bench used, when the bench read it from "
                             "a local folder (default: the bench's data id, or a local name)")
    export.add_argument("--model-name", default=None, help="the model's name in model-index (default: --out's name)")
    export.add_argument("--license", default=None,
                        help="the card's license, a Hub license id such as apache-2.0 (default: none; the base "
                             "model's license usually applies)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace --out if umu-hf wrote it (never an input or a foreign folder)")
    export.set_defaults(func=_export)

    push = sub.add_parser("push", help="upload an exported model, a dataset or a bench folder to a Hub repo")
    push.add_argument("folder", type=Path, help="folder from `hub export`, `data synth|convert` or `bench`")
    push.add_argument("--repo-id", required=True, help="target repo, ORG/NAME")
    push.add_argument("--repo-type", choices=("model", "dataset"), default="model",
                      help="model (an exported model) or dataset (a dataset or bench folder); default model")
    push.add_argument("--private", action="store_true", help="create the repo as private")
    push.add_argument("--revision", default=None, help="branch to push to, created if needed (default: main)")
    push.add_argument("--path-in-repo", default=None, help="sub-folder of the repo to upload into (default: root)")
    push.set_defaults(func=_push)


def _export(args: argparse.Namespace) -> int:
    from umu_hf.hub.export import export_model
    from umu_hf.hub.push import model_index_count

    out, facts = export_model(args.bench_dir, args.model, args.out, dataset_id=args.dataset_id,
                              model_name=args.model_name, license=args.license,
                              overwrite=args.overwrite)
    count = model_index_count(out)  # read back from the card, as the Hub will
    print(f"wrote {out}: weights, processor, results.json and a model card with {count} model-index results")
    if not facts.dataset_on_hub:
        print(f"note: the bench read local data, named {facts.dataset_id} on the card; pass --dataset-id ORG/NAME "
              "to name the published dataset")
    print(f"next: umu-hf hub push {out} --repo-id ORG/NAME")
    return 0


def _push(args: argparse.Namespace) -> int:
    from umu_hf.hub.push import push_folder

    url = push_folder(args.folder, args.repo_id, repo_type=args.repo_type, private=args.private,
                      revision=args.revision, path_in_repo=args.path_in_repo)
    print(f"pushed {args.folder} to {url}")
    return 0
