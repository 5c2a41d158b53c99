"""In-graph cased WordPiece tokenisation with tensorflow-text.

`SpanBertTokenizer` wraps `tensorflow_text.FastBertTokenizer`: the tokenizer
that TF Serving (>= 2.12) and LiteRT's tf-text op registrar can run. It works
eagerly, inside `tf.function`, in `tf.data` and inside a SavedModel, and its
vocabulary is embedded in the graph (no file path is baked in).
"""

import os

import tensorflow as tf
import tensorflow_text as tf_text

from spanbert_keras import preset_loading
from spanbert_keras.data.vocabulary import CONTINUATION_PREFIX
from spanbert_keras.data.vocabulary import load_vocabulary


class SpanBertTokenizer(tf.Module):
    """Maps UTF-8 strings to wordpiece ids and back, cased, in-graph.

    Args:
        vocabulary: a `Vocabulary`, a list of wordpieces or a `vocab.txt` path.

    Attributes:
        vocabulary: the `Vocabulary`.
        is_continuation: bool tensor [V], True for `##` pieces (they continue
            the word of the previous piece); the span masker's word starts.

    Example:

    >>> tokenizer = SpanBertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
    ...                                "[MASK]", "The", "cat", "sat", "##s"])
    >>> tokenizer.tokenize(["The cats sat"]).to_list()
    [[5, 6, 8, 7]]
    >>> tokenizer.detokenize([[5, 6, 8, 7]]).numpy().tolist()
    [b'The cats sat']
    """

    def __init__(self, vocabulary, name="span_bert_tokenizer"):
        super().__init__(name=name)
        self.vocabulary = load_vocabulary(vocabulary)
        self._tokenizer = tf_text.FastBertTokenizer(
            vocab=self.vocabulary.tokens,
            suffix_indicator=CONTINUATION_PREFIX,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            support_detokenization=True,
            lower_case_nfd_strip_accents=False,
        )
        self.is_continuation = tf.constant(self.vocabulary.is_continuation)

    @classmethod
    def from_preset(cls, preset):
        """The tokenizer of a preset's vocabulary (see `SpanBertBackbone.from_preset`).

        Example:

        >>> import spanbert_keras
        >>> from spanbert_keras.data.tokenizer import SpanBertTokenizer
        >>> SpanBertTokenizer.from_preset("austen-tiny").vocabulary.size
        4000
        """
        found = preset_loading.load("encoder", preset)
        beside = os.path.join(os.fspath(preset), "vocab.txt")
        if found is None and os.path.isfile(beside):  # a checkpoint folder keras-hub reads
            return cls(beside)
        if found is None:
            raise preset_loading.not_found(preset)
        return cls(found[1])

    def tokenize(self, strings, mask_token_in_text=False):
        """Tokenises a batch of strings.

        Args:
            strings: string tensor [B] (or a Python list of str).
            mask_token_in_text: bool. If True, every literal `[MASK]` in the
                text becomes the mask token id instead of being split as
                punctuation (for fill-in-the-blank queries).

        Returns:
            int32 `tf.RaggedTensor` [B, (wordpieces)].
        """
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        if not mask_token_in_text:
            return self._tokenizer.tokenize(strings)
        # Split around the literal "[MASK]", tokenise the pieces, and put one
        # mask id after every piece but the last of each string.
        pieces = tf.strings.split(strings, sep="[MASK]")  # [B, (pieces)]
        piece_ids = self._tokenizer.tokenize(pieces.flat_values)  # [N, (ids)]
        is_last = tf.equal(
            tf.range(tf.size(pieces.flat_values, out_type=tf.int64)) + 1,
            tf.gather(pieces.row_limits(), pieces.value_rowids()),
        )
        mask_after = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.reduce_sum(1 - tf.cast(is_last, tf.int32))],
                    tf.constant(self.vocabulary.mask_id, tf.int32)),
            1 - tf.cast(is_last, tf.int64),
        )
        with_masks = tf.concat([piece_ids, mask_after], axis=1)
        return pieces.with_flat_values(with_masks).merge_dims(1, 2)

    def tokenize_with_offsets(self, strings):
        """Tokenises a batch of strings and says where each wordpiece came from.

        Args:
            strings: string tensor [B] (or a Python list of str).

        Returns:
            `(token_ids, starts, ends)`, each a `tf.RaggedTensor` [B, (wordpieces)]:
            int32 ids, and int64 UTF-8 byte offsets in the input string of each
            wordpiece's first byte and of the byte after its last (a `##`
            piece starts inside its word).

        Example:

        >>> tokenizer = SpanBertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
        ...                                "[MASK]", "Zo", "##ë", "sat"])
        >>> ids, starts, ends = tokenizer.tokenize_with_offsets(["Zoë sat"])
        >>> ids.to_list(), starts.to_list(), ends.to_list()
        ([[5, 6, 7]], [[0, 2, 5]], [[2, 4, 8]])
        """
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        return self._tokenizer.tokenize_with_offsets(strings)

    def detokenize(self, token_ids):
        """Joins wordpiece ids [B, (T)] (ragged or dense) back into strings [B].

        Words are joined with single spaces and `##` pieces glued to their
        word, so the result is the text as BERT's pre-tokeniser splits it.
        """
        return self._tokenizer.detokenize(token_ids)


def join_wordpieces(pieces, marks=None, wrap=None):
    """Joins wordpieces into readable text, marking runs of chosen positions.

    The Python counterpart of `SpanBertTokenizer.detokenize` for showing
    masked blocks: `##` pieces are glued to their word, [PAD] is dropped, and
    each maximal run of positions with the same mark is wrapped once.

    Args:
        pieces: list of str, the wordpiece at each position.
        marks: optional dict position -> mark (any hashable, e.g. "mask").
        wrap: optional callable mark -> (opening str, closing str);
            default `«` and `»`.

    Returns:
        str.

    Example:

    >>> join_wordpieces(["the", "cat", "##s", "sat", "[PAD]"], marks={1: "x", 2: "x"})
    'the «cats» sat'
    """
    marks = marks or {}
    wrap = wrap or (lambda mark: ("«", "»"))
    words = []
    current = None  # the mark of the run being written
    for position, piece in enumerate(pieces):
        if piece == "[PAD]":
            continue
        mark = marks.get(position)
        continuation = piece.startswith("##") and len(piece) > 2 and bool(words)
        text = piece[2:] if continuation else piece
        if current is not None and mark != current:
            words[-1] += wrap(current)[1]
        if mark is not None and mark != current:
            text = wrap(mark)[0] + text
        current = mark
        if continuation:
            words[-1] += text
        else:
            words.append(text)
    if current is not None and words:
        words[-1] += wrap(current)[1]
    return " ".join(words)
