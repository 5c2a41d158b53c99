"""The whole pre-training input pipeline: files -> blocks -> batches -> span masks.

Masks are dynamic (new ones every epoch, as in the reference) and reproducible:
the examples of batch `b` of epoch `e` get stateless seeds drawn from

    fold_in(fold_in(fold_in([seed, 0], worker), e), b)

with the epoch and batch index carried by the pipeline itself, never by
Python or by a process-wide reshuffle counter. With `steps_per_epoch`, epoch `e` of the
dataset is exactly Keras' epoch `e` of `fit(..., steps_per_epoch=...)`, so a
run resumed at epoch `start_epoch` sees the batches an uninterrupted run
would have seen there, and never the masks of an earlier epoch again.
"""

import tensorflow as tf

from spanbert_keras.config import MaskingConfig
from spanbert_keras.data.packing import text_blocks
from spanbert_keras.data.pretraining_preprocessor import SpanBertPretrainingPreprocessor
from spanbert_keras.data.vocabulary import corpus_token_counts
from spanbert_keras.data.vocabulary import load_vocabulary


def batch_seed(seed, worker, epoch, batch_index):
    """The stateless seed int64 [2] of one batch (batch_index -1: the shuffle)."""
    fold = tf.random.experimental.stateless_fold_in
    base = tf.constant([seed, 0], tf.int64)
    return fold(fold(fold(base, worker), epoch), batch_index)


def example_seeds(seed, worker, epoch, batch_index, batch_size):
    """Per-example stateless seeds int64 [batch_size, 2] of one batch."""
    return tf.random.stateless_uniform(
        [batch_size, 2],
        seed=batch_seed(seed, worker, epoch, batch_index),
        minval=None,
        maxval=None,
        dtype=tf.int64,
    )


def pretraining_dataset(
    files,
    vocabulary=None,
    sequence_length=None,
    batch_size=256,
    masking=None,
    seed=0,
    split="train",
    validation_fraction=0.02,
    start_epoch=0,
    num_epochs=None,
    steps_per_epoch=None,
    shuffle=True,
    shuffle_buffer=1000,
    input_context=None,
    max_sequence_length=None,
    replacement_counts=None,
    max_pair_targets=None,
    preprocessor=None,
):
    """Builds the span-masked pre-training `tf.data.Dataset` for `model.fit`.

    The blocks are tokenised and masked by a `SpanBertPretrainingPreprocessor`:
    `preprocessor`, or the one these settings describe.

    Args:
        files: corpus text files / TFRecord shards (paths or globs).
        vocabulary: a `Vocabulary`, list of wordpieces or `vocab.txt` path.
        sequence_length: int, block length with `[CLS]` and `[SEP]` (512
            when None).
        batch_size: int, blocks per batch (per input pipeline when an
            `input_context` is given: use
            `input_context.get_per_replica_batch_size(global_batch)`).
        masking: a `MaskingConfig` (SpanBERT's defaults when None).
        seed: int, base seed of shuffling and masking.
        split: `"train"`, `"validation"` or `"all"` documents.
        validation_fraction: float, share of documents held out.
        start_epoch: int, the first epoch's number (resume here).
        num_epochs: int or None (repeat forever).
        steps_per_epoch: int or None. None: an epoch is one pass over the
            corpus. An int: an epoch is exactly that many batches, taken
            from as many passes over the corpus as needed (each pass
            reshuffled), as `fit(..., steps_per_epoch=...)` consumes them.
        shuffle: bool, shuffle files and blocks (with a per-epoch seed).
        shuffle_buffer: int, blocks held by the shuffle.
        input_context: optional `tf.distribute.InputContext`.
        max_sequence_length: optional int; `sequence_length` may not
            exceed it (the model's position table).
        replacement_counts: the corpus' token counts
            (`corpus_token_counts(files, vocabulary)`), the distribution of
            the random replacement tokens when
            `masking.random_token_distribution` is "unigram" (the default).
            None: counted here, over all of `files` (a second or so per
            4 MB); pass them to share one count between datasets.
        max_pair_targets: int, the rows of the model's SBO position table
            (`ModelConfig.max_pair_targets`, 15 when None): targets further
            into a span get no SBO target.
        preprocessor: a `SpanBertPretrainingPreprocessor` (a run's
            `model.preprocessor`) instead of `vocabulary`, `sequence_length`,
            `masking`, `replacement_counts` and `max_pair_targets`, which
            must then be left out.

    Returns:
        A dataset of dict batches (`SpanMasker`'s outputs), fixed shapes,
        `drop_remainder=True`, prefetched.
    """
    preprocessor = _preprocessor_of(preprocessor, files, vocabulary, sequence_length, masking,
                                    replacement_counts, max_pair_targets)
    sequence_length = preprocessor.sequence_length
    if max_sequence_length is not None and sequence_length > max_sequence_length:
        raise ValueError(
            f"`sequence_length`={sequence_length} exceeds the model's position table "
            f"of {max_sequence_length} positions."
        )
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive. Received: {batch_size}")
    worker = input_context.input_pipeline_id if input_context is not None else 0

    def one_epoch(epoch):
        shuffle_seed = None
        if shuffle:
            shuffle_seed = tf.cast(batch_seed(seed, worker, epoch, -1)[0], tf.int64)
        blocks = text_blocks(
            files,
            preprocessor.tokenizer,
            sequence_length=sequence_length,
            split=split,
            validation_fraction=validation_fraction,
            shuffle_seed=shuffle_seed,
            shuffle_buffer=shuffle_buffer,
            input_context=input_context,
        )
        if steps_per_epoch is not None:
            # Passes over the corpus until the epoch is full; the seeded
            # shuffle reorders each pass. (An empty corpus ends, not hangs.)
            blocks = blocks.repeat()
        batches = blocks.batch(batch_size, drop_remainder=True).enumerate()
        if steps_per_epoch is not None:
            batches = batches.take(steps_per_epoch)

        def mask(batch_index, batch):
            batch["seed"] = example_seeds(seed, worker, epoch, batch_index, batch_size)
            return preprocessor.mask(batch)

        return batches.map(mask, num_parallel_calls=tf.data.AUTOTUNE)

    last = tf.int64.max if num_epochs is None else start_epoch + num_epochs
    epochs = tf.data.Dataset.range(start_epoch, last)
    return epochs.flat_map(one_epoch).prefetch(tf.data.AUTOTUNE)


def _preprocessor_of(preprocessor, files, vocabulary, sequence_length, masking,
                     replacement_counts, max_pair_targets):
    """`preprocessor`, or the one the settings describe (counting `files` for "unigram")."""
    settings = dict(vocabulary=vocabulary, sequence_length=sequence_length, masking=masking,
                    replacement_counts=replacement_counts, max_pair_targets=max_pair_targets)
    if preprocessor is not None:
        given = sorted(name for name, value in settings.items() if value is not None)
        if given:
            raise ValueError(f"Pass either `preprocessor` or {given}: the preprocessor "
                             "holds them.")
        return preprocessor
    if vocabulary is None:
        raise ValueError("Pass a `vocabulary` (or a `preprocessor`).")
    masking = masking or MaskingConfig()
    vocabulary = load_vocabulary(vocabulary)
    if masking.random_token_distribution == "unigram" and replacement_counts is None:
        replacement_counts = corpus_token_counts(files, vocabulary)
    return SpanBertPretrainingPreprocessor.from_masking_config(
        vocabulary, masking, replacement_counts,
        sequence_length=512 if sequence_length is None else sequence_length,
        max_pair_targets=15 if max_pair_targets is None else max_pair_targets,
    )


def finite_batches(dataset, max_batches=None):
    """Takes up to `max_batches` batches and records how many there are.

    Keras 3.15's `evaluate` (and `fit`'s validation) averages in one extra,
    zero-valued step at the end of a dataset whose length is unknown, which
    biases the logged held-out losses low (measured: 2 batches gave 2/3 of
    the true mean). Every held-out dataset of this package is passed through
    here, which counts its batches once and asserts that cardinality. The
    batches are cached in memory by that first pass, so evaluating (every
    epoch, during `fit`) does not tokenise and mask them again; held-out
    data must therefore have fixed masks and fit in memory.

    Returns:
        (dataset with known cardinality, number of batches).
    """
    if max_batches is not None:
        dataset = dataset.take(max_batches)
    dataset = dataset.cache()
    count = sum(1 for _ in dataset)
    return dataset.apply(tf.data.experimental.assert_cardinality(count)), count
