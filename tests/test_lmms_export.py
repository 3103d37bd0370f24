"""``umu-hf export lmms-eval``: the written task folder against lmms-eval's task schema, and its ``utils.py`` against
umu-hf's own questions, prompts and scores (without lmms-eval; ``test_lmms_run.py`` runs lmms-eval itself)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from umu_hf.cli import main as cli_main
from umu_hf.data.schema import SETS, TASKS, set_config
from umu_hf.errors import UmuError
from umu_hf.evaluation.items import iter_items
from umu_hf.evaluation.results import task_metrics
from umu_hf.lmms.tasks import export_lmms_eval, group_name, subtask_name
from umu_hf.prompts import MAX_NEW_TOKENS, llava_task_prompt, task_instruction

#: the TaskConfig keys of lmms-eval 0.7.3 (lmms_eval/api/task.py) that the exported subtasks may use
TASK_KEYS = {
    "task", "dataset_path", "dataset_name", "dataset_kwargs", "test_split", "output_type", "process_docs",
    "doc_to_visual", "doc_to_text", "doc_to_target", "generation_kwargs", "process_results", "metric_list",
    "lmms_eval_specific_kwargs", "metadata",
}
#: what every exported subtask must set for a generate_until task scored by process_results
REQUIRED_TASK_KEYS = TASK_KEYS - {"dataset_kwargs"}
FUNCTION_KEYS = ("process_docs", "doc_to_visual", "doc_to_text", "doc_to_target", "process_results")


class _Function(str):
    """The target of a ``!function module.name`` tag (lmms-eval resolves it from the YAML's folder)."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!function", lambda loader, node: _Function(loader.construct_scalar(node)))


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


def _utils(folder: Path):
    """The folder's utils.py imported the way lmms-eval imports it (by file location)."""
    spec = importlib.util.spec_from_file_location("utils", folder / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def task_dir(synth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_lmms_eval(str(synth_dir), 5, tmp_path_factory.mktemp("lmms") / "tasks")


def _functions(config: dict) -> list[str]:
    named = [config[key] for key in FUNCTION_KEYS]
    named += [metric["aggregation"] for metric in config["metric_list"]]
    assert all(isinstance(name, _Function) for name in named)
    return named


def test_the_folder_is_one_group_of_nine_subtasks_in_lmms_eval_schema(task_dir: Path, synth_dir: Path):
    names = sorted(p.name for p in task_dir.glob("*.yaml"))
    subtasks = [subtask_name(5, s, t) for s in SETS for t in TASKS]
    assert names == sorted([f"{group_name(5)}.yaml", *(f"{name}.yaml" for name in subtasks)])
    group = _load(task_dir / "umu_bench_forget05.yaml")
    assert group["group"] == "umu_bench_forget05" and group["task"] == subtasks
    utils = _utils(task_dir)
    for set_name in SETS:
        for task in TASKS:
            config = _load(task_dir / f"{subtask_name(5, set_name, task)}.yaml")
            assert REQUIRED_TASK_KEYS <= set(config) <= TASK_KEYS
            assert config["task"] == subtask_name(5, set_name, task)
            assert config["dataset_path"] == str(synth_dir.resolve())
            assert config["dataset_name"] == set_config(set_name, 5) and config["test_split"] == "train"
            assert config["output_type"] == "generate_until"
            kwargs = config["generation_kwargs"]
            assert kwargs["max_new_tokens"] == MAX_NEW_TOKENS[task]
            assert kwargs["do_sample"] is False and kwargs["temperature"] == 0 and kwargs["num_beams"] == 1
            assert config["lmms_eval_specific_kwargs"] == {"default": {"prompt": "chat"}, "umu_hf": {"prompt": "llava"}}
            for metric in config["metric_list"]:
                assert set(metric) == {"metric", "aggregation", "higher_is_better"}
                lower = set_name == "forget" or metric["metric"] in ("AccF", "RLF")
                assert metric["higher_is_better"] is (metric["metric"] in ("AccR", "RLR") or not lower)
            for name in _functions(config):
                module, _, attribute = name.rpartition(".")
                assert module == "utils" and callable(getattr(utils, attribute)), name


@pytest.mark.parametrize("set_name", SETS)
def test_docs_prompts_and_portraits_are_umu_hfs(task_dir: Path, synth_dir: Path, set_name: str):
    """process_docs on the split lmms-eval loads (datasets.load_dataset of the folder and config): one doc per
    question and modality, doc_to_text the original prompt, doc_to_visual the person's portrait."""
    import datasets

    utils = _utils(task_dir)
    split = datasets.load_dataset(str(synth_dir), set_config(set_name, 5), split="train")
    portraits = {row["ID"]: row["image"] for row in split}
    for task in TASKS:
        docs = getattr(utils, f"{set_name}_{task}_docs")(split)
        questions = list(iter_items(split, set_name, [task]))
        assert len(docs) == len(questions) > 0
        for doc, question in zip(docs, questions, strict=True):
            assert doc["id"] == question.uid()
            llava = llava_task_prompt(task, question.modality, question.question, question.options)
            assert utils.doc_to_text(doc) == utils.doc_to_text(doc, {"prompt": "llava"}) == llava
            chat = task_instruction(task, question.question, question.options)
            assert utils.doc_to_text(doc, {"prompt": "chat", "default": {}}) == chat
            assert utils.doc_to_target(doc) == question.reference
            visual = utils.doc_to_visual(doc)
            if question.with_image:
                assert [v.tobytes() for v in visual] == [portraits[question.profile_id].convert("RGB").tobytes()]
            else:
                assert visual == []


@pytest.mark.parametrize("task", TASKS)
def test_scores_equal_umu_hf_evals(task_dir: Path, synth_dir: Path, task: str):
    """process_results + the aggregations give the numbers results.json gives for the same replies."""
    import datasets

    utils = _utils(task_dir)
    config = _load(task_dir / f"{subtask_name(5, 'real', task)}.yaml")
    split = datasets.load_dataset(str(synth_dir), "real", split="train")
    docs = getattr(utils, f"real_{task}_docs")(split)
    questions = list(iter_items(split, "real", [task]))
    # right, wrong, talkative and empty outputs, one cut by the reply rule (the answer after "ASSISTANT:" does not
    # count); five kinds, so both modalities get each
    outputs = [
        [q.reference, "no idea", f" no ASSISTANT: {q.reference}", f"{q.reference} ok", ""][i % 5]
        for i, q in enumerate(questions)
    ]
    per_metric: dict[str, list] = {}
    records = {}
    for doc, question, output in zip(docs, questions, outputs, strict=True):
        result = utils.process_results(doc, [output])
        assert set(result) == {m["metric"] for m in config["metric_list"]}
        for metric, record in result.items():
            per_metric.setdefault(metric, []).append(record)
        records[question.uid()] = question.score(output.split("ASSISTANT:")[0].strip())
    expected = task_metrics(questions, records, task)
    for metric in config["metric_list"]:
        name = metric["metric"]
        aggregate = getattr(utils, metric["aggregation"].rpartition(".")[2])
        assert aggregate(per_metric[name]) == pytest.approx(expected[name], abs=1e-12), name
    assert 0 < expected["unimodal_acc" if task != "generation" else "unimodal_rougeL"] < 100


def test_a_question_asked_in_one_modality_only_is_an_error(task_dir: Path, synth_dir: Path):
    import datasets

    utils = _utils(task_dir)
    docs = utils.forget_cloze_docs(datasets.load_dataset(str(synth_dir), "forget05", split="train"))
    records = [utils.process_results(doc, ["x"])["AccF"] for doc in docs]
    with pytest.raises(UmuError, match="one modality only"):
        utils.aggregate_AccF(records[:-1])


def test_an_unknown_prompt_style_is_refused(task_dir: Path, synth_dir: Path):
    import datasets

    utils = _utils(task_dir)
    doc = utils.real_cloze_docs(datasets.load_dataset(str(synth_dir), "real", split="train"))[0]
    with pytest.raises(UmuError, match="prompt 'qwen'"):
        utils.doc_to_text(doc, {"prompt": "qwen"})


def test_bad_input_is_one_line_naming_the_flag(tmp_path: Path, synth_dir: Path, capsys):
    base = ["export", "lmms-eval", "--out", str(tmp_path / "t")]
    assert cli_main([*base, "--data", str(synth_dir), "--forget-ratio", "20"]) == 2
    assert "--forget-ratio" in capsys.readouterr().err
    assert cli_main([*base, "--data", str(tmp_path / "missing"), "--forget-ratio", "5"]) == 2
    assert "--data" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
    assert cli_main([*base, "--data", "org/umu-bench", "--forget-ratio", "10"]) == 0
    config = _load(tmp_path / "t" / "umu_bench_forget10_retain_cloze.yaml")
    assert config["dataset_path"] == "org/umu-bench" and config["dataset_name"] == "retain90"
    assert cli_main([*base, "--data", "org/umu-bench", "--forget-ratio", "10"]) == 2  # exists: --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_the_umu_hf_model_asks_llava_with_the_tasks_prompt(task_dir: Path, synth_dir: Path, tiny_model_dir):
    """``--model umu_hf`` asks a UMU-Bench doc through the adapter: for LLaVA-1.5 exactly ``doc_to_text``."""
    import datasets
    from transformers import AutoConfig, AutoProcessor

    from umu_hf.lmms.model import is_umu_doc, request_prompt
    from umu_hf.models.adapters import LlavaAdapter, get_adapter

    adapter = get_adapter(AutoProcessor.from_pretrained(tiny_model_dir), AutoConfig.from_pretrained(tiny_model_dir))
    assert isinstance(adapter, LlavaAdapter)
    utils = _utils(task_dir)
    split = datasets.load_dataset(str(synth_dir), "forget05", split="train")
    for docs in (utils.forget_classification_docs(split), utils.forget_generation_docs(split)):
        for doc in docs:
            assert is_umu_doc(doc)
            text = utils.doc_to_text(doc)
            assert request_prompt(adapter, text, doc, len(utils.doc_to_visual(doc))) == text
    assert request_prompt(adapter, "Describe it.", {"question_id": 1}, 1) == "USER: <image>\nDescribe it.\nASSISTANT:"


def test_a_published_layout_folder_is_pointed_to_through_its_converted_copy(legacy_dir: Path, umu_cache: Path,
                                                                            tmp_path: Path):  # fmt: skip
    """lmms-eval reads Hub-layout folders (datasets.load_dataset); published data is converted once, into the cache."""
    from umu_hf.data.hub import is_hub_folder

    tasks = export_lmms_eval(str(legacy_dir), 15, tmp_path / "tasks")
    path = Path(_load(tasks / "umu_bench_forget15_forget_cloze.yaml")["dataset_path"])
    assert path.is_relative_to(umu_cache) and is_hub_folder(path)
