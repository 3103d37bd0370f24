"""umu_hf.scoring: hand-computed cases for each rule of docs/protocol.md (Scoring, Metrics), input validation and metric invariants."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umu_hf import scoring
from umu_hf.errors import UmuError

OPTIONS = ["London", "Paris", "Rome", "Oslo"]


# --------------------------------------------------------------------------------------------------------------
# classification: option matching


def test_exact_matching_returns_the_stripped_reply_unchanged():
    assert scoring.match_option("  paris.\n", OPTIONS, "exact") == "paris."


@pytest.mark.parametrize(
    ("reply", "correct"),
    [
        ("Paris", True),
        ("  Paris \n", True),  # both sides are stripped
        ("paris", False),  # case matters
        ("Paris.", False),  # a trailing period matters
        ("B", False),  # the letter is not the option text
        ("B. Paris", False),  # neither is "letter. text"
        ("Paris is the answer", False),
    ],
)
def test_exact_classification_is_string_equality_after_strip(reply, correct):
    assert scoring.classification_correct(reply, "Paris", OPTIONS, "exact") is correct


def test_reference_is_stripped_too():
    assert scoring.classification_correct("Paris", " Paris ", OPTIONS, "exact")


def test_closest_snaps_to_the_most_similar_option():
    assert scoring.match_option("B. Paris", OPTIONS, "closest") == "Paris"
    assert scoring.match_option("Rom", OPTIONS, "closest") == "Rome"
    assert scoring.classification_correct("B. Paris", "Paris", OPTIONS, "closest")
    assert scoring.classification_correct("paris", "Paris", OPTIONS, "closest")


def test_closest_letter_only_reply_is_not_the_lettered_option():
    # "B" shares no character with any option: all ratios are 0 and the first option wins the tie.
    assert scoring.match_option("B", OPTIONS, "closest") == "London"
    assert not scoring.classification_correct("B", "Paris", OPTIONS, "closest")
    assert scoring.classification_correct("B", "London", OPTIONS, "closest")


def test_closest_ties_and_empty_reply_go_to_the_first_option():
    assert scoring.match_option("", OPTIONS, "closest") == "London"
    assert scoring.match_option("ab", ["xa", "xb", "c", "d"], "closest") == "xa"  # equal ratios 0.5


def test_closest_needs_options():
    with pytest.raises(UmuError, match="options is empty"):
        scoring.match_option("Paris", [], "closest")


@pytest.mark.parametrize("mode", ["fuzzy", "", None, "EXACT"])
def test_unknown_option_matching_is_refused(mode):
    with pytest.raises(ValueError, match="option_matching"):
        scoring.match_option("Paris", OPTIONS, mode)


# --------------------------------------------------------------------------------------------------------------
# cloze containment rule


@pytest.mark.parametrize(
    ("reply", "answer", "correct"),
    [
        # the text before the first '.', in any case
        ("She was born in LYON, France", "Lyon. It is in France.", True),
        ("France", "Lyon. It is in France.", False),  # the part after the period is not required
        ("a nurse", "Nurse", True),  # no period: the whole answer
        ("Nurses", "Nurse", True),  # plain substring
        ("I think 3", "3.5 km", True),  # original quirk: a decimal point cuts the answer
        ("Lyon", "Lyon.", True),
        ("Lyo", "Lyon", False),
        ("", "Lyon", False),
    ],
)
def test_cloze_rule(reply, answer, correct):
    assert scoring.cloze_correct(reply, answer) is correct


# --------------------------------------------------------------------------------------------------------------
# ROUGE-L


def test_rouge_l_hand_computed():
    # LCS("the cat sat on the mat", "the cat on mat") = 4 tokens: P = 4/4, R = 4/6, F1 = 0.8
    assert scoring.rouge_l("the cat on mat", "the cat sat on the mat") == pytest.approx(0.8)
    assert scoring.rouge_l("Alice was born in Paris.", "Alice was born in Paris.") == 1.0
    assert scoring.rouge_l("I do not know", "Alice was born in Paris") == 0.0
    assert scoring.rouge_l("", "Alice") == 0.0


def test_rouge_l_uses_the_stemmer_and_one_cached_scorer():
    # stemmed: "the dog were run" vs "the dog wa run" -> LCS 3 of 4 tokens each way
    assert scoring.rouge_l("The dogs were running", "the dog was run") == pytest.approx(0.75)
    assert scoring.rules._rouge_l_scorer() is scoring.rules._rouge_l_scorer()


# --------------------------------------------------------------------------------------------------------------
# generation: the original's secondary numbers (BLEU, ROUGE-1, ROUGE-2)


def test_secondary_numbers_of_identical_and_disjoint_replies():
    same = scoring.generation_question_scores("Mara works as a pilot", "Mara works as a pilot")
    assert same == {"rougeL": 1.0, "bleu": 1.0, "rouge1": 1.0, "rouge2": 1.0}
    disjoint = scoring.generation_question_scores("no idea at all", "Mara works as a pilot")
    assert disjoint == {"rougeL": 0.0, "bleu": 0.0, "rouge1": 0.0, "rouge2": 0.0}
    assert all(isinstance(v, float) for v in disjoint.values())  # nltk returns the int 0 here
    assert scoring.bleu("", "Mara works as a pilot") == 0.0 and scoring.bleu("pilot", "") == 0.0


def test_secondary_numbers_hand_computed():
    reply, reference = "the cat on mat", "the cat sat on the mat"
    scores = scoring.generation_question_scores(reply, reference)
    # ROUGE-1: 4 of the reply's 4 unigrams in the reference's 6 -> P 1, R 2/3, F1 0.8
    assert scores["rouge1"] == pytest.approx(0.8)
    # ROUGE-2: "the cat" is the one shared bigram of 3 (reply) and 5 (reference) -> P 1/3, R 1/5, F1 0.25
    assert scores["rouge2"] == pytest.approx(0.25)
    # BLEU: brevity penalty exp(1 - 6/4); precisions 4/4, 1/3, then 0/2 and 0/1 smoothed to 0.1/2 and 0.1/1
    expected = math.exp(1 - 6 / 4) * (1 * (1 / 3) * (0.1 / 2) * (0.1 / 1)) ** 0.25
    assert scores["bleu"] == pytest.approx(expected)
    # one word, identical: 1-gram precision 1, the other three smoothed to 0.1 -> 0.1 ** 0.75 (short text)
    assert scoring.bleu("Paris", "Paris") == pytest.approx(0.1**0.75)


def test_secondary_numbers_are_the_ones_nltk_and_rouge_score_give_directly():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_score import rouge_scorer

    reference = "Mara Quint was born in the city of Velmora in 1971."
    reply = "Mara Quint was born in Velmora, a city by the sea, in 1972."
    direct = sentence_bleu([reference.split()], reply.split(), smoothing_function=SmoothingFunction().method1)
    rouge = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(reference, reply)
    scores = scoring.generation_question_scores(reply, reference)
    assert scores["bleu"] == pytest.approx(direct) and 0.0 < direct < 1.0
    for key in ("rouge1", "rouge2", "rougeL"):
        assert scores[key] == pytest.approx(rouge[key].fmeasure)
    assert scores["rougeL"] == scoring.rouge_l(reply, reference)


def test_the_remembering_stemmer_tokenizes_and_scores_exactly_as_rouge_scores_own():
    """The ROUGE scorers' tokenizer (stems remembered) gives rouge_score's ``use_stemmer=True`` tokens and scores,
    asked twice (the second time from the cache)."""
    from rouge_score import rouge_scorer, tokenizers

    own = tokenizers.DefaultTokenizer(use_stemmer=True)
    direct = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    pairs = [
        ("She was running the hospitals' studies, happily.", "He runs studies at the hospital; happiness!"),
        ("Generalizations: connected, connections, connecting.", "The connection generalized nothing."),
        ("Born 1971 in Velmora — caresses, ponies, relational.", "ponies caress 1971 relate"),
        ("", "an empty reply"),
    ]
    for _ in range(2):
        for reply, reference in pairs:
            for text in (reply, reference):
                assert scoring.rules._stemming_tokenizer().tokenize(text) == own.tokenize(text)
            expected = direct.score(reference, reply)
            scores = scoring.generation_question_scores(reply, reference)
            assert [scores[k] for k in ("rouge1", "rouge2", "rougeL")] == [
                expected[k].fmeasure for k in ("rouge1", "rouge2", "rougeL")
            ]
            assert scoring.rouge_l(reply, reference) == expected["rougeL"].fmeasure


def test_secondary_means_are_per_modality_percent_and_come_with_generation_scores():
    uni = [{"bleu": 1.0, "rouge1": 0.5, "rouge2": 0.0}, {"bleu": 0.0, "rouge1": 1.0, "rouge2": 0.5}]
    multi = [{"bleu": 0.25, "rouge1": 0.0, "rouge2": 0.0}, {"bleu": 0.25, "rouge1": 0.0, "rouge2": 1.0}]
    assert scoring.generation_secondary(uni, multi) == {
        "unimodal": {"bleu": 50.0, "rouge1": 75.0, "rouge2": 25.0},
        "multimodal": {"bleu": 25.0, "rouge1": 0.0, "rouge2": 50.0},
    }
    empty = scoring.generation_secondary([], [])
    assert all(math.isnan(v) for block in empty.values() for v in block.values())
    result = scoring.generation_scores(["a b c d", "x"], ["a b c d", "a b c d"], ["a b c d", "a b c d"])
    assert result["secondary"] == {
        "unimodal": {"bleu": 50.0, "rouge1": 50.0, "rouge2": 50.0},
        "multimodal": {"bleu": 100.0, "rouge1": 100.0, "rouge2": 100.0},
    }
    assert set(result) == {*scoring.GENERATION_KEYS, scoring.SECONDARY_BLOCK}


def test_scoring_imports_without_rouge_score():
    code = "import sys, umu_hf.scoring; sys.exit(int('rouge_score' in sys.modules or 'nltk' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --------------------------------------------------------------------------------------------------------------
# pair metrics (docs/protocol.md, Metrics)


def test_binary_pair_metrics_hand_computed():
    u = [True, True, False, False, True]
    m = [True, False, True, False, True]
    assert scoring.binary_pair_metrics(u, m) == {
        "AccF": 80.0,  # 4 of 5 right in at least one modality
        "AccR": 40.0,  # 2 of 5 right in both
        "unimodal_acc": 60.0,
        "multimodal_acc": 60.0,
        "both_correct": 40.0,
        "only_unimodal": 20.0,
        "only_multimodal": 20.0,
        "both_wrong": 20.0,
        "n": 5,
    }


def test_binary_pair_metrics_accept_zero_one_ints():
    assert scoring.binary_pair_metrics([1, 0], [0, 0])["AccF"] == 50.0


def test_generation_pair_metrics_hand_computed_including_a_plus_b_zero():
    # (b, a) per question: (0, 0) -> 0 and 0; (1, 0) -> RLF 1, RLR 0; (0.6, 0.2) -> RLF 0.4/0.8, RLR 0.24/0.8
    result = scoring.generation_pair_metrics([0.0, 1.0, 0.6], [0.0, 0.0, 0.2])
    assert result["RLF"] == pytest.approx(100 * (0 + 1 + 0.5) / 3)
    assert result["RLR"] == pytest.approx(100 * (0 + 0 + 0.3) / 3)
    assert result["unimodal_rougeL"] == pytest.approx(100 * 1.6 / 3)
    assert result["multimodal_rougeL"] == pytest.approx(100 * 0.2 / 3)
    assert result["n"] == 3
    only_zero = scoring.generation_pair_metrics([0.0], [0.0])
    assert (only_zero["RLF"], only_zero["RLR"]) == (0.0, 0.0)


def test_classification_scores_end_to_end():
    options = [OPTIONS, ["1990", "1991", "1992", "1993"], ["a", "b", "c", "d"]]
    result = scoring.classification_scores(
        ["Paris", "1991", "c"], ["B. Paris", "1992", "c"], ["Paris", "1992", "c"], options, "exact"
    )
    assert (result["AccF"], result["AccR"]) == pytest.approx((100.0, 100 / 3))
    assert (result["only_unimodal"], result["only_multimodal"], result["both_wrong"]) == pytest.approx(
        (100 / 3, 100 / 3, 0.0)
    )
    closest = scoring.classification_scores(
        ["Paris", "1991", "c"], ["B. Paris", "1992", "c"], ["Paris", "1992", "c"], options, "closest"
    )
    assert closest["AccR"] == pytest.approx(200 / 3)


def test_cloze_and_generation_scores_end_to_end():
    cloze = scoring.cloze_scores(["Lyon", "no idea"], ["no idea", "no idea"], ["Lyon. In France.", "Nurse"])
    assert (cloze["AccF"], cloze["AccR"], cloze["unimodal_acc"], cloze["multimodal_acc"]) == (
        50.0,
        0.0,
        50.0,
        0.0,
    )
    generation = scoring.generation_scores(
        ["the cat on mat"], ["the cat sat on the mat"], ["the cat sat on the mat"]
    )
    # b = 0.8, a = 1: RLF = (1 + 0.64)/1.8, RLR = 1.6/1.8
    assert generation["RLF"] == pytest.approx(100 * 1.64 / 1.8)
    assert generation["RLR"] == pytest.approx(100 * 1.6 / 1.8)


@pytest.mark.parametrize(
    "call",
    [
        lambda: scoring.classification_scores([], [], [], []),
        lambda: scoring.cloze_scores([], [], [], confidence_level=0.95),
        lambda: scoring.generation_scores([], [], []),
        lambda: scoring.binary_pair_metrics([], []),
        lambda: scoring.generation_pair_metrics([], [], confidence_level=0.9),
    ],
)
def test_empty_input_gives_nan_and_a_warning(call):
    with pytest.warns(scoring.EmptyInputWarning):
        result = call()
    assert result["n"] == 0
    metrics = [v for k, v in result.items() if k not in ("n", scoring.SECONDARY_BLOCK)]
    metrics += [v for block in result.get(scoring.SECONDARY_BLOCK, {}).values() for v in block.values()]
    assert metrics and all(
        math.isnan(v) for value in metrics for v in (value if isinstance(value, list) else [value])
    )


def test_headline_metric_and_direction():
    assert scoring.headline_metric("cloze", "forget") == "AccF"
    assert scoring.headline_metric("generation", "real") == "RLR"
    assert scoring.LOWER_IS_BETTER == {"AccF", "RLF"}
    with pytest.raises(ValueError, match="'test'"):
        scoring.headline_metric("cloze", "test")


# --------------------------------------------------------------------------------------------------------------
# bootstrap intervals


def test_bootstrap_interval_is_seeded_and_sensible():
    u = [True, False] * 200
    m = [False] * 400
    a = scoring.binary_pair_metrics(u, m, confidence_level=0.95)
    assert a == scoring.binary_pair_metrics(u, m, confidence_level=0.95)  # same seed, same interval
    assert a["AccF_ci"] != scoring.binary_pair_metrics(u, m, confidence_level=0.95, seed=7)["AccF_ci"]
    lo, hi = a["AccF_ci"]
    assert lo < a["AccF"] < hi
    # binomial standard error at p = 0.5, n = 400: 2.5 points; a 95 % interval is about 2 * 1.96 * 2.5 wide
    assert 8.0 < hi - lo < 11.8
    assert a["AccR_ci"] == [0.0, 0.0]  # no question is right in both modalities
    narrower = scoring.binary_pair_metrics(u, m, confidence_level=0.5)["AccF_ci"]
    assert hi - lo > narrower[1] - narrower[0]


def test_bootstrap_for_generation_keys():
    result = scoring.generation_pair_metrics([0.2, 0.9, 0.4], [0.1, 0.8, 0.0], confidence_level=0.9)
    for key in ("RLF", "RLR"):
        lo, hi = result[f"{key}_ci"]
        assert 0.0 <= lo <= result[key] <= hi <= 100.0


# --------------------------------------------------------------------------------------------------------------
# bad input: one ValueError naming the argument and the index


def _classification(**overrides):
    kwargs = {
        "unimodal_predictions": ["Paris", "Rome"],
        "multimodal_predictions": ["Paris", "Rome"],
        "references": ["Paris", "Rome"],
        "options": [OPTIONS, OPTIONS],
    }
    kwargs.update(overrides)
    return scoring.classification_scores(**kwargs)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"multimodal_predictions": ["Paris"]}, r"multimodal_predictions has 1 entries .* index 1"),
        ({"references": ["Paris", "Rome", "Oslo"]}, r"references has 3 entries .* index 2"),
        ({"options": [OPTIONS]}, r"options has 1 entries .* index 1"),
        ({"unimodal_predictions": ["Paris", 5]}, r"unimodal_predictions\[1\] must be a string"),
        ({"multimodal_predictions": [None, "Rome"]}, r"multimodal_predictions\[0\] must be a string"),
        ({"references": ["Paris", b"Rome"]}, r"references\[1\] must be a string"),
        ({"options": None}, r"options is required"),
        ({"options": [OPTIONS, OPTIONS[:3]]}, r"options\[1\] must hold the 4 option texts"),
        ({"options": [OPTIONS, [*OPTIONS, "Bern"]]}, r"options\[1\] must hold the 4 option texts"),
        ({"options": [OPTIONS, ["Rome", "x", 3, "y"]]}, r"options\[1\]\[2\] must be a string"),
        ({"options": [OPTIONS, "Rome"]}, r"options\[1\] must be a list"),
        ({"references": ["B. Paris", "Rome"]}, r"references\[0\] 'B. Paris' is not one of options\[0\]"),
        ({"unimodal_predictions": "Paris"}, r"unimodal_predictions must be a list"),
        ({"option_matching": "fuzzy"}, r"option_matching must be one of"),
        ({"confidence_level": 1.5}, r"confidence_level"),
        ({"confidence_level": "0.95"}, r"confidence_level"),
    ],
)
def test_bad_classification_input(overrides, message):
    with pytest.raises(UmuError, match=message):
        _classification(**overrides)


def test_bad_input_errors_are_value_errors():
    assert issubclass(UmuError, ValueError)
    with pytest.raises(ValueError, match="unimodal_predictions"):
        scoring.cloze_scores(["a", 1], ["a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match="references has 1 entries"):
        scoring.generation_scores(["a", "b"], ["a", "b"], ["a"])


def test_cloze_with_empty_first_sentence_warns():
    with pytest.warns(UserWarning, match=r"references\[1\]"):
        result = scoring.cloze_scores(["x", "x"], ["x", "x"], ["y", ".5 million"])
    assert result["AccR"] == 50.0  # the original rule: an empty needle is in every reply


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: scoring.binary_pair_metrics([True, 2], [True, True]), r"unimodal\[1\] must be True/False"),
        (lambda: scoring.binary_pair_metrics([True], [True, False]), r"multimodal has 2 entries .* index 1"),
        (lambda: scoring.generation_pair_metrics([0.5], [1.5]), r"multimodal\[0\] must be a ROUGE-L F1"),
        (lambda: scoring.generation_pair_metrics([math.nan], [0.5]), r"unimodal\[0\]"),
        (lambda: scoring.generation_pair_metrics([0.5], [0.5], n_resamples=0), r"n_resamples"),
    ],
)
def test_bad_pair_input(call, message):
    with pytest.raises(UmuError, match=message):
        call()


# --------------------------------------------------------------------------------------------------------------
# invariants (hypothesis)

flag_pairs = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=60)
score_pairs = st.lists(
    st.tuples(st.floats(0.0, 1.0, allow_nan=False), st.floats(0.0, 1.0, allow_nan=False)),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(flag_pairs)
def test_binary_invariants(pairs):
    u, m = zip(*pairs, strict=True)
    r = scoring.binary_pair_metrics(list(u), list(m))
    assert r["AccF"] >= max(r["unimodal_acc"], r["multimodal_acc"])
    assert r["AccR"] <= min(r["unimodal_acc"], r["multimodal_acc"])
    assert all(0.0 <= r[k] <= 100.0 for k in scoring.BINARY_KEYS if k != "n")
    cells = r["both_correct"] + r["only_unimodal"] + r["only_multimodal"] + r["both_wrong"]
    assert cells == pytest.approx(100.0)
    assert r["AccR"] == r["both_correct"]
    assert r["AccF"] == pytest.approx(100.0 - r["both_wrong"])
    assert r["n"] == len(pairs)


@settings(max_examples=200, deadline=None)
@given(score_pairs)
def test_generation_invariants(pairs):
    b, a = zip(*pairs, strict=True)
    r = scoring.generation_pair_metrics(list(b), list(a))
    assert r["RLR"] <= r["RLF"]
    assert all(0.0 <= r[k] <= 100.0 for k in ("RLF", "RLR", "unimodal_rougeL", "multimodal_rougeL"))
    # harmonic <= arithmetic <= contraharmonic, per question and so on average
    arithmetic = (r["unimodal_rougeL"] + r["multimodal_rougeL"]) / 2
    assert r["RLR"] <= arithmetic + 1e-9
    assert arithmetic <= r["RLF"] + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 3), st.integers(0, 4), st.integers(0, 4), st.sampled_from(["exact", "closest"])
        ),
        min_size=1,
        max_size=15,
    )
)
def test_classification_scores_invariants(items):
    # reply index 4 means an off-option reply ("I don't know")
    options = [["alpha one", "beta two", "gamma three", "delta four"]] * len(items)
    texts = [*options[0], "I don't know"]
    mode = items[0][3]
    r = scoring.classification_scores(
        [texts[i[1]] for i in items],
        [texts[i[2]] for i in items],
        [options[0][i[0]] for i in items],
        options,
        option_matching=mode,
    )
    assert r["AccF"] >= max(r["unimodal_acc"], r["multimodal_acc"])
    assert r["AccR"] <= min(r["unimodal_acc"], r["multimodal_acc"])
    assert all(0.0 <= r[k] <= 100.0 for k in scoring.BINARY_KEYS if k != "n")
    if mode == "exact":  # right exactly when the reply is the correct option's text
        expected_u = sum(i[0] == i[1] for i in items) / len(items) * 100
        assert r["unimodal_acc"] == pytest.approx(expected_u)


def test_bootstrap_interval_is_scipys_percentile_bootstrap():
    """The interval is scipy.stats.bootstrap's (percentile method, question indices resampled, seeded)."""
    import numpy as np
    from scipy.stats import bootstrap

    u = [True, True, False, True, False, False, True, True, True, False] * 3
    m = [True, False, False, True, True, False, False, True, False, False] * 3
    ours = scoring.binary_pair_metrics(u, m, confidence_level=0.9, seed=3, n_resamples=500)
    forget = np.array(u) | np.array(m)
    theirs = bootstrap((forget.astype(float),), np.mean, n_resamples=500, method="percentile",
                       confidence_level=0.9, rng=np.random.default_rng(3))
    assert ours["AccF_ci"] == pytest.approx([100 * theirs.confidence_interval.low,
                                             100 * theirs.confidence_interval.high])
