"""The coreference scorer's rules against plain-Python transcriptions of the authors' code.

Each rule (segmenting, greedy non-crossing pruning, span attention, distance
buckets, the loss, the decoding) is checked on random inputs against an
independent loop written from the description in Joshi et al. (2019) and
Lee et al. (2018) / their `minimize.py`, `extract_spans` and
`get_predicted_clusters`.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.data.coref_features import segment_ends
from spanbert_keras.layers.coreference_scorer import CoreferenceScorer
from spanbert_keras.layers.coreference_scorer import bucket_distance
from spanbert_keras.layers.coreference_scorer import candidate_spans
from spanbert_keras.layers.coreference_scorer import coreference_loss
from spanbert_keras.layers.coreference_scorer import predicted_clusters
from spanbert_keras.layers.coreference_scorer import select_non_crossing


def reference_segments(sentence_end, word_end, capacity):
    """`minimize.py`'s split_into_segments, with a cut inside an over-long word."""
    ends, current, count = [], 0, len(sentence_end)
    while current < count:
        end = min(current + capacity - 1, count - 1)
        while end >= current and not sentence_end[end]:
            end -= 1
        if end < current:
            end = min(current + capacity - 1, count - 1)
            while end >= current and not word_end[end]:
                end -= 1
            if end < current:
                end = min(current + capacity - 1, count - 1)
        ends.append(end)
        current = end + 1
    return ends


@pytest.mark.parametrize("seed", range(20))
def test_segments_are_cut_as_the_authors_cut_them(seed):
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 80))
    word_end = rng.random(count) < 0.6
    sentence_end = word_end & (rng.random(count) < 0.25)
    word_end[-1] = sentence_end[-1] = True
    capacity = int(rng.integers(2, 12))
    got = segment_ends(tf.constant(sentence_end), tf.constant(word_end), capacity)
    assert got.numpy().tolist() == reference_segments(sentence_end, word_end, capacity)


def reference_non_crossing(starts, ends, scores, count):
    """The authors' `extract_spans`: by descending score, skip a span crossing a kept one."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if len(kept) == count:
            break
        crossing = any((starts[i] < starts[j] <= ends[i] < ends[j])
                       or (starts[j] < starts[i] <= ends[j] < ends[i]) for j in kept)
        if not crossing:
            kept.append(i)
    return sorted(kept, key=lambda i: (starts[i], ends[i]))


@pytest.mark.parametrize("seed", range(20))
def test_pruning_keeps_the_best_spans_that_do_not_cross(seed):
    rng = np.random.default_rng(seed)
    sentence_ids = np.sort(rng.integers(0, 4, size=int(rng.integers(1, 40))))
    starts, ends = (t.numpy() for t in candidate_spans(tf.constant(sentence_ids), 5))
    scores = rng.normal(size=len(starts)).astype(np.float32)
    count = int(rng.integers(0, len(starts) + 1))
    got = select_non_crossing(tf.constant(starts), tf.constant(ends), tf.constant(scores), count)
    assert got.numpy().tolist() == reference_non_crossing(starts, ends, scores, count)


def test_candidates_are_every_short_span_inside_a_sentence():
    sentence_ids = [0, 0, 0, 1, 1, 2]
    starts, ends = candidate_spans(tf.constant(sentence_ids), 2)
    expected = [(s, e) for s in range(6) for e in range(s, min(s + 2, 6))
                if sentence_ids[s] == sentence_ids[e]]
    assert list(zip(starts.numpy().tolist(), ends.numpy().tolist())) == expected


def test_distance_buckets_are_the_authors():
    distances = np.arange(0, 200)
    expected = [d if d <= 4 else min(int(math.floor(math.log(d) / math.log(2))) + 3, 9)
                for d in distances]
    assert bucket_distance(tf.constant(distances)).numpy().tolist() == expected


def test_span_attention_is_the_softmax_over_each_span():
    scorer = CoreferenceScorer(max_span_width=4, feature_size=3, ffnn_size=5)
    x = tf.random.stateless_normal([9, 6], seed=[1, 2]) * 3
    scorer.build(x.shape)
    starts, ends = candidate_spans(tf.zeros([9], tf.int32), 4)
    got = scorer._head_vectors(x, starts, ends - starts).numpy()
    logits = scorer.head_attention(x).numpy()[:, 0]
    for row, (s, e) in enumerate(zip(starts.numpy(), ends.numpy())):
        weights = np.exp(logits[s : e + 1] - logits[s : e + 1].max())
        weights /= weights.sum()
        np.testing.assert_allclose(got[row], weights @ x.numpy()[s : e + 1], rtol=1e-5, atol=1e-6)


def random_outputs(rng, kept, antecedents):
    starts = np.sort(rng.integers(0, 30, size=kept)).astype(np.int32)
    ends = (starts + rng.integers(0, 3, size=kept)).astype(np.int32)
    top = np.zeros((kept, antecedents), np.int32)
    for i in range(kept):
        top[i] = rng.integers(0, max(i, 1), size=antecedents)
    mask = top < np.arange(kept)[:, None]
    scores = rng.normal(size=(kept, antecedents)).astype(np.float32) * 2
    scores = np.where(mask, scores, -np.inf)
    return {"top_span_starts": starts, "top_span_ends": ends, "top_antecedents": top,
            "top_antecedent_mask": mask,
            "top_antecedent_scores": np.concatenate([np.zeros((kept, 1), np.float32), scores], 1)}


@pytest.mark.parametrize("seed", range(10))
def test_loss_is_the_marginal_likelihood_of_the_gold_antecedents(seed):
    rng = np.random.default_rng(seed)
    out = random_outputs(rng, 12, 4)
    gold = [(s, e) for s, e in zip(out["top_span_starts"], out["top_span_ends"])
            if rng.random() < 0.6]
    gold = list(dict.fromkeys(gold))
    gold_ids = rng.integers(1, 4, size=len(gold)).astype(np.int32)
    cluster = {span: c for span, c in zip(gold, gold_ids)}
    expected = 0.0
    for i in range(12):
        own = cluster.get((out["top_span_starts"][i], out["top_span_ends"][i]), 0)
        scores = out["top_antecedent_scores"][i]
        labels = [False] + [bool(out["top_antecedent_mask"][i, a]) and own > 0 and own == cluster.get(
            (out["top_span_starts"][j], out["top_span_ends"][j]), 0)
            for a, j in enumerate(out["top_antecedents"][i])]
        labels[0] = not any(labels)
        finite = np.isfinite(scores)
        total = np.log(np.exp(scores[finite]).sum())
        gold_total = np.log(np.exp(scores[np.array(labels)]).sum())
        expected += total - gold_total
    got = coreference_loss({k: tf.constant(v) for k, v in out.items()},
                           tf.constant([s for s, _ in gold], tf.int32),
                           tf.constant([e for _, e in gold], tf.int32), tf.constant(gold_ids))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def reference_clusters(out):
    """The authors' `get_predicted_antecedents` + `get_predicted_clusters`."""
    spans = list(zip(out["top_span_starts"].tolist(), out["top_span_ends"].tolist()))
    clusters, mention_to_cluster = [], {}
    for i, scores in enumerate(out["top_antecedent_scores"]):
        best = int(np.argmax(scores)) - 1
        if best < 0:
            continue
        antecedent = spans[out["top_antecedents"][i, best]]
        if antecedent not in mention_to_cluster:
            mention_to_cluster[antecedent] = len(clusters)
            clusters.append([antecedent])
        mention_to_cluster[spans[i]] = mention_to_cluster[antecedent]
        clusters[mention_to_cluster[antecedent]].append(spans[i])
    return sorted(sorted(c) for c in clusters)


@pytest.mark.parametrize("seed", range(10))
def test_decoding_links_each_span_to_its_best_antecedent(seed):
    out = random_outputs(np.random.default_rng(seed), 15, 5)
    starts, ends, ids = predicted_clusters({k: tf.constant(v) for k, v in out.items()})
    found = {}
    for s, e, c in zip(starts.numpy().tolist(), ends.numpy().tolist(), ids.numpy().tolist()):
        found.setdefault(c, []).append((s, e))
    assert sorted(sorted(c) for c in found.values()) == reference_clusters(out)
    assert ids.numpy().tolist() == sorted(ids.numpy().tolist(), key=ids.numpy().tolist().index)


def test_scorer_config_round_trips_and_refuses_bad_values():
    scorer = CoreferenceScorer(max_span_width=7, ffnn_size=11, coref_depth=1)
    again = CoreferenceScorer.from_config(scorer.get_config())
    assert again.max_span_width == 7 and again.ffnn_size == 11 and again.coref_depth == 1
    with pytest.raises(ValueError, match="max_span_width must be a positive int"):
        CoreferenceScorer(max_span_width=0)
    with pytest.raises(ValueError, match="top_span_ratio"):
        CoreferenceScorer(top_span_ratio=1.5)
    assert keras.layers.deserialize(keras.layers.serialize(scorer)).ffnn_size == 11


def test_pair_scores_equal_the_ffnn_over_the_concatenated_pair():
    scorer = CoreferenceScorer(max_span_width=3, feature_size=4, ffnn_size=16)
    scorer.build((None, 8))
    width = 3 * 8 + 4
    spans = tf.random.stateless_normal([7, width], seed=[3, 4])
    antecedents = tf.constant(np.random.default_rng(0).integers(0, 7, size=(7, 5)), tf.int32)
    features = tf.random.stateless_normal([7, 5, 16], seed=[5, 6])
    gathered = tf.gather(spans, antecedents)
    own = tf.tile(spans[:, tf.newaxis], [1, 5, 1])
    pairs = tf.concat([own, gathered, own * gathered, features], axis=-1)
    expected = scorer._score(scorer.antecedent_ffnn, pairs, training=False)
    got = scorer._pair_scores(spans, antecedents, gathered, features, training=False)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
