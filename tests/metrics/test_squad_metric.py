"""SQuAD metrics against hand-computed values and a transcription of the official v2.0 script."""

import random

import pytest
import squad_reference as official

from spanbert_keras.metrics.squad import best_threshold
from spanbert_keras.metrics.squad import f1_score
from spanbert_keras.metrics.squad import normalize_answer
from spanbert_keras.metrics.squad import squad_scores


def ex(qid, *answers):
    return {"id": qid, "answers": [{"text": t, "answer_start": 0} for t in answers]}


def test_normalisation_is_the_official_one():
    assert normalize_answer("  The Broncos,  an   A-team!") == "broncos ateam"
    assert normalize_answer("Théâtre") == "théâtre"  # accents are kept
    assert normalize_answer("another theme") == "another theme"  # whole words only
    assert normalize_answer("A") == ""


def test_f1_hand_computed():
    # pred tokens [big, red, ball], gold [red, ball]: P = 2/3, R = 1 -> F1 = 0.8
    assert f1_score("the big red ball", "a red ball") == pytest.approx(0.8)
    # repeated tokens count with multiplicity: pred [x, x, y], gold [x, y, y]: 2 common
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)
    # v1.1: empty vs empty is 0; v2.0: 1
    assert f1_score("", "the") == 0.0
    assert f1_score("", "the", empty_matches_empty=True) == 1.0
    assert f1_score("denver", "", empty_matches_empty=True) == 0.0


def test_v1_scores_max_over_gold_answers():
    examples = [
        ex("q1", "Denver Broncos", "Broncos"),      # pred "broncos": EM 1
        ex("q2", "Santa Clara, California"),         # pred "Santa Clara": F1 2*(1*2/3)/(1+2/3) = 0.8
        ex("q3", "1990"),                            # pred "the 1990s": EM 0, F1 0
        ex("q4", "Emma"),                            # missing prediction: 0
    ]
    predictions = {"q1": "the Broncos", "q2": "Santa Clara", "q3": "the 1990s"}
    scores = squad_scores(examples, predictions)
    assert scores == {
        "exact_match": pytest.approx(1 / 4),
        "f1": pytest.approx((1 + 0.8 + 0 + 0) / 4),
        "total": 4,
    }


def test_v2_splits_and_best_threshold():
    examples = [
        ex("a", "red"),        # answered right, na 0.1
        ex("b", "blue sky"),   # answered half (F1 2/3), na 0.4
        ex("c"),               # unanswerable, predicted "", na 0.8
        ex("d"),               # unanswerable, predicted "green", na 0.3
        ex("e", "the cat"),    # predicted "" (no answer) on an answerable one, na 0.9
    ]
    predictions = {"a": "red", "b": "blue", "c": "", "d": "green", "e": ""}
    na = {"a": 0.1, "b": 0.4, "c": 0.8, "d": 0.3, "e": 0.9}
    s = squad_scores(examples, predictions, na_probs=na, version_2=True)
    # raw EM: a 1, b 0, c 1, d 0, e 0 ; F1: a 1, b 2/3, c 1, d 0, e 0
    assert s["exact_match"] == pytest.approx(2 / 5)
    assert s["f1"] == pytest.approx((1 + 2 / 3 + 1) / 5)
    assert (s["HasAns_exact"], s["HasAns_f1"], s["HasAns_total"]) == (
        pytest.approx(1 / 3), pytest.approx((1 + 2 / 3) / 3), 3)
    assert (s["NoAns_exact"], s["NoAns_f1"], s["NoAns_total"]) == (0.5, 0.5, 2)
    # Best threshold, EM: start 2 (both unanswerable right), then by na:
    # a(0.1) +1 -> 3 [best, t=0.1]; d(0.3) -1 -> 2; b(0.4) +0 -> 2; c(0.8) 0 -> 2; e(0.9) 0.
    assert (s["best_exact"], s["best_exact_thresh"]) == (pytest.approx(3 / 5), 0.1)
    # F1: 2; a +1 -> 3; d -1 -> 2; b +2/3 -> 2.667; c 0; e 0 -> best 3 at 0.1.
    assert (s["best_f1"], s["best_f1_thresh"]) == (pytest.approx(3 / 5), 0.1)
    # A threshold applied: everything with na > 0.35 counts as "no answer".
    t = squad_scores(examples, predictions, na_probs=na, version_2=True, na_prob_threshold=0.35)
    # a 1, b -> 0 (answerable), c 1, d 0 (na 0.3 keeps "green"), e 0
    assert t["exact_match"] == pytest.approx(2 / 5) and t["f1"] == pytest.approx(2 / 5)


def test_best_threshold_prefers_answering_nothing_when_that_is_best():
    preds = {"x": "wrong", "y": "wrong"}
    scores = {"x": 0.0, "y": 0.0}
    assert best_threshold(preds, scores, {"x": 0.2, "y": 0.7}, {"x": False, "y": False}) == (1.0, 0.0)


def test_v2_needs_a_no_answer_score_for_every_question():
    with pytest.raises(ValueError, match="no-answer score"):
        squad_scores([ex("a", "x")], {"a": "x"}, na_probs={}, version_2=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_v2_equals_the_official_script_on_raw_score_differences(seed):
    rng = random.Random(seed)
    words = ["red", "the fox", "a blue sky", "Emma", "Hartfield", "grey owl"]
    examples, predictions, na = [], {}, {}
    for i in range(40):
        golds = rng.sample(words, rng.randint(0, 2))  # none: unanswerable
        examples.append(ex(f"q{i}", *golds))
        predictions[f"q{i}"] = rng.choice(words + [""])
        na[f"q{i}"] = round(rng.uniform(-5, 5), 3)  # the authors' null - best, not probabilities
    data = [{"paragraphs": [{"qas": [{"id": e["id"], "answers": e["answers"]} for e in examples]}]}]
    for threshold in (1.0, -0.5, 2.25):
        ours = squad_scores(examples, predictions, na_probs=na, version_2=True,
                            na_prob_threshold=threshold)
        theirs = official.evaluate(data, predictions, na, na_prob_thresh=threshold)
        assert set(ours) == {"exact_match" if k == "exact" else k for k in theirs}
        for key, value in theirs.items():
            expected = value if key.endswith(("_thresh", "total")) else value / 100
            assert ours["exact_match" if key == "exact" else key] == pytest.approx(expected), key
