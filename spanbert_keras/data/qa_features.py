"""Extractive-QA features in TensorFlow ops: question + passage -> windows of wordpieces.

The authors' SQuAD pre-processing (BERT's `run_squad.py`, which SpanBERT
kept), with character offsets instead of whitespace tokens:

- the question's wordpieces, cut to `max_query_length` (64);
- the passage's wordpieces, each with the character span it came from;
- windows `[CLS] question [SEP] passage-window [SEP] [PAD]...` of exactly
  `sequence_length` ids (segment 0 up to the first `[SEP]`, 1 after); a
  passage longer than a window is cut into windows that start every
  `min(doc_stride, room)` pieces (`doc_stride` 128), the last one ending at
  the end of the passage;
- `max_context`: a piece seen by several windows is "max context" in the one
  where `min(left, right) + 0.01 * window length` is largest (the first such
  window on ties); answers may only start there;
- for training, the gold answer's first and last piece (the pieces that
  overlap its characters) as positions in each window that holds the whole
  answer, else position 0 (`[CLS]`): "no answer in this window".

Everything is core TensorFlow plus the tokenizer's tensorflow-text op, so the
same code runs eagerly, in `tf.data` and inside an exported SavedModel.
"""

import tensorflow as tf

from spanbert_keras.data.packing import pack_ids
from spanbert_keras.data.tokenizer import SpanBertTokenizer

MODEL_INPUTS = ("token_ids", "segment_ids", "padding_mask")
# The longest passage read (Unicode characters): about 25,000 pieces, some 200
# windows of 512 at stride 128. Longer ones are bad records in a data file, and
# cut there by the exported model (its `context_truncated` output says so):
# memory stays bounded whatever a file or a request holds.
MAX_CONTEXT_CHARACTERS = 100_000
LABELS = ("start_positions", "end_positions")


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")


def _ragged_searchsorted(sorted_rows, values):
    """Per row, the index of the first element of `sorted_rows` >= each value.

    Both ragged [B, (N)] / [B, (M)] int64; returns int64 ragged like `values`.
    """
    big = tf.constant(tf.int64.max, tf.int64)
    found = tf.searchsorted(
        sorted_rows.to_tensor(default_value=big),
        values.to_tensor(default_value=big),
        side="left",
        out_type=tf.int64,
    )
    return tf.RaggedTensor.from_tensor(found, lengths=values.row_lengths())


def _place(values, prefix_lengths, fill, length):
    """`fill` x prefix, then the ragged `values` of each row, padded with `fill` to `length`."""
    prefix = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(prefix_lengths)], tf.cast(fill, values.dtype)), prefix_lengths
    )
    row = tf.concat([prefix, values], axis=1)
    return row.to_tensor(default_value=tf.cast(fill, values.dtype), shape=[None, length])


class QuestionAnswerFeatures(tf.Module):
    """Questions and passages to the windows a `SpanBertQuestionAnswerer` reads.

    Call it on a batch of B examples; it returns W >= B windows (at least one
    per example, in example order). Output dict:

    - `token_ids`, `segment_ids`, `padding_mask`: int32 [W, L], the model's
      inputs;
    - `example_index`: int32 [W], the example each window belongs to;
    - `char_start`, `char_end`: int32 [W, L], the characters
      `context[char_start:char_end]` of the passage piece at each position
      (Unicode code points, as Python indexes `str`); -1 outside the passage;
    - `max_context`: bool [W, L], True where the piece is max-context;
    - with `answer_start` / `answer_end` given: `start_positions`,
      `end_positions` int32 [W], the answer's first / last piece in the
      window (0, the `[CLS]`, when the window does not hold it).

    Args:
        vocabulary: a `Vocabulary`, list of wordpieces or `vocab.txt` path
            (or a `SpanBertTokenizer`).
        sequence_length: int, `L`, the window length (512, as the authors
            for every QA set).
        doc_stride: int, pieces between the starts of two windows (128).
        max_query_length: int, the question's most pieces (64). Must leave
            room: `sequence_length >= max_query_length + 4`.

    Call arguments:
        question, context: string [B].
        answer_start, answer_end: optional int [B], the gold answer's
            characters `[answer_start, answer_end)` in `context`; -1 for no
            answer (all windows get position 0).

    Example:

    >>> from spanbert_keras.data.qa_features import QuestionAnswerFeatures
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Who", "?",
    ...          "Emma", "lived", "at", "Hart", "##field", "."]
    >>> features = QuestionAnswerFeatures(vocab, sequence_length=8, doc_stride=2,
    ...                                   max_query_length=2)
    >>> context = "Emma lived at Hartfield."
    >>> out = features(["Who?"], [context], answer_start=[14], answer_end=[23])
    >>> out["token_ids"].numpy().tolist()
    [[2, 5, 6, 3, 7, 8, 9, 3], [2, 5, 6, 3, 9, 10, 11, 3], [2, 5, 6, 3, 11, 12, 3, 0]]
    >>> out["start_positions"].numpy().tolist(), out["end_positions"].numpy().tolist()
    ([0, 5, 0], [0, 6, 0])
    >>> [context[s:e] for s, e in zip(out["char_start"][1].numpy(), out["char_end"][1].numpy()) if s >= 0]
    ['at', 'Hart', 'field']
    >>> out["max_context"].numpy().astype(int).tolist()[1]
    [0, 0, 0, 0, 0, 1, 1, 0]
    """

    def __init__(self, vocabulary, sequence_length=512, doc_stride=128, max_query_length=64,
                 name="question_answer_features"):
        super().__init__(name=name)
        for key, value in (("sequence_length", sequence_length), ("doc_stride", doc_stride),
                           ("max_query_length", max_query_length)):
            _positive_int(key, value)
        if sequence_length < max_query_length + 4:
            raise ValueError(
                "`sequence_length` must leave room for [CLS] question [SEP] passage [SEP]: "
                f"at least max_query_length + 4 = {max_query_length + 4}. Received: "
                f"sequence_length={sequence_length}, max_query_length={max_query_length}"
            )
        self.tokenizer = (vocabulary if isinstance(vocabulary, SpanBertTokenizer)
                          else SpanBertTokenizer(vocabulary))
        self.vocabulary = self.tokenizer.vocabulary
        self.sequence_length = sequence_length
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length

    @tf.autograph.experimental.do_not_convert
    def __call__(self, question, context, answer_start=None, answer_end=None):
        vocab, length = self.vocabulary, self.sequence_length
        question = tf.convert_to_tensor(question, tf.string)
        context = tf.convert_to_tensor(context, tf.string)
        question_ids = self.tokenizer.tokenize(question)[:, : self.max_query_length]
        context_ids, byte_starts, byte_ends = self.tokenizer.tokenize_with_offsets(context)
        _, char_bytes = tf.strings.unicode_decode_with_offsets(context, "UTF-8")
        char_bytes = tf.cast(char_bytes, tf.int64)
        char_starts = _ragged_searchsorted(char_bytes, tf.cast(byte_starts, tf.int64))
        char_ends = _ragged_searchsorted(char_bytes, tf.cast(byte_ends, tf.int64))

        # Windows: W = sum of n over the examples.
        query_len = question_ids.row_lengths()  # [B] int64
        context_len = context_ids.row_lengths()
        room = length - 3 - query_len
        step = tf.minimum(room, self.doc_stride)
        extra = tf.maximum(context_len - room, 0)
        windows = 1 + (extra + step - 1) // step  # [B]
        example = tf.repeat(tf.range(tf.size(windows, out_type=tf.int64)), windows)  # [W]
        k = tf.ragged.range(windows).flat_values  # window number within its example
        start = k * tf.gather(step, example)
        count = tf.minimum(tf.gather(room, example), tf.gather(context_len, example) - start)
        first = tf.gather(context_ids.row_starts(), example) + start
        flat_index = tf.ragged.range(first, first + count)  # [W, (count)] into the flat pieces

        window_ids = tf.gather(context_ids.flat_values, flat_index)
        sep = tf.RaggedTensor.from_tensor(tf.fill([tf.size(example), 1], vocab.sep_id))
        body = tf.concat([tf.gather(question_ids, example), sep, window_ids], axis=1)
        token_ids, padding_mask, _ = pack_ids(body, length, vocab.cls_id, vocab.sep_id, vocab.pad_id)
        offset = tf.gather(query_len, example) + 2  # position of the window's first piece
        positions = tf.range(length, dtype=tf.int64)[tf.newaxis, :]
        segment_ids = tf.cast((positions >= offset[:, tf.newaxis]) & padding_mask, tf.int32)

        # Max context: BERT's score, scaled by 100 to stay integral, ties to the first window.
        # (On flat values: ragged-dense broadcasting is slow to trace.)
        i = tf.ragged.range(count)
        window = i.value_rowids()
        n = tf.gather(count, window)
        score = tf.minimum(i.flat_values, n - 1 - i.flat_values) * 100 + n
        key = score * (1 << 20) - tf.gather(k, window)
        best = tf.math.unsorted_segment_max(
            key, flat_index.flat_values, tf.size(context_ids.flat_values, out_type=tf.int64)
        )
        max_context = i.with_flat_values(tf.equal(key, tf.gather(best, flat_index.flat_values)))

        features = {
            "token_ids": token_ids,
            "segment_ids": segment_ids,
            "padding_mask": tf.cast(padding_mask, tf.int32),
            "example_index": tf.cast(example, tf.int32),
            "char_start": _place(tf.cast(tf.gather(char_starts.flat_values, flat_index), tf.int32),
                                 offset, -1, length),
            "char_end": _place(tf.cast(tf.gather(char_ends.flat_values, flat_index), tf.int32),
                               offset, -1, length),
            "max_context": _place(max_context, offset, False, length),
        }
        if answer_start is not None:
            features.update(self._labels(char_starts, char_ends, answer_start, answer_end,
                                         example, start, count, offset))
        return features

    def _labels(self, char_starts, char_ends, answer_start, answer_end, example, start, count, offset):
        big = tf.constant(tf.int64.max, tf.int64)
        answer_start = tf.cast(tf.convert_to_tensor(answer_start), tf.int64)[:, tf.newaxis]
        answer_end = tf.cast(tf.convert_to_tensor(answer_end), tf.int64)[:, tf.newaxis]
        starts, ends = char_starts.to_tensor(big), char_ends.to_tensor(big)
        # The pieces overlapping [answer_start, answer_end).
        first = tf.reduce_sum(tf.cast(ends <= answer_start, tf.int64), axis=1)
        last = tf.reduce_sum(tf.cast(starts < answer_end, tf.int64), axis=1) - 1
        has_answer = (answer_start[:, 0] >= 0) & (last >= first)
        first, last = tf.gather(first, example), tf.gather(last, example)
        inside = tf.gather(has_answer, example) & (first >= start) & (last < start + count)
        return {
            "start_positions": tf.cast(tf.where(inside, first - start + offset, 0), tf.int32),
            "end_positions": tf.cast(tf.where(inside, last - start + offset, 0), tf.int32),
        }
