"""``umu-hf hub push``: upload a folder to a Hub repo through ``huggingface_hub.HfApi`` (``create_repo`` with
``exist_ok``, a branch for ``--revision``, then ``upload_folder``).

What may be pushed, checked before anything is sent: to a model repo, a folder whose README.md is a model card
with ``model-index`` results (``umu-hf hub export``); to a dataset repo, a Hub-layout dataset folder (``umu-hf data
synth | convert``) or a bench folder (``bench.json``: the Space reads a bench from a dataset repo,
:mod:`umu_hf.space.source`).
"""

from __future__ import annotations

from pathlib import Path

from umu_hf.bench.manifest import MANIFEST, read_manifest
from umu_hf.data.hub import is_hub_folder
from umu_hf.errors import UmuError
from umu_hf.identity import is_hub_id
from umu_hf.lock import LOCK_FILE
from umu_hf.outputs import MARKER

REPO_TYPES = ("model", "dataset")
#: never uploaded: umu-hf's own markers and locks, and training checkpoints an interrupted run left
IGNORED = [MARKER, f"*/{MARKER}", LOCK_FILE, f"*/{LOCK_FILE}", "*/checkpoint-*", ".*.tmp-*", "*/.*.tmp-*"]


def model_index_count(folder: Path) -> int:
    """How many ``model-index`` results ``folder/README.md`` lists (0 without a card or results)."""
    from huggingface_hub import ModelCard

    readme = folder / "README.md"
    if not readme.is_file():
        return 0
    try:
        card = ModelCard.load(readme)
    except Exception:  # not a card: no YAML, bad YAML, a bad model-index
        return 0
    return len(getattr(card.data, "eval_results", None) or [])


def folder_kind(folder: str | Path, repo_type: str) -> str:
    """``"model"``, ``"dataset"`` or ``"bench"``: what ``folder`` is, when it may be pushed to a ``repo_type``
    repo; otherwise one clear :class:`UmuError` saying what belongs there."""
    path = Path(folder)
    if repo_type not in REPO_TYPES:
        raise UmuError(f"--repo-type {repo_type!r}: expected one of {', '.join(REPO_TYPES)}")
    if not path.is_dir():
        raise UmuError(f"{folder} is not a folder; push the folder `umu-hf hub export` (model), `umu-hf data "
                       "synth|convert` or `umu-hf bench` (dataset) wrote")
    if repo_type == "model":
        if not model_index_count(path):
            raise UmuError(f"{path / 'README.md'} is missing or has no model-index results; push a folder written "
                           "by `umu-hf hub export` (a dataset or bench folder goes with --repo-type dataset)")
        return "model"
    if (path / MANIFEST).is_file():
        read_manifest(path)  # a broken bench.json is refused here, not by the Space after the upload
        return "bench"
    if is_hub_folder(path):
        return "dataset"
    raise UmuError(f"{path} is neither a dataset folder (README.md with `configs:`, from `umu-hf data synth` or "
                   f"`data convert`) nor a bench folder ({MANIFEST}, from `umu-hf bench`); a model folder goes with "
                   "--repo-type model")


def push_folder(folder: str | Path, repo_id: str, *, repo_type: str = "model", private: bool = False,
                revision: str | None = None, path_in_repo: str | None = None, token: str | None = None) -> str:
    """Upload ``folder`` to the Hub repo ``repo_id`` (created if needed; ``revision``: a branch, created from
    main if needed; ``path_in_repo``: a sub-folder of the repo); returns the repo URL."""
    import httpx
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    kind = folder_kind(folder, repo_type)
    if not is_hub_id(repo_id):
        raise UmuError(f"--repo-id {repo_id!r}: expected ORG/NAME")
    if path_in_repo is not None and (Path(path_in_repo).is_absolute() or ".." in Path(path_in_repo).parts):
        raise UmuError(f"--path-in-repo {path_in_repo!r} must be a folder inside the repo")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
        if revision not in (None, "main"):
            api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, revision=revision,
                          path_in_repo=path_in_repo, commit_message=f"Upload UMU-Bench {kind} (umu-hf)",
                          ignore_patterns=IGNORED)
    except (HfHubHTTPError, HFValidationError, httpx.HTTPError, OSError) as exc:
        raise UmuError(f"pushing {folder} to {repo_type} repo {repo_id} failed: {' '.join(str(exc).split())}; "
                       "check the repo id, your token (hf auth login or HF_TOKEN) and the network") from exc
    return str(url)
