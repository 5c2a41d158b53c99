"""In-graph features shared by the classification and tagging tasks.

Two rules, written once and used by training (`tf.data`), evaluation and the
exported SavedModels (which take strings): the wordpieces of pre-split
words (`word_pieces`), and the packing of one or two segments as
`[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with segment ids
(`pack_segments`, built on `data.packing.pack_ids`, core TensorFlow ops only).
"""

import tensorflow as tf

from spanbert_keras.data.packing import pack_ids

MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask")


def word_pieces(tokenizer, words):
    """The wordpieces of each word: int32 ragged `[B, (W), (P)]`.

    A word the tokenizer turns into nothing (e.g. only control characters)
    gets the `[UNK]` piece, so every word has a first piece.

    Args:
        tokenizer: a `SpanBertTokenizer`.
        words: string `tf.RaggedTensor` `[B, (W)]`.

    Example:

    >>> import tensorflow as tf
    >>> from spanbert_keras.data.tokenizer import SpanBertTokenizer
    >>> tokenizer = SpanBertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...                                "Emma", "sing", "##s"])
    >>> word_pieces(tokenizer, tf.ragged.constant([["Emma", "sings", "\\x00"]])).to_list()
    [[[5], [6, 7], [1]]]
    """
    pieces = tokenizer.tokenize(words.flat_values)
    empty = tf.equal(pieces.row_lengths(), 0)
    unknown = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(empty, tf.int32))], tokenizer.vocabulary.unk_id),
        tf.cast(empty, tf.int64),
    )
    return words.with_flat_values(tf.concat([pieces, unknown], axis=1))


def ragged_rows(rows, dtype):
    """A `tf.RaggedTensor` `[B, (W)]` of `dtype` from a list of lists (fast for many rows).

    >>> ragged_rows([[3, 1], []], tf.int32).to_list()
    [[3, 1], []]
    """
    flat = [value for row in rows for value in row]
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, dtype, shape=[len(flat)]),
        tf.constant([len(row) for row in rows], tf.int64, shape=[len(rows)]),
    )


def ragged_strings(rows):
    """A string `tf.RaggedTensor` `[B, (W)]` from a list of lists of str.

    >>> ragged_strings([["Emma", "sings"], []]).to_list()
    [[b'Emma', b'sings'], []]
    """
    return ragged_rows(rows, tf.string)


def pack_segments(first, sequence_length, vocabulary, second=None):
    """`[CLS] first [SEP] (second [SEP])` padded to `sequence_length`, with segment ids.

    A pair longer than the sequence is cut as BERT's `_truncate_seq_pair`
    cuts it (one piece at a time from the longer segment, the second when
    they are as long): the first keeps `min(len_a, max(ceil(c / 2), c -
    len_b))` pieces, the second the rest of `c = sequence_length - 3`.

    Args:
        first: int32 ragged `[B, (T)]`, wordpieces of the first segment.
        sequence_length: int, the packed length.
        vocabulary: the `Vocabulary` (its [CLS], [SEP], [PAD] ids).
        second: optional int32 ragged `[B, (T2)]`, the second segment.

    Returns:
        A dict of int32 `[B, sequence_length]` tensors `token_ids`,
        `segment_ids` (0 for `[CLS] a [SEP]`, 1 for `b [SEP]`),
        `padding_mask` (1 on real tokens), and `truncated` bool `[B]`.

    Example:

    >>> import tensorflow as tf
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    >>> packed = pack_segments(tf.ragged.constant([[7, 8, 9, 10]]), 8, vocab,
    ...                        second=tf.ragged.constant([[20, 21, 22]]))
    >>> packed["token_ids"].numpy().tolist(), packed["segment_ids"].numpy().tolist()
    ([[2, 7, 8, 9, 3, 20, 21, 3]], [[0, 0, 0, 0, 0, 1, 1, 1]])
    """
    ids = dict(cls_id=vocabulary.cls_id, sep_id=vocabulary.sep_id, pad_id=vocabulary.pad_id)
    first = tf.cast(first, tf.int32)
    if second is None:
        token_ids, padding_mask, truncated = pack_ids(first, sequence_length, **ids)
        return {
            "token_ids": token_ids,
            "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": tf.cast(padding_mask, tf.int32),
            "truncated": truncated,
        }
    second = tf.cast(second, tf.int32)
    capacity = max(sequence_length - 3, 0)
    length_a, length_b = first.row_lengths(), second.row_lengths()
    half = tf.constant((capacity + 1) // 2, tf.int64)
    keep_a = tf.minimum(length_a, tf.maximum(half, capacity - length_b))
    keep_b = tf.minimum(length_b, capacity - keep_a)
    separators = tf.RaggedTensor.from_tensor(tf.fill([first.nrows(), 1], vocabulary.sep_id))
    body = tf.concat([_head(first, keep_a), separators, _head(second, keep_b)], axis=1)
    token_ids, padding_mask, _ = pack_ids(body, sequence_length, **ids)
    positions = tf.range(sequence_length, dtype=tf.int64)[tf.newaxis, :]
    in_second = (positions >= keep_a[:, tf.newaxis] + 2) & padding_mask
    return {
        "token_ids": token_ids,
        "segment_ids": tf.cast(in_second, tf.int32),
        "padding_mask": tf.cast(padding_mask, tf.int32),
        "truncated": (keep_a < length_a) | (keep_b < length_b),
    }


def _head(ragged, counts):
    """The first `counts[i]` values of each row of a ragged `[B, (T)]` tensor."""
    positions = tf.ragged.range(ragged.row_lengths(), dtype=tf.int64)
    return tf.ragged.boolean_mask(ragged, positions < counts[:, tf.newaxis])
