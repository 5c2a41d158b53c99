"""The shared packing of one or two segments, against BERT's Python packing."""

import numpy as np
import tensorflow as tf

from spanbert_keras.data.features import pack_segments
from spanbert_keras.data.features import ragged_strings
from spanbert_keras.data.features import word_pieces
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.data.vocabulary import Vocabulary

VOCAB = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Emma", "sing", "##s"])


def bert_pack(a, b, length, cls_id=2, sep_id=3):
    """BERT's `_truncate_seq_pair` + `[CLS] a [SEP] b [SEP]` (run_classifier.py)."""
    a, b = list(a), list(b)
    while len(a) + len(b) > length - 3:
        if len(a) > len(b):
            a.pop()
        else:
            b.pop()
    tokens = [cls_id] + a + [sep_id] + b + [sep_id]
    segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    pad = length - len(tokens)
    return tokens + [0] * pad, segments + [0] * pad, [1] * len(tokens) + [0] * pad


def test_pairs_are_cut_and_packed_as_bert_does():
    rng = np.random.default_rng(0)
    firsts, seconds = [], []
    for _ in range(200):
        firsts.append(list(rng.integers(5, 100, int(rng.integers(0, 12)))))
        seconds.append(list(rng.integers(5, 100, int(rng.integers(0, 12)))))
    packed = tf.function(pack_segments, autograph=False)  # graph mode as in tf.data
    for length in (3, 4, 9, 30):
        out = packed(tf.ragged.constant(firsts, tf.int32, ragged_rank=1, inner_shape=()),
                            length, VOCAB, second=tf.ragged.constant(seconds, tf.int32))
        for row, (a, b) in enumerate(zip(firsts, seconds)):
            ids, segments, mask = bert_pack(a, b, length)
            assert out["token_ids"].numpy()[row].tolist() == ids, (length, a, b)
            assert out["segment_ids"].numpy()[row].tolist() == segments
            assert out["padding_mask"].numpy()[row].tolist() == mask
            assert bool(out["truncated"].numpy()[row]) == (len(a) + len(b) > length - 3)


def test_single_segment_and_word_pieces():
    out = pack_segments(tf.ragged.constant([[5, 6, 7], [5]]), 4, VOCAB)
    assert out["token_ids"].numpy().tolist() == [[2, 5, 6, 3], [2, 5, 3, 0]]
    assert out["segment_ids"].numpy().tolist() == [[0] * 4] * 2
    assert out["padding_mask"].numpy().tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert out["truncated"].numpy().tolist() == [True, False]
    words = ragged_strings([["Emma", "sings", "\u200b", "Zzz"], []])
    pieces = word_pieces(SpanBertTokenizer(VOCAB), words)
    assert pieces.to_list() == [[[5], [6, 7], [1], [1]], []]
