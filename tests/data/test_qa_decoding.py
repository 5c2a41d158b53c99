"""QA decoding against a brute-force loop over every (window, start, end)."""

import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.data.qa_decoding import best_spans
from spanbert_keras.data.qa_decoding import choose_answers

L, N_BEST, MAX_LEN = 12, 5, 4


def random_windows(seed, examples=(3, 1, 2, 0)):
    """Windows of examples with the given window counts (an example may have none)."""
    rng = np.random.default_rng(seed)
    example_index = np.repeat(np.arange(len(examples)), examples).astype("int32")
    w = len(example_index)
    char_start = np.full((w, L), -1, "int32")
    char_end = np.full((w, L), -1, "int32")
    for row in range(w):
        first, count = rng.integers(2, 5), rng.integers(0, 7)
        char_start[row, first : first + count] = 3 * np.arange(count) + 10 * row
        char_end[row, first : first + count] = 3 * np.arange(count) + 10 * row + 2
    features = {
        "example_index": example_index,
        "char_start": char_start,
        "char_end": char_end,
        "max_context": (char_start >= 0) & (rng.random((w, L)) < 0.8),
    }
    logits = rng.normal(size=(2, w, L)).astype("float32")
    return features, logits[0], logits[1]


def brute_force(features, start, end, num_examples):
    out = []
    for e in range(num_examples):
        candidates, null = [], np.inf
        for w in np.flatnonzero(features["example_index"] == e):
            null = min(null, start[w, 0] + end[w, 0])
            for i in range(L):
                for j in range(i, min(i + MAX_LEN, L)):
                    if features["max_context"][w, i] and features["char_start"][w, j] >= 0:
                        candidates.append((start[w, i] + end[w, j], features["char_start"][w, i],
                                           features["char_end"][w, j]))
        candidates.sort(key=lambda c: -c[0])
        out.append((candidates[:N_BEST], null))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_n_best_equals_brute_force(seed):
    features, start, end = random_windows(seed)
    got = best_spans(start, end, features, 4, n_best=N_BEST, max_answer_length=MAX_LEN)
    got = {k: v.numpy() for k, v in got.items()}
    for e, (candidates, null) in enumerate(brute_force(features, start, end, 4)):
        k = len(candidates)
        np.testing.assert_allclose(got["score"][e, :k], [c[0] for c in candidates], rtol=1e-6)
        assert got["char_start"][e, :k].tolist() == [c[1] for c in candidates]
        assert got["char_end"][e, :k].tolist() == [c[2] for c in candidates]
        assert np.isneginf(got["score"][e, k:]).all() and (got["char_start"][e, k:] == -1).all()
        if np.isfinite(null):
            assert got["null_score"][e] == pytest.approx(null)
    assert k == 0  # the last example has no window at all


def test_traced_equals_eager():
    features, start, end = random_windows(3)
    eager = best_spans(start, end, features, 4, N_BEST, MAX_LEN)
    traced = tf.function(best_spans, autograph=False)(start, end, features, 4, N_BEST, MAX_LEN)
    for key in eager:
        np.testing.assert_array_equal(eager[key].numpy(), traced[key].numpy())


def test_v2_best_non_null_span_its_no_answer_score_and_the_threshold():
    spans = {"score": np.array([[3.0], [1.0], [-np.inf], [0.5]], "float32"),
             "char_start": np.array([[4], [0], [-1], [7]], "int32"),
             "char_end": np.array([[9], [2], [-1], [8]], "int32"),
             "null_score": np.array([2.0, 1.5, 0.25, 0.5], "float32")}
    best = [4, 0, -1, 7]
    # null - best; without a candidate, against the authors' placeholder answer of score 0
    difference = [2.0 - 3.0, 1.5 - 1.0, 0.25 - 0.0, 0.5 - 0.5]
    v1 = choose_answers(spans)
    assert v1["char_start"].numpy().tolist() == best  # v1: the best span whatever the null
    for threshold, answered in ((None, [True, True, False, True]),
                                (0.0, [True, False, False, True]),
                                (-1.0, [True, False, False, False]),
                                (0.6, [True, True, False, True])):
        v2 = choose_answers(spans, version_2=True, null_score_diff_threshold=threshold)
        assert v2["best_start"].numpy().tolist() == best
        np.testing.assert_allclose(v2["no_answer_score"].numpy(), difference)
        expected = [b if a else -1 for b, a in zip(best, answered)]
        assert v2["char_start"].numpy().tolist() == expected, threshold
        assert (v2["char_end"].numpy() >= 0).tolist() == [e >= 0 for e in expected]
