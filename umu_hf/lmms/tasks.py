"""``umu-hf export lmms-eval``: write UMU-Bench as lmms-eval task definitions.

The folder holds, for one forget ratio R (``forget05`` …):

- ``umu_bench_forgetRR.yaml``: the group, whose subtasks are the 9 below;
- ``umu_bench_forgetRR_<set>_<task>.yaml`` per evaluation set (forget, retain, real) × task (classification,
  cloze, generation): the set's config of the dataset (``dataset_path`` a local Hub-layout folder or a Hub repo id,
  ``dataset_name`` the config, split ``train``: what ``datasets.load_dataset`` reads), both modalities of every
  question as docs (``process_docs``), the prompt (``doc_to_text``: LLaVA-1.5's whole prompt for ``--model
  umu_hf``, the chat branch's user-turn text for lmms-eval's templated models), greedy decoding with the task's ``max_new_tokens`` budget
  (:data:`umu_hf.prompts.MAX_NEW_TOKENS`), and the set's pair metric and per-modality scores;
- ``utils.py``: the functions the YAML names with ``!function``, imported from :mod:`umu_hf.lmms.hooks` (the
  tasks need umu-hf installed where lmms-eval runs).

Run: ``lmms-eval --include_path TASKDIR --tasks umu_bench_forget05 --model umu_hf --model_args pretrained=MODEL``
(:mod:`umu_hf.lmms.model`: asks exactly as ``umu-hf eval`` does).
"""

from __future__ import annotations

import json
from pathlib import Path

from umu_hf import __version__
from umu_hf.data.schema import SETS, TASKS, check_forget_ratio, forget_config, set_config
from umu_hf.errors import UmuError
from umu_hf.lmms.hooks import TASK_METRICS
from umu_hf.lmms.model import MODEL_NAME
from umu_hf.outputs import check_replaceable, write_marker
from umu_hf.prompts import ASSISTANT_TAG, MAX_NEW_TOKENS
from umu_hf.utils import atomic_dir

#: the name of every group and subtask starts with this
PREFIX = "umu_bench"
#: the task version lmms-eval records; bump when the tasks' questions, prompts or scoring change
TASK_VERSION = 1


def group_name(ratio: int) -> str:
    """``5 -> "umu_bench_forget05"``."""
    return f"{PREFIX}_{forget_config(ratio)}"


def subtask_name(ratio: int, set_name: str, task: str) -> str:
    """``(5, "retain", "cloze") -> "umu_bench_forget05_retain_cloze"``."""
    return f"{group_name(ratio)}_{set_name}_{task}"


def docs_function_name(set_name: str, task: str) -> str:
    """The ``utils.py`` name of a subtask's ``process_docs``."""
    return f"{set_name}_{task}_docs"


def _higher_is_better(set_name: str, metric: str) -> bool:
    """Forgetting is lower-is-better: AccF and RLF, and the forget set's per-modality scores."""
    if metric in ("AccF", "RLF"):
        return False
    if metric in ("AccR", "RLR"):
        return True
    return set_name != "forget"


def subtask_yaml(ratio: int, set_name: str, task: str, dataset_path: str) -> str:
    """The YAML of one subtask (text: lmms-eval's ``!function`` tags are not plain YAML)."""
    q = json.dumps  # a JSON string is a valid YAML scalar, whatever a path holds
    metrics = "".join(
        f"  - metric: {metric}\n    aggregation: !function utils.aggregate_{metric}\n"
        f"    higher_is_better: {str(_higher_is_better(set_name, metric)).lower()}\n"
        for metric in TASK_METRICS[task]
    )
    return (
        f"# UMU-Bench {set_name} set, {task}, both modalities (written by umu-hf {__version__})\n"
        f"task: {subtask_name(ratio, set_name, task)}\n"
        f"dataset_path: {q(dataset_path)}\n"
        f"dataset_name: {set_config(set_name, ratio)}\n"
        "test_split: train\n"
        "output_type: generate_until\n"
        f"process_docs: !function utils.{docs_function_name(set_name, task)}\n"
        "doc_to_visual: !function utils.doc_to_visual\n"
        "doc_to_text: !function utils.doc_to_text\n"
        "doc_to_target: !function utils.doc_to_target\n"
        "generation_kwargs:\n"
        f"  max_new_tokens: {MAX_NEW_TOKENS[task]}\n"
        "  temperature: 0\n"
        "  top_p: 1.0\n"
        "  num_beams: 1\n"
        "  do_sample: false\n"
        f"  until: [{q(ASSISTANT_TAG)}]\n"
        "lmms_eval_specific_kwargs:\n"
        "  default:\n"
        "    prompt: chat\n"
        f"  {MODEL_NAME}:\n"
        "    prompt: llava\n"
        "process_results: !function utils.process_results\n"
        f"metric_list:\n{metrics}"
        "metadata:\n"
        f"  version: {TASK_VERSION}\n"
        f"  umu_hf: {q(__version__)}\n"
        f"  forget_ratio: {ratio}\n"
    )


def group_yaml(ratio: int) -> str:
    """The YAML of the group: its 9 subtasks (no group-wide aggregate: each subtask reports its own metrics)."""
    subtasks = "".join(f"  - {subtask_name(ratio, s, t)}\n" for s in SETS for t in TASKS)
    return (
        f"# UMU-Bench, forget {ratio}% (written by umu-hf {__version__})\n"
        f"group: {group_name(ratio)}\n"
        f"task:\n{subtasks}"
        "metadata:\n"
        f"  version: {TASK_VERSION}\n"
    )


def utils_py() -> str:
    """The ``utils.py`` beside the YAML files: every function it names, from :mod:`umu_hf.lmms.hooks`."""
    metrics = sorted({metric for names in TASK_METRICS.values() for metric in names})
    lines = [
        f'"""lmms-eval hooks of the UMU-Bench tasks (written by umu-hf {__version__}): the questions, prompts, reply',
        'rule and scoring are umu-hf\'s own (umu_hf.lmms.hooks), so umu-hf must be installed where lmms-eval runs."""',
        "",
        "from umu_hf.lmms.hooks import (  # noqa: F401",
        "    AGGREGATIONS,",
        "    doc_to_target,",
        "    doc_to_text,",
        "    doc_to_visual,",
        "    docs_function,",
        "    process_results,",
        ")",
        "",
        *(f'aggregate_{metric} = AGGREGATIONS["{metric}"]' for metric in metrics),
        "",
        *(f'{docs_function_name(s, t)} = docs_function("{s}", "{t}")' for s in SETS for t in TASKS),
        "",
    ]
    return "\n".join(lines)


def resolve_dataset_path(data: str) -> str:
    """What ``dataset_path`` says for ``--data``: a Hub repo id as given (lmms-eval downloads it), a local
    Hub-layout folder as its absolute path, a published-layout folder as its converted copy (umu-hf's cache)."""
    from umu_hf.data.load import resolve_hub_folder
    from umu_hf.identity import is_hub_id

    path = Path(data).expanduser()
    if not path.exists() and is_hub_id(str(data)):
        return str(data)
    try:
        return str(resolve_hub_folder(path).resolve())
    except UmuError as exc:
        raise UmuError(f"--data: {exc}") from None


def export_lmms_eval(data: str, forget_ratio: int | str, out: str | Path, overwrite: bool = False) -> Path:
    """Write the lmms-eval tasks of UMU-Bench at ``forget_ratio`` over ``data`` into the folder ``out``
    (atomically; an existing ``out`` only with ``overwrite`` and when umu-hf wrote it). Returns ``out``."""
    try:
        ratio = check_forget_ratio(forget_ratio)
    except UmuError as exc:
        raise UmuError(f"--forget-ratio: {exc}") from None
    dataset_path = resolve_dataset_path(str(data))
    check_replaceable(out, overwrite)
    with atomic_dir(out) as tmp:
        (tmp / f"{group_name(ratio)}.yaml").write_text(group_yaml(ratio), encoding="utf-8")
        for set_name in SETS:
            for task in TASKS:
                text = subtask_yaml(ratio, set_name, task, dataset_path)
                (tmp / f"{subtask_name(ratio, set_name, task)}.yaml").write_text(text, encoding="utf-8")
        (tmp / "utils.py").write_text(utils_py(), encoding="utf-8")
        write_marker(tmp, "umu-hf export lmms-eval")
        check_replaceable(out, overwrite)
    return Path(out)
