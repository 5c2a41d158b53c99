"""The TACRED metric against the official scorer's definition, on crafted predictions."""

import collections

import numpy as np
import pytest

from spanbert_keras.metrics.tacred import score_tacred


def official_score(key, prediction, no_relation="no_relation"):
    """The official TACRED `score.py` loop (Zhang et al. 2017), as its authors wrote it."""
    correct_by_relation = collections.Counter()
    guessed_by_relation = collections.Counter()
    gold_by_relation = collections.Counter()
    for gold, guess in zip(key, prediction):
        if gold == no_relation and guess == no_relation:
            pass
        elif gold == no_relation and guess != no_relation:
            guessed_by_relation[guess] += 1
        elif gold != no_relation and guess == no_relation:
            gold_by_relation[gold] += 1
        elif gold != no_relation and guess != no_relation:
            guessed_by_relation[guess] += 1
            gold_by_relation[gold] += 1
            if gold == guess:
                correct_by_relation[guess] += 1
    prec_micro = 1.0
    if sum(guessed_by_relation.values()) > 0:
        prec_micro = float(sum(correct_by_relation.values())) / float(
            sum(guessed_by_relation.values())
        )
    recall_micro = 0.0
    if sum(gold_by_relation.values()) > 0:
        recall_micro = float(sum(correct_by_relation.values())) / float(
            sum(gold_by_relation.values())
        )
    f1_micro = 0.0
    if prec_micro + recall_micro > 0.0:
        f1_micro = 2.0 * prec_micro * recall_micro / (prec_micro + recall_micro)
    return prec_micro, recall_micro, f1_micro


def _triple(scores):
    return scores["precision"], scores["recall"], scores["micro_f1"]


CASES = {
    # name: (gold, predicted, hand-computed precision, recall, F1)
    "all no_relation (gold and predicted)": (
        ["no_relation"] * 4, ["no_relation"] * 4, 1.0, 0.0, 0.0,
    ),
    "all predicted no_relation": (
        ["per:title", "org:founded", "no_relation"], ["no_relation"] * 3, 1.0, 0.0, 0.0,
    ),
    "relations predicted where gold is no_relation": (
        ["no_relation", "no_relation", "per:title"],
        ["per:age", "per:title", "per:title"],
        1 / 3, 1.0, 0.5,
    ),
    "wrong relation counts as guess and gold": (
        ["per:title", "per:age", "org:founded", "no_relation"],
        ["per:title", "per:title", "no_relation", "no_relation"],
        1 / 2, 1 / 3, 0.4,
    ),
    "perfect": (["per:title", "no_relation"], ["per:title", "no_relation"], 1.0, 1.0, 1.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_cases_equal_hand_computed_and_official(name):
    gold, predicted, precision, recall, f1 = CASES[name]
    scores = score_tacred(gold, predicted)
    np.testing.assert_allclose(_triple(scores), (precision, recall, f1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(_triple(scores), official_score(gold, predicted), rtol=0, atol=0)


def test_counts_and_random_predictions_equal_the_official_scorer():
    labels = ["no_relation", "per:title", "per:age", "org:founded", "org:members"]
    rng = np.random.default_rng(0)
    for trial in range(50):
        n = int(rng.integers(1, 40))
        weights = rng.dirichlet(np.ones(len(labels)))
        gold = list(rng.choice(labels, n, p=weights))
        predicted = list(rng.choice(labels, n, p=weights))
        scores = score_tacred(gold, predicted)
        assert _triple(scores) == official_score(gold, predicted), trial
    scores = score_tacred(["a", "no_relation", "b"], ["a", "c", "no_relation"])
    assert (scores["correct"], scores["guessed"], scores["gold"]) == (1.0, 2.0, 2.0)


def test_another_negative_label_and_length_mismatch():
    scores = score_tacred(["NA", "x"], ["x", "x"], negative_label="NA")
    assert _triple(scores) == (0.5, 1.0, pytest.approx(2 / 3))
    with pytest.raises(ValueError, match="same length.*2 gold labels and 1 predictions"):
        score_tacred(["a", "b"], ["a"])
