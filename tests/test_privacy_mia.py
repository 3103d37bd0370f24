"""Membership inference: the AUC math, the synthetic holdout config, the four attacks' definitions on the
tiny model and ``umu-hf eval --privacy`` (the ``umu_privacy`` evaluate module: test_metric_privacy_modules.py)."""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path

import pytest

from umu_hf.cli import main
from umu_hf.data.schema import MODALITIES
from umu_hf.errors import UmuError
from umu_hf.privacy.auc import auc, modality_aucs
from umu_hf.privacy.mia import ATTACKS, TokenStats, attack_scores

# -- the AUC -------------------------------------------------------------------------------------------------


def _brute_auc(members, nonmembers) -> float:
    wins = sum((m > n) + 0.5 * (m == n) for m in members for n in nonmembers)
    return wins / (len(members) * len(nonmembers))


def test_auc_hand_cases():
    assert auc([5, 6, 7], [1, 2]) == 1.0  # perfect separation
    assert auc([1, 2], [5, 6, 7]) == 0.0  # perfectly reversed
    assert auc([1, 2, 3], [1, 2, 3]) == 0.5  # identical
    assert auc([4, 4, 4], [4, 4]) == 0.5  # all tied
    assert auc([2, 0], [1, 0]) == 0.625  # 2 wins, 1 tie, 1 loss of 4 pairs
    assert auc([1], [1, 0, 2]) == 0.5  # 1 win, 1 tie, 1 loss
    rng = random.Random(0)
    for _ in range(20):  # ties on purpose: integer scores
        members = [rng.randrange(6) for _ in range(rng.randrange(1, 9))]
        nonmembers = [rng.randrange(6) for _ in range(rng.randrange(1, 9))]
        assert auc(members, nonmembers) == pytest.approx(_brute_auc(members, nonmembers), abs=1e-12)
    assert modality_aucs({"unimodal": [1], "multimodal": [2]}, {"unimodal": [1], "multimodal": [1]}) == {
        "unimodal": 0.5, "multimodal": 1.0, "gap": 0.5
    }  # fmt: skip


@pytest.mark.parametrize(
    ("members", "nonmembers", "needle"),
    [([], [1.0], "member_scores is empty"), ([1.0], [], "nonmember_scores is empty"),
     ([1.0, math.nan], [1.0], r"member_scores\[1\] is nan"), ([1.0], ["x"], r"nonmember_scores\[0\] must be a number")],
)  # fmt: skip
def test_auc_refuses_bad_scores(members, nonmembers, needle):
    with pytest.raises(UmuError, match=needle):
        auc(members, nonmembers)


def test_attack_scores_by_hand():
    stats = TokenStats(log_probs=(-0.5, -4.0, -1.0, -2.0, -0.1), mu=(-1.0,) * 5, sigma=(0.5, 1.0, 2.0, 4.0, 1.0))
    scores = attack_scores(stats, "Velmora.", k=0.4)
    nll = (0.5 + 4.0 + 1.0 + 2.0 + 0.1) / 5
    import zlib

    assert scores["loss"] == pytest.approx(-nll)
    assert scores["zlib"] == pytest.approx(-nll / len(zlib.compress(b"Velmora.")))
    assert scores["min_k"] == pytest.approx((-4.0 + -2.0) / 2)  # lowest 40 % of 5 tokens: 2
    z = [(-0.5 + 1) / 0.5, (-4.0 + 1) / 1.0, (-1.0 + 1) / 2.0, (-2.0 + 1) / 4.0, (-0.1 + 1) / 1.0]
    assert scores["min_k_plus_plus"] == pytest.approx(sum(sorted(z)[:2]) / 2)
    assert attack_scores(stats, "x", k=0.01)["min_k"] == -4.0  # at least one token
    assert list(scores) == list(ATTACKS)


def test_min_k_attacks_default_to_muses_k():
    """The headline attack is MUSE's Min-40%: by default Min-K% and Min-K%++ average the lowest 40 % of the answer
    tokens (4 of 10), as MUSE's PrivLeak and open-unlearning's configs do."""
    from umu_hf.privacy.reference import HEADLINE_ATTACK

    log_probs = tuple(-float(i) for i in range(10))  # 0, -1, ..., -9
    stats = TokenStats(log_probs=log_probs, mu=(0.0,) * 10, sigma=(1.0,) * 10)
    scores = attack_scores(stats, "an answer")
    assert HEADLINE_ATTACK == "min_k"
    assert scores["min_k"] == pytest.approx((-9 - 8 - 7 - 6) / 4)
    assert scores["min_k_plus_plus"] == pytest.approx((-9 - 8 - 7 - 6) / 4)


# -- the holdout config --------------------------------------------------------------------------------------


def _ids(folder, config) -> set[int]:
    from umu_hf.data.load import load_umu_split

    return {int(i) for i in load_umu_split(folder, config, as_dataset=False)["ID"]}


def test_synth_writes_a_holdout_disjoint_from_every_other_config(synth_dir):
    from umu_hf.data.load import has_config, load_umu_split
    from umu_hf.data.schema import CONFIG_NAMES
    from umu_hf.data.synth import default_holdout

    holdout = load_umu_split(synth_dir, "holdout", as_dataset=False)
    assert holdout.num_rows == default_holdout(40) == 4 and has_config(synth_dir, "holdout")
    assert set(holdout["source"]) == {"fictitious"}
    ids = {int(i) for i in holdout["ID"]}
    assert ids == {48, 49, 50, 51}  # drawn after the real set
    for config in CONFIG_NAMES:  # forget*, retain*, real and full (what vanilla fine-tuning trains on)
        assert not ids & _ids(synth_dir, config), config


def test_no_holdout_same_other_files_and_a_one_line_error(synth_dir, tmp_path):
    """``--holdout 0``: no holdout config, every other shard byte-identical (the holdout is drawn last); loading
    the holdout then is a clear error, and ``has_config`` says so."""
    from umu_hf.data.load import MissingConfigError, has_config, load_umu_split
    from umu_hf.data.synth import generate_dataset

    assert main(["data", "synth", "--out", str(tmp_path / "plain"), "--fictitious", "40", "--real", "8",
                 "--holdout", "0"]) == 0  # fmt: skip
    plain = tmp_path / "plain"

    def digests(folder: Path) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "data").iterdir())}

    with_holdout = digests(synth_dir)
    assert with_holdout.pop("holdout-00000-of-00001.parquet")
    assert digests(plain) == with_holdout
    assert not has_config(plain, "holdout")
    with pytest.raises(MissingConfigError, match="no `holdout` config") as caught:
        load_umu_split(plain, "holdout")
    assert isinstance(caught.value, UmuError) and "\n" not in str(caught.value)
    assert "holdout" not in (plain / "README.md").read_text(encoding="utf-8").split("---")[1]
    with pytest.raises(UmuError, match="--holdout -1"):
        generate_dataset(tmp_path / "bad", 40, 8, n_holdout=-1)


def test_converted_published_data_has_no_holdout(legacy_dir, umu_cache, capsys):
    from umu_hf.data.load import MissingConfigError, has_config, load_umu_split

    assert not has_config(legacy_dir, "holdout") and has_config(legacy_dir, "full")
    with pytest.raises(MissingConfigError, match="Converted published data has none"):
        load_umu_split(legacy_dir, "holdout")
    assert main(["data", "info", str(legacy_dir), "--config", "holdout"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no `holdout` config" in err[0]


# -- the attacks on the (untrained) tiny model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from umu_hf.models.loading import load_model

    model, _processor, adapter = load_model(str(tiny_model_dir), "cpu")
    return model, adapter


@pytest.mark.parametrize("modality", ["unimodal", "multimodal"])
def test_token_stats_match_an_independent_computation(tiny, synth_dir, modality):
    """The LOSS score is minus the model's own loss on the answer-labelled training text, μ is minus the entropy of
    the next-token distribution, and only the answer tokens are scored."""
    import torch

    from umu_hf.data.collate import IGNORE_INDEX, UMUCollator
    from umu_hf.data.load import load_umu_split
    from umu_hf.privacy.mia import split_pairs, token_stats

    model, adapter = tiny
    split = load_umu_split(synth_dir, "forget05", as_dataset=False)
    pairs, images = split_pairs(split, "forget05", limit=3)
    chosen = pairs[modality]
    stats = token_stats(model, adapter, chosen, images, batch_size=2)  # a ragged batch and a single one
    collator = UMUCollator(adapter, images, {}, label_mode="answer", refusals=[])
    for pair, stat in zip(chosen, stats, strict=True):
        batch = collator.encode([pair], [pair.answer])
        labels = batch.pop("labels")
        with torch.no_grad():
            output = model(**batch, labels=labels)
        n_answer = int((labels != IGNORE_INDEX).sum())
        assert len(stat.log_probs) == n_answer > 0
        assert -sum(stat.log_probs) / n_answer == pytest.approx(float(output.loss), rel=1e-4)
        scores = attack_scores(stat, pair.answer)
        assert scores["loss"] == pytest.approx(-float(output.loss), rel=1e-4)
        positions = (labels[0, 1:] != IGNORE_INDEX).nonzero().squeeze(-1)
        logits = output.logits[0, positions].float()
        entropy = torch.distributions.Categorical(logits=logits).entropy()
        assert list(stat.mu) == pytest.approx((-entropy).tolist(), rel=1e-4, abs=1e-5)
        assert all(s > 0 for s in stat.sigma)


# -- umu-hf eval --privacy -----------------------------------------------------------------------------------

#: the privacy block asks no generation question: a 4-token generation budget (not 200) keeps the evaluations short
_EVAL = ["--forget-ratio", "15", "--sets", "forget", "--limit", "1", "--device", "cpu", "--no-progress",
         "--max-new-tokens", "generation=4"]


def test_eval_privacy_writes_the_block_and_nothing_without_the_flag(tiny_model_dir, synth_dir, tmp_path, capsys):
    out = tmp_path / "eval"
    base = ["eval", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--out", str(out), *_EVAL]
    assert main(base) == 0
    plain = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert "privacy" not in plain
    capsys.readouterr()
    assert main([*base, "--privacy"]) == 0  # the same run (privacy asks no question): resumes, adds the block
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    block = results.pop("privacy")
    assert results == plain
    assert set(block["mia"]) == set(ATTACKS)
    for aucs in block["mia"].values():
        assert set(aucs) == {"unimodal", "multimodal", "gap"}
        assert all(0.0 <= aucs[m] <= 1.0 for m in ("unimodal", "multimodal"))
        assert aucs["gap"] == pytest.approx(aucs["multimodal"] - aucs["unimodal"])
    assert (block["n_forget"], block["n_holdout"]) == (6, 4)
    assert block["n_pairs"] == {m: {"forget": 1, "holdout": 1} for m in ("unimodal", "multimodal")}  # --limit 1
    assert block["k"] == 0.4  # Min-K%'s fraction, recorded
    assert "privacy: membership-inference AUC" in printed and "min_k_plus_plus" in printed
    # one member and one non-member pair: the attack flags the member at FPR 0 exactly when it ranks it above
    assert block["fpr_levels"] == [0.01, 0.05] and set(block["tpr_at_fpr"]) == set(ATTACKS)
    for attack, per_modality in block["tpr_at_fpr"].items():
        for m, tprs in per_modality.items():
            assert tprs == {level: float(block["mia"][attack][m] == 1.0) for level in ("1%", "5%")}
    assert "TPR@1%/5% FPR" in printed


def test_tpr_at_fpr_is_the_roc_curves_best_point_within_the_fpr():
    """Against a brute-force ROC: every threshold, the highest TPR among those with FPR <= the level."""
    import random

    from umu_hf.privacy.auc import tpr_at_fpr

    rng = random.Random(0)
    for trial in range(200):
        members = [rng.randrange(10) + rng.random() * (trial % 2) for _ in range(rng.randint(1, 30))]
        others = [rng.randrange(10) + rng.random() * (trial % 2) for _ in range(rng.randint(1, 30))]
        for level in (0.0, 0.01, 0.05, 0.2, 0.5):
            best = max(
                sum(v >= t for v in members) / len(members)
                for t in {*members, *others, math.inf}
                if sum(v >= t for v in others) / len(others) <= level
            )
            assert tpr_at_fpr(members, others, level) == best
    with pytest.raises(UmuError, match="fpr must be in"):
        tpr_at_fpr([1.0], [0.0], 1.0)


def test_privacy_block_from_python_on_a_loaded_model(tiny_model_dir, synth_dir, tmp_path):
    """The Python API: the privacy options are checked when made, and the block is measured on top of an
    evaluation of the model given loaded, with the numbers of the command line's."""
    from umu_hf.evaluation.request import EvalRequest
    from umu_hf.models.loading import load_model
    from umu_hf.privacy.block import PrivacyOptions, evaluate_with_privacy

    with pytest.raises(UmuError, match="unimodal_layout must be one of with-portrait, text-only .*'sideways'"):
        PrivacyOptions(unimodal_layout="sideways")
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--out", str(cli_out), *_EVAL,
                 "--privacy", "--unimodal-layout", "with-portrait"]) == 0  # fmt: skip
    request = EvalRequest(str(tiny_model_dir), str(synth_dir), 15, api_out, sets=("forget",), limit=1, device="cpu",
                          max_new_tokens={"generation": 4})
    loaded = load_model(str(tiny_model_dir), "cpu", "auto")
    results = evaluate_with_privacy(request, PrivacyOptions(unimodal_layout="with-portrait"), loaded=loaded,
                                    progress=False)
    assert results["privacy"]["layout"]["source"] == "flag"
    assert results == json.loads((cli_out / "results.json").read_text(encoding="utf-8"))
    assert results == json.loads((api_out / "results.json").read_text(encoding="utf-8"))


def test_finetune_records_how_it_asked_um_qa(synth_dir):
    """The decision the training record carries: the original's one stream asks UM_QA with the portrait, the
    paired streams without."""
    from umu_hf.trainers.jobs import FINETUNE_UM_QA_PORTRAIT, build_finetune_dataset

    assert FINETUNE_UM_QA_PORTRAIT == {"independent": True, "paired": False}
    paired = build_finetune_dataset(synth_dir, streams="paired")
    assert all(mm.with_image and not um.with_image for mm, um in paired.pairs)
    independent = build_finetune_dataset(synth_dir, streams="independent")
    assert all(p.with_image for p in independent.all_streams[("train", "mm")])


def test_eval_privacy_scores_um_qa_as_the_vanilla_was_fine_tuned(
    tiny_model_dir, synth_dir, tmp_path, capsys, monkeypatch
):
    """Members are members through the fine-tuning: an original-protocol vanilla asked UM_QA with the portrait, so
    the unimodal attack of a model unlearned from it scores UM_QA with the portrait, found through the unlearned
    model's record (which names the vanilla it started from) and the vanilla's; --unimodal-layout overrides it;
    without any record the pairs are text only, and results.json says which and why."""
    import shutil

    import umu_hf.privacy.mia as mia
    from umu_hf.trainers.finetune import FinetuneConfig
    from umu_hf.trainers.jobs import TRAINING_RECORD, finetune

    config = FinetuneConfig(output_dir=str(tmp_path / "vanilla"), max_steps=1, per_device_train_batch_size=2,
                            save_strategy="no", use_cpu=True, disable_tqdm=True, report_to="none")  # fmt: skip
    vanilla = finetune(str(tiny_model_dir), synth_dir, config)  # the original protocol: one stream
    record = json.loads((vanilla / TRAINING_RECORD).read_text(encoding="utf-8"))
    assert record["method"] == "finetune" and record["um_qa_with_portrait"] is True
    unlearned = tmp_path / "ga"
    shutil.copytree(vanilla, unlearned)
    (unlearned / TRAINING_RECORD).write_text(json.dumps({"method": "ga", "model": str(vanilla)}), encoding="utf-8")

    scored: list[set[bool]] = []  # per token_stats call: with_image of the pairs scored
    original = mia.token_stats

    def spy(model, adapter, pairs, images, batch_size=16):
        scored.append({p.with_image for p in pairs})
        return original(model, adapter, pairs, images, batch_size)

    monkeypatch.setattr(mia, "token_stats", spy)

    def layout(model: Path, *flags: str) -> dict:
        scored.clear()
        out = tmp_path / f"eval-{model.name}-{len(flags)}"
        argv = ["eval", "--model", str(model), "--data", str(synth_dir), "--out", str(out), *_EVAL, "--privacy"]
        assert main([*argv, *flags]) == 0
        block = json.loads((out / "results.json").read_text(encoding="utf-8"))["privacy"]
        return block["layout"]

    found = layout(unlearned)
    assert found == {"unimodal": "UM_QA with portrait", "multimodal": "MM_QA with portrait",
                     "source": "umu_training.json", "detail": str(vanilla / TRAINING_RECORD)}  # fmt: skip
    assert scored == [{True}] * 4  # forget and holdout, each modality: every pair with the portrait
    assert "unimodal pairs: UM_QA with portrait (umu_training.json" in capsys.readouterr().out
    flagged = layout(unlearned, "--unimodal-layout", "text-only")
    assert (flagged["unimodal"], flagged["source"]) == ("UM_QA text only", "flag")
    assert scored == [{False}, {True}] * 2  # unimodal text only, multimodal with the portrait
    default = layout(tiny_model_dir)
    assert (default["unimodal"], default["source"]) == ("UM_QA text only", "default")
    assert "no umu_training.json" in default["detail"]
    assert scored == [{False}, {True}] * 2


def test_eval_privacy_without_a_holdout_is_unavailable(tiny_model_dir, tmp_path, capsys):
    from umu_hf.data.synth import generate_dataset

    data = generate_dataset(tmp_path / "plain", 40, 8, 0, n_holdout=0)
    out = tmp_path / "eval"
    argv = ["eval", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out), *_EVAL, "--privacy"]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    (why,) = results["privacy"].values()
    assert list(results["privacy"]) == ["unavailable"] and "holdout" in why and "\n" not in why
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("privacy")]
    assert lines == [f"privacy: unavailable ({why})"]


@pytest.mark.slow
def test_vanilla_recognises_the_forget_set_and_the_retain_model_does_not(tiny_model_dir, small_synth_dir, tmp_path):
    """The same fine-tuning on ``full`` (vanilla) and on ``retain85+real`` (the retain model, which never saw the
    forget people): vanilla's MIA AUC forget vs holdout is well above 0.5 in both modalities, the retain model's
    near 0.5 (both sets are strangers to it), through ``umu-hf eval --retain-model``: forget quality and PrivLeak
    of vanilla against the retain model say it leaks. On the small synthetic data (14 profiles, forget15 two of
    them): the 48-profile data took three times as long to learn, with smaller margins (:data:`MIA_EPOCHS`)."""
    from umu_hf.data.schema import retain_model_config
    from umu_hf.trainers.finetune import FinetuneConfig
    from umu_hf.trainers.jobs import finetune

    def train(name: str, config_name: str) -> str:
        config = FinetuneConfig(output_dir=str(tmp_path / name), num_train_epochs=MIA_EPOCHS, learning_rate=MIA_LR,
                                per_device_train_batch_size=16, protocol="umu-hf", label_mode="full",
                                save_strategy="no", use_cpu=True, disable_tqdm=True, seed=0)  # fmt: skip
        return str(finetune(str(tiny_model_dir), small_synth_dir, config, config_name=config_name))

    vanilla, retain = train("vanilla", "full"), train("retain", retain_model_config(15))
    blocks = {}
    for name, model in (("vanilla", vanilla), ("retain", retain)):
        out = tmp_path / f"eval-{name}"
        argv = ["eval", "--model", model, "--data", str(small_synth_dir), "--out", str(out), "--forget-ratio", "15",
                "--sets", "forget", "--device", "cpu", "--no-progress", "--retain-model", retain,
                *(f"--max-new-tokens={task}=4" for task in ("classification", "cloze", "generation"))]
        assert main(argv) == 0
        blocks[name] = json.loads((out / "results.json").read_text(encoding="utf-8"))["privacy"]
    for modality in ("unimodal", "multimodal"):
        assert blocks["vanilla"]["mia"]["loss"][modality] > 0.8, blocks["vanilla"]["mia"]
        assert abs(blocks["retain"]["mia"]["loss"][modality] - 0.5) < 0.25, blocks["retain"]["mia"]
        # the retain model against itself: the same truth ratios (KS p = 1) and no leak
        assert blocks["retain"]["forget_quality"][modality]["forget_quality"] == 1.0
        assert blocks["retain"]["privleak"]["loss"][modality] == 0.0
        assert blocks["vanilla"]["privleak"]["loss"][modality] < -30.0  # MUSE: negative = recognised
    print({n: {a: b["mia"][a] for a in ATTACKS} for n, b in blocks.items()},
          {n: b["forget_quality"] for n, b in blocks.items()})


#: vanilla / retain-model epochs and learning rate in the MIA test: enough that vanilla memorises its training pairs.
#: Measured (2026-12-06; loss-attack AUC forget vs holdout, unimodal / multimodal) on the small synthetic data: 6
#: epochs at 1e-2 give vanilla 0.890 / 0.968 and the retain model 0.440 / 0.497 with one thread (0.903 / 0.966 and
#: 0.474 / 0.499 with two), in 35 s of training here; on the 48-profile data 0.847 / 0.921 and 0.590 / 0.576.
MIA_EPOCHS = 6
MIA_LR = 1e-2


def test_gradnorm_attack_is_open_unlearnings_mean_of_parameter_gradient_norms(tiny_model_dir, synth_dir):
    """One pair's score is minus the mean over parameters of each gradient's 2-norm, of that pair's mean answer
    NLL alone; the model's weights, gradients, mode and requires_grad are as before."""
    import torch

    from umu_hf.data.collate import IGNORE_INDEX, UMUCollator
    from umu_hf.data.load import load_umu_split
    from umu_hf.models.loading import load_model
    from umu_hf.privacy.mia import gradnorm_scores, split_pairs

    model, _processor, adapter = load_model(str(tiny_model_dir), "cpu", "float32")
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    before = {name: p.clone() for name, p in model.named_parameters()}
    pairs, images = split_pairs(load_umu_split(str(synth_dir), "forget10", as_dataset=False), "forget", 2)
    scores = gradnorm_scores(model, adapter, pairs["multimodal"], images)
    assert not model.training and not any(p.requires_grad or p.grad is not None for p in model.parameters())
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
    pair = pairs["multimodal"][1]
    batch = UMUCollator(adapter, images, {}, label_mode="answer", refusals=[], eos=False).encode([pair], [pair.answer])
    labels = batch.pop("labels")[0, 1:]
    for param in model.parameters():
        param.requires_grad_(True)
    logits = model(**batch).logits[0, :-1]
    keep = labels != IGNORE_INDEX
    torch.nn.functional.cross_entropy(logits[keep], labels[keep]).backward()
    expected = -torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None]).mean()
    assert len(scores) == 2 and scores[1] == pytest.approx(float(expected), rel=1e-5)


def test_eval_privacy_gradnorm_flag(tiny_model_dir, synth_dir, tmp_path):
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(tiny_model_dir), "--data", str(synth_dir), "--out", str(out), *_EVAL,
                 "--privacy", "--gradnorm"]) == 0
    block = json.loads((out / "results.json").read_text(encoding="utf-8"))["privacy"]
    assert set(block["mia"]) == {*ATTACKS, "gradnorm"} and set(block["tpr_at_fpr"]["gradnorm"]) == set(MODALITIES)
