"""Text files to packed single-document blocks, entirely in a `tf.data` graph.

Corpus format (BERT's and SpanBERT's pre-processing convention): plain UTF-8
text, one sentence or paragraph per line, documents separated by blank lines.
TFRecord shards are also read: one record = one document (UTF-8 bytes, its
lines separated by newlines), as written by `write_document_shards`.

Packing follows the reference's `break_mode="doc"`: the sentences of ONE
document are accumulated until the next one would overflow the block; a
sentence longer than a block is split, never dropped; a block never holds two
documents. Each block is `[CLS] tokens [SEP] [PAD]...` of exactly
`sequence_length` ids.
"""

import os
import sys

import tensorflow as tf

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfr")
SPLITS = ("all", "train", "validation")
_HASH_BUCKETS = 10_000


def check_corpus_files(files):
    """Expands globs and checks that every corpus file exists and is not empty.

    Returns:
        The sorted list of file paths.
    """
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    paths = []
    for pattern in files:
        pattern = os.fspath(pattern)
        matches = sorted(tf.io.gfile.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise FileNotFoundError(f"No corpus file matches {pattern!r}.")
        paths.extend(matches)
    if not paths:
        raise ValueError("No corpus files were given.")
    for path in paths:
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"Corpus file not found: {path}")
        if tf.io.gfile.isdir(path):
            raise IsADirectoryError(f"Corpus path is a directory, not a file: {path}")
        if tf.io.gfile.stat(path).length == 0:
            raise ValueError(f"Corpus file is empty: {path}")
    return paths


def write_document_shards(documents, output_prefix, num_shards=1):
    """Writes documents (each a list of lines) to TFRecord shards.

    Returns:
        The list of shard paths, `{output_prefix}-{i:05d}-of-{n:05d}.tfrecord`.
    """
    paths = [
        f"{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)
    ]
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for index, lines in enumerate(documents):
            writers[index % num_shards].write("\n".join(lines).encode("utf-8"))
    finally:
        for writer in writers:
            writer.close()
    return paths


def _drop_invalid_utf8(lines, line_numbers, path):
    """Mask of the valid UTF-8 lines; warns with the file and line numbers of the rest."""
    repaired = tf.strings.unicode_transcode(
        lines, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )
    valid = tf.equal(repaired, lines)

    def warn():
        tf.print(
            "WARNING: skipping line(s) that are not valid UTF-8:",
            path,
            "line(s)",
            tf.boolean_mask(line_numbers + 1, tf.logical_not(valid)),
            output_stream=sys.stderr,
        )
        return valid

    return tf.cond(tf.reduce_all(valid), lambda: valid, warn)


def _text_file_lines(path, lines_per_batch):
    """Batches of (lines, document index, line number) of a text file."""
    batches = tf.data.TextLineDataset(path).batch(lines_per_batch)

    def count_documents(state, lines):
        documents_so_far, lines_so_far = state
        blank = tf.cast(tf.equal(tf.strings.length(tf.strings.strip(lines)), 0), tf.int64)
        documents = documents_so_far + tf.cumsum(blank)
        numbers = lines_so_far + tf.range(tf.size(lines, out_type=tf.int64))
        state = (documents_so_far + tf.reduce_sum(blank), lines_so_far + tf.size(lines, out_type=tf.int64))
        return state, (lines, documents, numbers)

    zero = tf.constant(0, tf.int64)
    return batches.scan((zero, zero), count_documents)


def _tfrecord_lines(path):
    """Batches of (lines, document index, line number): one per TFRecord document."""

    def split_lines(document, text):
        lines = tf.strings.split(text, sep="\n")
        return lines, tf.fill(tf.shape(lines), document), tf.range(tf.size(lines, out_type=tf.int64))

    return tf.data.TFRecordDataset(path).enumerate().map(split_lines)


def document_in_split(path, documents, split, validation_fraction):
    """True for the documents of `split`: a stable hash of (file name, index).

    The file's name, not its directory, so that a corpus keeps its split
    when it is moved or read from another machine.
    """
    if split == "all":
        return tf.ones_like(documents, tf.bool)
    name = tf.strings.regex_replace(path, r"^.*[/\\]", "")
    keys = tf.strings.join([name, tf.strings.as_string(documents)], separator=":")
    buckets = tf.strings.to_hash_bucket_fast(keys, _HASH_BUCKETS)
    in_validation = buckets < int(round(validation_fraction * _HASH_BUCKETS))
    return in_validation if split == "validation" else tf.logical_not(in_validation)


def _split_long_sentences(token_ids, documents, capacity):
    """Cuts every sentence into pieces of at most `capacity` tokens.

    Args:
        token_ids: int32 ragged [B, (T)].
        documents: int64 [B].

    Returns:
        (int32 ragged [C, (<= capacity)], int64 [C]) with empty sentences removed.
    """
    lengths = token_ids.row_lengths()
    chunks = (lengths + capacity - 1) // capacity  # 0 for an empty sentence
    chunk_rows = tf.repeat(tf.range(tf.size(lengths, out_type=tf.int64)), chunks)
    first_chunk = tf.cumsum(chunks, exclusive=True)
    index_in_row = tf.range(tf.reduce_sum(chunks)) - tf.gather(first_chunk, chunk_rows)
    chunk_lengths = tf.minimum(
        tf.cast(capacity, tf.int64), tf.gather(lengths, chunk_rows) - capacity * index_in_row
    )
    pieces = tf.RaggedTensor.from_row_lengths(token_ids.flat_values, chunk_lengths)
    return pieces, tf.gather(documents, chunk_rows)


def _pack_sentences(sentences, capacity):
    """Greedy single-document packing of (padded ids, length, document) sentences.

    Returns:
        A dataset of int32 [<= capacity] blocks (without special tokens).
    """
    end = tf.data.Dataset.from_tensors(
        (tf.zeros([0], tf.int32), tf.constant(0, tf.int64), tf.constant(-1, tf.int64))
    )
    sentences = sentences.concatenate(end)
    initial = (tf.zeros([0], tf.int32), tf.constant(-1, tf.int64))

    def add_sentence(state, sentence):
        buffer, document = state
        padded_ids, length, sentence_document = sentence
        ids = padded_ids[:length]
        flush = tf.logical_or(
            tf.not_equal(sentence_document, document),
            tf.size(buffer) + tf.size(ids) > capacity,
        )
        emit = tf.logical_and(flush, tf.size(buffer) > 0)
        new_buffer = tf.cond(flush, lambda: ids, lambda: tf.concat([buffer, ids], 0))
        return (new_buffer, sentence_document), (buffer, emit)

    def is_block(block, emit):
        return emit

    def drop_flag(block, emit):
        return block

    return sentences.scan(initial, add_sentence).filter(is_block).map(drop_flag)


def _file_blocks(
    path, tfrecord, tokenizer, sequence_length, split, validation_fraction, line_batch
):
    capacity = sequence_length - 2
    batches = _tfrecord_lines(path) if tfrecord else _text_file_lines(path, line_batch)

    def tokenize(lines, documents, line_numbers):
        keep = tf.logical_and(
            tf.strings.length(tf.strings.strip(lines)) > 0,
            document_in_split(path, documents, split, validation_fraction),
        )
        keep = tf.logical_and(keep, _drop_invalid_utf8(lines, line_numbers, path))
        pieces, documents = _split_long_sentences(
            tokenizer.tokenize(tf.boolean_mask(lines, keep)),
            tf.boolean_mask(documents, keep),
            capacity,
        )
        return pieces.to_tensor(), pieces.row_lengths(), documents

    sentences = batches.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    return _pack_sentences(sentences, capacity)


def text_blocks(
    files,
    tokenizer,
    sequence_length=512,
    split="all",
    validation_fraction=0.02,
    shuffle_seed=None,
    shuffle_buffer=1000,
    cycle_length=4,
    input_context=None,
    line_batch=256,
):
    """A dataset of packed pre-training blocks from text files / TFRecord shards.

    Args:
        files: a path, glob, or list of them.
        tokenizer: a `SpanBertTokenizer`.
        sequence_length: int, block length including `[CLS]` and `[SEP]`.
        split: `"all"`, `"train"` or `"validation"`: documents are assigned
            to the validation split by a stable hash of (file name, document
            index), `validation_fraction` of them.
        shuffle_seed: None for file order and no shuffling, or an int / int64
            scalar tensor seeding the file and block shuffles. Both are
            stateless: the same seed gives the same order whatever the
            process' global seed (`Dataset.shuffle` cannot take a seed tensor
            once a global seed of 0 is set).
        shuffle_buffer: int, the block shuffle permutes consecutive windows
            of this many blocks.
        cycle_length: int, files read concurrently (interleave).
        input_context: optional `tf.distribute.InputContext`: each input
            pipeline reads its own shard of the files (falls back to block
            sharding when there are fewer files than pipelines).
        line_batch: int, lines tokenised per op call.

    Returns:
        A `tf.data.Dataset` of dicts `token_ids` int32 [L], `padding_mask`
        bool [L], `segment_ids` int32 [L] (zeros).

    Example:

    >>> import tempfile, os
    >>> from spanbert_keras.data.tokenizer import SpanBertTokenizer
    >>> path = os.path.join(tempfile.mkdtemp(), "corpus.txt")
    >>> with open(path, "w") as f:
    ...     _ = f.write("The cat sat.\\nThe cat sat.\\n\\nThe cat.\\n")
    >>> tokenizer = SpanBertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]",
    ...                                "[MASK]", "The", "cat", "sat", "."])
    >>> [b["token_ids"].tolist() for b in text_blocks(path, tokenizer, 8).as_numpy_iterator()]
    [[2, 5, 6, 7, 8, 3, 0, 0], [2, 5, 6, 7, 8, 3, 0, 0], [2, 5, 6, 8, 3, 0, 0, 0]]
    """
    paths = check_corpus_files(files)
    if sequence_length < 3:
        raise ValueError(
            f"`sequence_length` must be at least 3 ([CLS], a token, [SEP]). "
            f"Received: sequence_length={sequence_length}"
        )
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(
            f"`validation_fraction` must be in [0, 1). Received: {validation_fraction}"
        )
    vocabulary = tokenizer.vocabulary
    shard_blocks = False
    if input_context is not None and input_context.num_input_pipelines > 1:
        if len(paths) >= input_context.num_input_pipelines:
            paths = paths[input_context.input_pipeline_id :: input_context.num_input_pipelines]
        else:
            shard_blocks = True

    tfrecord = paths[0].endswith(TFRECORD_SUFFIXES)
    if any(p.endswith(TFRECORD_SUFFIXES) != tfrecord for p in paths):
        raise ValueError(
            "Corpus files must be all text files or all TFRecord shards "
            f"({', '.join(TFRECORD_SUFFIXES)}), not a mix. Received: {paths}"
        )
    file_names = tf.constant(paths)
    if shuffle_seed is not None:
        file_names = tf.random.experimental.stateless_shuffle(
            file_names, seed=_stateless_seed(shuffle_seed, -1)
        )
    file_names = tf.data.Dataset.from_tensor_slices(file_names)

    def blocks_of(path):
        return _file_blocks(
            path, tfrecord, tokenizer, sequence_length, split, validation_fraction, line_batch
        )

    blocks = file_names.interleave(
        blocks_of,
        cycle_length=min(cycle_length, len(paths)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if shard_blocks:
        blocks = blocks.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def to_block(ids):
        token_ids, padding_mask, _ = pack_ids(
            tf.RaggedTensor.from_tensor(ids[tf.newaxis, :]),
            sequence_length,
            vocabulary.cls_id,
            vocabulary.sep_id,
            vocabulary.pad_id,
        )
        return {
            "token_ids": tf.ensure_shape(token_ids[0], [sequence_length]),
            "padding_mask": tf.ensure_shape(padding_mask[0], [sequence_length]),
            "segment_ids": tf.zeros([sequence_length], tf.int32),
        }

    blocks = blocks.map(to_block, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle_seed is not None:
        blocks = _shuffle_windows(blocks, shuffle_buffer, shuffle_seed)
    return blocks


def pack_ids(token_ids, sequence_length, cls_id, sep_id, pad_id):
    """`[CLS] ids [SEP] [PAD]...` of exactly `sequence_length` ids, with core ops only.

    The one packing of the package: pre-training blocks, serving signatures
    and previews all use it. Core TensorFlow ops only (no tensorflow-text
    `RoundRobinTrimmer`, whose op TF Serving only links from 2.20).

    Args:
        token_ids: int32 `tf.RaggedTensor` [B, (T)], wordpieces without
            special tokens.
        sequence_length: int, the packed length (>= 3).
        cls_id, sep_id, pad_id: ints, the special ids of the vocabulary.

    Returns:
        `token_ids` int32 [B, sequence_length], `padding_mask` bool
        [B, sequence_length] (True on real tokens), `truncated` bool [B] (the
        row had more than `sequence_length - 2` wordpieces and was cut).

    Example:

    >>> import tensorflow as tf
    >>> ids, mask, cut = pack_ids(tf.ragged.constant([[7, 8, 9, 10], [7]]), 5,
    ...                           cls_id=2, sep_id=3, pad_id=0)
    >>> ids.numpy().tolist(), cut.numpy().tolist()
    ([[2, 7, 8, 9, 3], [2, 7, 3, 0, 0]], [True, False])
    """
    capacity = sequence_length - 2
    token_ids = tf.cast(token_ids, tf.int32)
    truncated = token_ids.row_lengths() > capacity
    body = token_ids[:, :capacity]
    ends = tf.ones([body.nrows(), 1], tf.int32)
    packed = tf.concat(
        [
            tf.RaggedTensor.from_tensor(ends * cls_id),
            body,
            tf.RaggedTensor.from_tensor(ends * sep_id),
        ],
        axis=1,
    )
    padded = packed.to_tensor(default_value=pad_id, shape=[None, sequence_length])
    padding_mask = tf.sequence_mask(packed.row_lengths(), sequence_length)
    return padded, padding_mask, truncated


def _stateless_seed(seed, index):
    """A stateless seed int64 [2] from a base seed and an index (both may be tensors)."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


def _shuffle_windows(blocks, window, seed):
    """Permutes each run of `window` consecutive blocks with its own stateless seed."""

    def permute(index, group):
        size = tf.shape(group["token_ids"])[0]
        order = tf.random.experimental.stateless_shuffle(
            tf.range(size), seed=_stateless_seed(seed, index)
        )
        return {key: tf.gather(value, order) for key, value in group.items()}

    return blocks.batch(window).enumerate().map(permute).unbatch()
