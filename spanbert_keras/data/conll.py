"""CoNLL-2003-style named-entity data: the reader and the in-graph tagging features.

`read_conll(path)` returns `(examples, problems)` (`read_columns`: the
sentences with all their columns; `select_tags`: the examples). The file is
UTF-8 (a BOM is allowed; other bytes are refused naming the line), one token a
line, its columns separated by whitespace (token first, the tag in
`tag_column`, by default the last), a blank line between sentences, and
`-DOCSTART-` lines that are skipped. Tags are BIO / IOB2 (`O`, `B-PER`,
`I-PER`, ...); `scheme="iob1"` reads the original CoNLL-2003 files, whose
entities start with `I-` unless they follow one of the same type, and
converts them to IOB2. An example is a dict:

- `id`: str, the sentence's index in the file;
- `tokens`: list of str; `tags`: list of str, as long as `tokens`;
- `where`: str, `"path: line N"` (the sentence's first line), for messages.

`problems` names each skipped sentence and the line at fault: a line with
another number of columns than most of the file's token lines (its tag
would be missing or taken from another column, so the tag sequence would not
match the tokens) or a tag that is not BIO; with `strict=True` the first one
raises.

Features: the words' wordpieces packed as `[CLS] pieces [SEP]`; each word is
predicted at its first piece (`first_positions`), the other pieces are
ignored by the loss (weight 0) and the decoding.
"""

import collections
import os

import tensorflow as tf

from spanbert_keras.data.bad_records import BadRecords
from spanbert_keras.data.features import pack_segments
from spanbert_keras.data.features import word_pieces
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.files import check_text

SCHEMES = ("iob2", "iob1")
DOCSTART = "-DOCSTART-"


def read_conll(path, tag_column=-1, scheme="iob2", strict=False):
    """Reads a CoNLL-2003-style file.

    Args:
        path: the file.
        tag_column: int, the tag's column (0-based; negative counts from the
            end of each line; the token is column 0).
        scheme: "iob2" (BIO) or "iob1" (converted to IOB2).
        strict: bool, raise on the first bad sentence.

    Returns:
        `(examples, problems)`, see the module docstring.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("-DOCSTART- -X- O O\\n\\nEmma NNP B-PER\\nWoodhouse NNP I-PER\\n"
    ...                 "sang VBD O\\n\\nHartfield NNP\\n")
    >>> examples, problems = read_conll(path)
    >>> examples[0]["tokens"], examples[0]["tags"]
    (['Emma', 'Woodhouse', 'sang'], ['B-PER', 'I-PER', 'O'])
    >>> problems[0].split(": ", 1)[1]
    "line 7: 2 column(s), expected 3 (the tags would not match the tokens): 'Hartfield NNP'"
    """
    sentences, problems = read_columns(path, strict)
    examples, more = select_tags(sentences, path, tag_column, scheme, strict)
    return examples, problems + more


def read_columns(path, strict=False):
    """The sentences of a CoNLL-style file with every column of every token.

    Returns:
        `(sentences, problems)`: each sentence a dict `id` (its index),
        `tokens`, `columns` (the fields of each token line), `lines` (their
        numbers), `where`; problems name the lines whose number of columns
        differs from most of the file's token lines (the sentence is skipped).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not UTF-8 (naming the line), or (`strict`)
            the first bad line.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"CoNLL file not found: {path}")
    problems = BadRecords(path, strict)
    sentences = []
    read = list(_sentences(path))
    # Every token line has as many columns as most lines of the file have: one
    # short line is that line's problem, whichever line it is.
    counts = collections.Counter(len(line.split()) for _, lines in read for _, line in lines)
    width = counts.most_common(1)[0][0] if counts else None
    for first_line, lines in read:
        columns = [line.split() for _, line in lines]
        bad = [(n, line) for (n, line), f in zip(lines, columns) if len(f) != width]
        if bad:
            number, line = bad[0]
            problems.add(f"line {number}", f"{len(line.split())} column(s), expected {width} "
                                           f"(the tags would not match the tokens): "
                                           f"{line.strip()!r}")
            continue
        sentences.append(
            {
                "id": str(len(sentences)),
                "tokens": [f[0] for f in columns],
                "columns": columns,
                "lines": [n for n, _ in lines],
                "where": f"{path}: line {first_line}",
            }
        )
    return sentences, problems.lines


def select_tags(sentences, path, tag_column=-1, scheme="iob2", strict=False):
    """Examples (`id`, `tokens`, `tags`, `where`) from `read_columns`' sentences.

    Returns:
        `(examples, problems)`: problems name the first line of a sentence
        whose tag is not BIO (the sentence is skipped).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"`scheme` must be one of {SCHEMES}. Received: scheme={scheme!r}")
    if isinstance(tag_column, bool) or not isinstance(tag_column, int) or tag_column == 0:
        raise ValueError(
            "`tag_column` must be a non-zero int (column 0 is the token). "
            f"Received: tag_column={tag_column!r}"
        )
    problems = BadRecords(path, strict)
    examples = []
    for sentence in sentences:
        width = len(sentence["columns"][0])
        if not -width <= tag_column < width:
            raise ValueError(
                f"{sentence['where']}: tag_column={tag_column} is outside its {width} column(s)."
            )
        tags, bad = _checked_tags([f[tag_column] for f in sentence["columns"]], scheme,
                                  sentence["lines"])
        if bad is not None:
            problems.add(f"line {bad[0]}", bad[1])
            continue
        examples.append({"id": sentence["id"], "tokens": sentence["tokens"], "tags": tags,
                         "where": sentence["where"]})
    return examples, problems.lines


def _sentences(path):
    """`(first line number, [(line number, line), ...])` of each sentence."""
    sentence = []
    try:
        with open(path, encoding="utf-8-sig") as f:  # a BOM is not part of the first token
            lines = f.readlines()
    except UnicodeDecodeError:
        check_text(path)  # raises ValueError naming the line
        raise
    for number, line in enumerate(lines, 1):
        if not line.strip():
            if sentence:
                yield sentence[0][0], sentence
            sentence = []
        elif line.split()[0] == DOCSTART:
            if sentence:
                yield sentence[0][0], sentence
            sentence = []
        else:
            sentence.append((number, line))
    if sentence:
        yield sentence[0][0], sentence


def _checked_tags(tags, scheme, numbers):
    """The IOB2 tags, or `(None, (line, message))` for the first tag that is not BIO."""
    checked = []
    for index, (tag, number) in enumerate(zip(tags, numbers)):
        if not (tag == "O" or (tag[:2] in ("B-", "I-") and len(tag) > 2)):
            return None, (number, f"tag {tag!r} is not BIO (O, B-TYPE or I-TYPE)")
        if scheme == "iob1" and tag.startswith("I-"):
            previous = checked[index - 1] if index else "O"
            if previous == "O" or previous[2:] != tag[2:]:
                tag = "B-" + tag[2:]
        checked.append(tag)
    return checked, None


class TaggingFeatures(tf.Module):
    """Words -> the encoder's inputs and each word's first-piece position, in TensorFlow ops.

    Args:
        vocabulary: a `Vocabulary`.
        sequence_length: int, the packed length.

    Call arguments:
        words: string ragged `[B, (W)]`.
        tag_ids: optional int ragged `[B, (W)]`, each word's tag id.

    Returns:
        A dict: `token_ids`, `segment_ids`, `padding_mask` int32 `[B, L]`,
        `first_positions` int32 ragged `[B, (W)]` (the position of each
        word's first piece), `word_kept` bool ragged `[B, (W)]` (False for
        words cut away by the packing), `truncated` bool `[B]`; with
        `tag_ids`, `labels` int32 `[B, L]` (the tag at first pieces, 0
        elsewhere) and `label_weights` float32 `[B, L]` (1 at the kept
        words' first pieces).

    Example:

    >>> import tensorflow as tf
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> vocab = Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...                     "Emma", "Wood", "##house", "sang"])
    >>> out = TaggingFeatures(vocab, 7)(tf.ragged.constant([["Emma", "Woodhouse", "sang"]]),
    ...                                 tf.ragged.constant([[1, 2, 0]]))
    >>> out["token_ids"].numpy().tolist(), out["first_positions"].to_list()
    ([[2, 5, 6, 7, 8, 3, 0]], [[1, 2, 4]])
    >>> out["labels"].numpy().tolist(), out["label_weights"].numpy().tolist()
    ([[0, 1, 2, 0, 0, 0, 0]], [[0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]])
    """

    def __init__(self, vocabulary, sequence_length=128, name="tagging_features"):
        super().__init__(name=name)
        self.vocabulary = vocabulary
        self.sequence_length = int(sequence_length)
        self.tokenizer = SpanBertTokenizer(vocabulary)

    def __call__(self, words, tag_ids=None):
        pieces = word_pieces(self.tokenizer, words)  # [B, (W), (P)]
        counts = tf.cast(pieces.row_lengths(axis=2), tf.int32)  # [B, (W)]
        starts = tf.cumsum(counts.to_tensor(), axis=1, exclusive=True) + 1  # after [CLS]
        first_positions = tf.RaggedTensor.from_tensor(starts, lengths=counts.row_lengths())
        word_kept = first_positions < self.sequence_length - 1  # before the last [SEP] slot
        packed = pack_segments(pieces.merge_dims(1, 2), self.sequence_length, self.vocabulary)
        packed["first_positions"] = first_positions
        packed["word_kept"] = word_kept
        if tag_ids is not None:
            rows = tf.cast(first_positions.value_rowids(), tf.int32)
            kept = word_kept.flat_values
            indices = tf.boolean_mask(tf.stack([rows, first_positions.flat_values], 1), kept)
            shape = tf.shape(packed["token_ids"])
            packed["labels"] = tf.scatter_nd(
                indices, tf.boolean_mask(tf.cast(tag_ids.flat_values, tf.int32), kept), shape
            )
            packed["label_weights"] = tf.scatter_nd(
                indices, tf.ones(tf.shape(indices)[:1], tf.float32), shape
            )
        return packed
