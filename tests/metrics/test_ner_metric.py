"""Entity-level NER scores against seqeval itself, on crafted and random tag sequences."""

import warnings

import numpy as np
import pytest
from seqeval.metrics import f1_score
from seqeval.metrics import precision_score
from seqeval.metrics import recall_score
from seqeval.metrics.sequence_labeling import get_entities

from spanbert_keras.metrics.ner import entities
from spanbert_keras.metrics.ner import score_entities


def seqeval_scores(gold, predicted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval's zero-division warnings
        return (
            precision_score(gold, predicted),
            recall_score(gold, predicted),
            f1_score(gold, predicted),
        )


def ours(gold, predicted):
    scores = score_entities(gold, predicted)
    return scores["precision"], scores["recall"], scores["f1"]


CASES = {
    # name: (gold sentences, predicted sentences, hand-computed P, R, F1)
    "B/I type mismatch splits the entity": (
        [["B-PER", "I-PER", "O"]], [["B-PER", "I-LOC", "O"]], 0.0, 0.0, 0.0,
    ),
    "I after O starts an entity (lenient)": (
        [["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]], 1.0, 1.0, 1.0,
    ),
    "B B is two entities": (
        [["B-LOC", "I-LOC"]], [["B-LOC", "B-LOC"]], 0.0, 0.0, 0.0,
    ),
    "entities at sentence ends": (
        [["O", "B-ORG"], ["B-PER", "I-PER"], ["B-LOC"]],
        [["O", "B-ORG"], ["B-PER", "O"], ["I-LOC"]],
        2 / 3, 2 / 3, 2 / 3,
    ),
    "entity cut by the sentence boundary": (
        [["O", "B-PER"], ["I-PER", "O"]], [["O", "B-PER"], ["B-PER", "O"]], 1.0, 1.0, 1.0,
    ),
    "no predicted entities": ([["B-PER", "O"]], [["O", "O"]], 0.0, 0.0, 0.0),
    "no entities at all": ([["O", "O"]], [["O", "O"]], 0.0, 0.0, 0.0),
    "a spurious entity": (
        [["B-PER", "I-PER", "O", "O"]], [["B-PER", "I-PER", "O", "B-MISC"]], 0.5, 1.0, 2 / 3,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_crafted_cases_equal_seqeval(name):
    gold, predicted, precision, recall, f1 = CASES[name]
    np.testing.assert_allclose(ours(gold, predicted), (precision, recall, f1), atol=1e-12, rtol=0)
    assert ours(gold, predicted) == seqeval_scores(gold, predicted)


def test_entities_equal_seqeval_get_entities_on_random_bio_iobes():
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-LOC", "S-ORG", "I-ORG", "E-PER"]
    rng = np.random.default_rng(0)
    for trial in range(500):
        sentence = list(rng.choice(tags, int(rng.integers(0, 12))))
        assert entities(sentence) == get_entities(sentence), (trial, sentence)


def test_scores_equal_seqeval_on_random_corpora():
    tags = ["O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    rng = np.random.default_rng(1)
    for trial in range(100):
        gold, predicted = [], []
        for _ in range(int(rng.integers(1, 6))):
            n = int(rng.integers(1, 10))
            sentence = list(rng.choice(tags, n))
            noisy = [t if rng.random() < 0.7 else str(rng.choice(tags)) for t in sentence]
            gold.append(sentence)
            predicted.append(noisy)
        assert ours(gold, predicted) == seqeval_scores(gold, predicted), trial
    scores = score_entities([["B-PER", "O", "B-LOC"]], [["B-PER", "B-LOC", "O"]])
    assert (scores["correct"], scores["predicted"], scores["gold"]) == (1.0, 2.0, 2.0)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="'PER' is not an entity tag"):
        entities(["B-PER", "PER"])
    with pytest.raises(ValueError, match="Sentence 1 has 2 gold tags but 1 predicted"):
        score_entities([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="2 sentences but `predicted` has 1"):
        score_entities([["O"], ["O"]], [["O"]])
