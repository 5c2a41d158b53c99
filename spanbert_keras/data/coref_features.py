"""In-graph features of coreference: a document's words -> segments the encoder reads.

The "independent" model of Joshi et al. (2019): a document is cut into
non-overlapping segments of at most `max_segment_length` pieces
(`[CLS] pieces [SEP]`) at sentence boundaries, each encoded on its own. The
cut is the authors' `minimize.py` rule: a segment takes as many pieces as fit,
then backs off to the last sentence end inside it; if no sentence ends inside,
to the last word end; a single word longer than a segment is cut (the
authors' script stops there). Training, evaluation and the exported
SavedModel all use `CorefFeatures`, so they read a document the same way.

The span space is the document's wordpieces (`N` of them, no `[CLS]` /
`[SEP]`): `piece_positions` says where each sits in the flattened
`[segments * max_segment_length]` encoder output, `sentence_ids` /
`speaker_ids` / `piece_words` belong to each piece, and `word_starts` /
`word_ends` map words to their first and last piece.
"""

import tensorflow as tf

from spanbert_keras.data.features import word_pieces
from spanbert_keras.data.packing import pack_ids
from spanbert_keras.data.tokenizer import SpanBertTokenizer

# The genres of OntoNotes (a document key's first two letters), as the authors
# embed them; a document of any other genre gets the last index.
GENRES = ("bc", "bn", "mz", "nw", "pt", "tc", "wb")


def genre_ids(genres):
    """The genre index of each string (`len(GENRES)` for another genre), in-graph.

    A document's genre is its key's first two letters (the authors' rule).

    >>> import tensorflow as tf
    >>> genre_ids(tf.constant(["nw", "austen"[:2]])).numpy().tolist()
    [3, 7]
    """
    genres = tf.convert_to_tensor(genres, tf.string)
    known = tf.equal(genres[..., tf.newaxis], tf.constant(GENRES))
    return tf.where(tf.reduce_any(known, axis=-1),
                    tf.argmax(tf.cast(known, tf.int32), axis=-1, output_type=tf.int32),
                    len(GENRES))


def segment_ends(sentence_end, word_end, capacity):
    """The last piece of each segment (int32 `[S]`), cut as the authors' `minimize.py` cuts.

    Args:
        sentence_end: bool `[N]`, the piece ends a sentence.
        word_end: bool `[N]`, the piece ends a word.
        capacity: int, the most pieces a segment holds.

    Example:

    >>> import tensorflow as tf
    >>> ends = segment_ends(tf.constant([0, 1, 0, 0, 1, 0, 0, 1]) > 0,
    ...                     tf.constant([1, 1, 1, 0, 1, 1, 1, 1]) > 0, 4)
    >>> ends.numpy().tolist()  # sentences 0-1 | 2-4 | 5-7
    [1, 4, 7]
    """
    count = tf.size(sentence_end)
    positions = tf.range(count)

    def last(flags, window):
        return tf.reduce_max(tf.where(window & flags, positions, -1))

    def body(start, ends):
        limit = tf.minimum(start + capacity - 1, count - 1)
        window = (positions >= start) & (positions <= limit)
        end = last(sentence_end, window)
        end = tf.where(end < start, last(word_end, window), end)
        end = tf.where(end < start, limit, end)
        return end + 1, ends.write(ends.size(), end)

    _, ends = tf.while_loop(
        lambda start, _: start < count, body,
        [tf.constant(0), tf.TensorArray(tf.int32, size=0, dynamic_size=True)],
    )
    return ends.stack()


class CorefFeatures(tf.Module):
    """One document's words -> encoder segments and the per-piece maps (see the module docstring).

    Args:
        vocabulary: the `Vocabulary`.
        max_segment_length: int >= 3, the pieces of a segment with its
            `[CLS]` and `[SEP]` (the authors: 384 for SpanBERT base, 512
            for large).

    Call arguments:
        words: string `[W]`, the document's words.
        sentence_ids: int32 `[W]`, each word's sentence (non-decreasing).
        speakers: optional string `[W]`, each word's speaker (default: one).

    Returns:
        A dict: `token_ids`, `segment_ids`, `padding_mask` int32 `[S, L]`;
        `piece_positions` int32 `[N]` (index into the `S * L` encoder
        positions), `sentence_ids`, `speaker_ids` (equal for the same
        speaker), `piece_words`,
        `piece_segments` int32 `[N]`; `word_starts`, `word_ends` int32 `[W]`.

    Example:

    >>> import tensorflow as tf
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...                     "Emma", "Wood", "##house", "sang", "."])
    >>> out = CorefFeatures(vocab, 6)(tf.constant(["Emma", "Woodhouse", ".", "Emma", "sang"]),
    ...                               tf.constant([0, 0, 0, 1, 1]))
    >>> out["token_ids"].numpy().tolist()
    [[2, 5, 6, 7, 9, 3], [2, 5, 8, 3, 0, 0]]
    >>> out["piece_positions"].numpy().tolist(), out["word_starts"].numpy().tolist()
    ([1, 2, 3, 4, 7, 8], [0, 1, 3, 4, 5])
    """

    def __init__(self, vocabulary, max_segment_length=384, name="coref_features"):
        super().__init__(name=name)
        if int(max_segment_length) < 3:
            raise ValueError(f"max_segment_length must be >= 3. Received: {max_segment_length!r}")
        self.vocabulary = vocabulary
        self.sequence_length = int(max_segment_length)
        self.tokenizer = SpanBertTokenizer(vocabulary)

    def __call__(self, words, sentence_ids, speakers=None):
        words = tf.convert_to_tensor(words, tf.string)
        sentence_ids = tf.cast(sentence_ids, tf.int32)
        if speakers is None:
            speaker_ids = tf.zeros_like(sentence_ids)
        else:
            speaker_ids = tf.unique(tf.convert_to_tensor(speakers, tf.string)).idx
        pieces = word_pieces(self.tokenizer, tf.RaggedTensor.from_tensor(words[tf.newaxis]))
        counts = tf.cast(pieces.row_lengths(axis=2).flat_values, tf.int32)  # [W]
        flat = tf.cast(pieces.flat_values, tf.int32)  # [N]
        num_words = tf.size(counts)
        piece_words = tf.repeat(tf.range(num_words), counts)
        word_starts = tf.cumsum(counts, exclusive=True)
        word_ends = word_starts + counts - 1
        piece_sentences = tf.gather(sentence_ids, piece_words)
        num_pieces = tf.size(flat)
        word_end = tf.scatter_nd(word_ends[:, tf.newaxis], tf.ones([num_words], tf.bool),
                                 [num_pieces])
        next_sentence = tf.concat([piece_sentences[1:], [-1]], axis=0)
        sentence_end = word_end & tf.not_equal(next_sentence, piece_sentences)
        ends = segment_ends(sentence_end, word_end, self.sequence_length - 2)
        lengths = ends - tf.concat([[-1], ends[:-1]], axis=0)
        segments = tf.RaggedTensor.from_row_lengths(flat, tf.cast(lengths, tf.int64))
        token_ids, padding_mask, _ = pack_ids(
            segments, self.sequence_length, cls_id=self.vocabulary.cls_id,
            sep_id=self.vocabulary.sep_id, pad_id=self.vocabulary.pad_id,
        )
        piece_segments = tf.repeat(tf.range(tf.size(lengths)), lengths)
        segment_starts = tf.cumsum(lengths, exclusive=True)
        within = tf.range(num_pieces) - tf.gather(segment_starts, piece_segments) + 1  # after [CLS]
        return {
            "token_ids": token_ids,
            "segment_ids": tf.zeros_like(token_ids),
            "padding_mask": tf.cast(padding_mask, tf.int32),
            "piece_positions": piece_segments * self.sequence_length + within,
            "sentence_ids": piece_sentences,
            "speaker_ids": tf.gather(speaker_ids, piece_words),
            "piece_words": piece_words,
            "piece_segments": piece_segments,
            "word_starts": word_starts,
            "word_ends": word_ends,
        }
