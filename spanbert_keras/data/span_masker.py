"""SpanBERT's span masking and span-boundary targets, in-graph and seeded."""

import dataclasses
import math
import random
import warnings

import keras
import numpy as np
import tensorflow as tf

from spanbert_keras.data.span_targets import _arange
from spanbert_keras.data.span_targets import _dim
from spanbert_keras.data.span_targets import _lower_bound
from spanbert_keras.data.span_targets import span_targets
from spanbert_keras.data.vocabulary import load_vocabulary

SCHEMES = ("span", "whole_word", "token")
MAX_LENGTH = 2**15  # running counts share an int32 in 16-bit fields
INPUT_KEYS = ("token_ids", "padding_mask", "segment_ids", "seed")
TARGET_KEYS = (
    "mask_positions",
    "mask_ids",
    "mask_weights",
    "span_boundaries",
    "span_offsets",
    "sbo_weights",
)
OUTPUT_KEYS = ("token_ids", "padding_mask", "segment_ids") + TARGET_KEYS

# Counter-based random numbers: SplitMix64 on (per-example key + counter), one
# independent stream per purpose. Pure elementwise uint64 ops, so every example
# of a batch gets its own stateless stream without a loop over the batch.
_GOLDEN = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
_STREAM_CANDIDATES = 1
_STREAM_REPLACEMENT = 2
_STREAM_INPUT_HASH = 4
_ACCEPTANCE_STEPS = 6
# Draws take 32 random bits: uniform floats are multiples of 2**-32, and the
# inverse CDF of the random tokens' distribution is tabulated in those units.
_SCALE = 2**32


def _u64(value):
    return tf.constant(value, tf.uint64)


def _mix64(x):
    """SplitMix64's finaliser: a bijective 64-bit hash (uint64 in, uint64 out)."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u64(30))) * _u64(_MIX_1)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u64(27))) * _u64(_MIX_2)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u64(31)))


def _random_bits(keys, stream, counters):
    """64 random bits per (example, counter).

    Args:
        keys: uint64 [B], one key per example.
        stream: Python int, the purpose of the draw.
        counters: int [N] or [B, N], non-negative.

    Returns:
        uint64 [B, N].
    """
    counters = tf.cast(counters, tf.uint64) + _u64(stream << 40)
    if counters.shape.rank == 1:
        counters = counters[tf.newaxis, :]
    return _mix64(keys[:, tf.newaxis] + counters * _u64(_GOLDEN))


def _high_bits(bits):
    """The high 32 bits, as uint64."""
    return tf.bitwise.right_shift(bits, _u64(32))


def _uniform_int(bits, upper):
    """Uniform ints in [0, upper) from the high 32 bits (multiply-shift)."""
    upper = tf.cast(upper, tf.uint64)
    return tf.cast(tf.bitwise.right_shift(_high_bits(bits) * upper, _u64(32)), tf.int32)


def _uniform_float(bits):
    """Uniform float64 in [0, 1) from the low 32 bits."""
    low = tf.bitwise.bitwise_and(bits, _u64(0xFFFFFFFF))
    return tf.cast(low, tf.float64) * (1.0 / _SCALE)


def _running_counts(maskable, word_start):
    """Inclusive running counts along axis 1 of maskable positions and word starts.

    One scan instead of two: both counts (< 2**15) share an int32.
    """
    packed = tf.cast(maskable, tf.int32) + tf.cast(word_start, tf.int32) * 65536
    packed = tf.cumsum(packed, axis=1)
    return tf.bitwise.bitwise_and(packed, 65535), tf.bitwise.right_shift(packed, 16)


def _replacement_table(weights):
    """(ids, thresholds) of the inverse CDF of a distribution over ids.

    Args:
        weights: int64 [V], non-negative, some positive.

    Returns:
        ids int32 [n] (the ids of positive weight) and thresholds int64
        [1, n]: id `ids[i]` is drawn for the 32-bit numbers `r` with
        `thresholds[i - 1] <= r < thresholds[i]`, so with probability
        `weights / weights.sum()` to within 2**-32.
    """
    ids = np.flatnonzero(weights > 0)
    cumulative = np.cumsum(weights[ids]).astype(np.float64)
    thresholds = np.floor(cumulative / cumulative[-1] * _SCALE).astype(np.int64)
    return ids.astype(np.int32), thresholds[np.newaxis, :]


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanMasker(keras.layers.Layer):
    """Masks packed blocks the SpanBERT way and emits MLM and SBO targets.

    A preprocessing layer (TensorFlow ops only: usable in `tf.data.Dataset.map`,
    under `tf.function` and in an exported SavedModel) that takes packed blocks
    `[CLS] wordpieces [SEP] [PAD]...` and returns the masked input plus, for
    every prediction target, the original token, the positions of the two
    tokens just outside its merged span and its offset inside the span.

    The span scheme is the authors' reference procedure (their fairseq
    `masking.py`, `PairWithSpanMaskingScheme` with span replacement) per
    block. The block's text is its maskable tokens: the wordpieces and [UNK]
    (which the reference masks like any word), not [CLS], [SEP], [PAD],
    [MASK] or the reserved [unusedN] pieces (`Vocabulary.is_maskable`). The
    budget is `ceil(mask_rate * n)` of its `n` maskable tokens, clipped to
    `max_predictions`, and is met exactly. Spans are drawn one after another:
    a length of `l` words from a geometric distribution truncated to
    `[1, max_span_words]` (renormalised), an anchor uniform over the maskable
    tokens (drawn again, length too, if already masked), then the `l` whole
    words from the start of the anchor's word, token by token (tokens already
    masked are passed over: they count in the span's words but not in the
    budget), stopping the moment the budget is used, so the last span may end
    inside a word. Overlapping or adjacent spans merge.

    In-graph, with no loop or branch: a batch of candidate spans is drawn at
    once, in the reference's order, and its sequential rules are applied to
    them in parallel: a candidate whose anchor an accepted earlier candidate
    covers is dropped, as the reference draws again, and tokens are taken in
    order until the budget is used. What differs from the reference:
        - two events in which the masks would depart from it, neither of which
          occurred in 5,340 blocks of 512 tokens at the default rates (the
          same masks came out with ten times the acceptance steps, and with
          four times the candidates): a chain of more than 6 successive
          covers among the candidates, which the fixed number of acceptance
          steps leaves unsettled (1 block in 2,700 has a chain of 3); and a
          block that needs more candidates than were drawn (22 +- 4 needed,
          51 drawn), whose budget the first free tokens then complete;
        - the random numbers: counter-based streams (SplitMix64) instead of
          NumPy's global generator, with 32-bit draws (anchor and span-length
          probabilities exact to within 2**-32);
        - the reference's blocks hold nothing but text; here a non-maskable
          token inside the block ([SEP], an [unusedN] marker) ends a span as
          the block's end does, and [CLS]/[SEP] serve as SBO boundaries
          (below).
    Against a NumPy transcription of the reference, on 71,000 blocks of 512
    tokens of English text with 1.1% [UNK]: merged span lengths at total
    variation 0.0013 in words and 0.0016 in pieces, mean 3.9216 words against
    3.9221; the reference against itself with other seeds: 0.0011, 0.0012,
    3.9224.

    Replacement is decided once per merged span ("span", "whole_word") or per
    token ("token"): `mask_token_rate` of the time every token becomes
    [MASK], `random_token_rate` every token becomes a random token, otherwise
    the tokens stay; all of them are targets either way. Random tokens are
    drawn per token from the corpus' token distribution when
    `replacement_counts` is given (as the reference, which picks them from
    the corpus' token stream; see `corpus_token_counts`), else uniformly over
    the maskable ids. Only maskable ids are drawn ([UNK] included).

    Schemes:
        - `"span"`: SpanBERT (above).
        - `"whole_word"`: the same procedure with every span exactly one word
          (words are chosen by a uniform anchor token, as in the reference code
          run with span length 1); words are only split by the budget cut.
        - `"token"`: BERT: `budget` distinct maskable tokens chosen uniformly,
          replacement decided per token.

    Span boundary objective (SBO) targets (the rule of `span_targets`): for a
    target inside the merged span `s..e` the boundaries are the positions
    `(s - 1, e + 1)`, clipped into `[0, L - 1]`, and the offset is `i - s`.
    **Boundary choice:** spans that touch the edge of the content use [CLS]
    (position 0) or [SEP] as their outside token, so with [CLS]/[SEP] present
    every span gets SBO targets (the reference, whose blocks lack [CLS]/[SEP],
    drops such spans). A target has `sbo_weights == 1` when `offset <
    max_pair_targets` and both boundary positions are real (non-padding)
    positions inside the block.

    Randomness is stateless and per example, so a block's masks depend only on
    its seed and its tokens (not on the batch it is in, the padding length or
    the device):
        - `inputs["seed"]` (int32/int64 `[B, 2]` or `[2]`): the per-example seed
          the pipeline passes, e.g. `fold_in(fold_in(fold_in(base, worker),
          epoch), example_index)`; the layer's `seed` argument is then not used.
          Same seed and block -> same masks; another seed (another epoch) ->
          other masks.
        - no `"seed"`: the seed is derived from the layer's `seed` and a hash of
          the block's tokens, so the same layer masks the same block the same
          way every time (static masking). With `seed=None` a random base is
          drawn when the layer is created. Pass per-example seeds for dynamic
          masking (different masks each epoch).

    Input shapes: a dict with `"token_ids"` int `[B, L]` or `[L]`,
    `"padding_mask"` bool `[B, L]` or `[L]` (optional: `token_ids != [PAD]`),
    optionally `"segment_ids"` (passed through; zeros if absent) and `"seed"`.

    Args:
        vocabulary: a `Vocabulary`, a list of wordpieces or the path of a
            `vocab.txt`. Special ids and the word-continuation (`##`) flags are
            looked up in it.
        mask_rate: float in (0, 1], the fraction of maskable tokens to mask.
        geometric_p: float in (0, 1], the geometric distribution's parameter.
        max_span_words: int >= 1, the longest span in words.
        max_predictions: int or None, `P`, the number of target slots. None:
            `SpanMasker.default_max_predictions(L, mask_rate)` =
            `max(1, ceil(mask_rate * (L - 2)))`, enough for a full block of
            length `L` with [CLS] and [SEP]. If a block's budget exceeds `P` it
            is clipped to `P` (with a warning when `L` is static).
        max_pair_targets: int >= 1, targets per span that get an SBO target
            (the size of the SBO position table).
        mask_token_rate: float, the probability of replacement by [MASK].
        random_token_rate: float, the probability of replacement by a random
            token. The two rates are applied in this order, so the random rate
            in effect is `min(random_token_rate, 1 - mask_token_rate)`
            (`mask_token_rate=1.0` alone forces [MASK] everywhere).
        scheme: "span", "whole_word" or "token".
        seed: int or None, the base seed used when inputs carry no `"seed"`.
        replacement_counts: None, or non-negative ints `[V]` (a list or an
            array, one per id of `vocabulary`): how often each id occurs in
            the corpus (`corpus_token_counts`). Random tokens are drawn with
            these frequencies; the counts of non-maskable ids are taken as 0
            (and so kept in the config). None: uniform over the maskable ids.

    Call arguments:
        inputs: the dict described above.

    Returns:
        A dict (batched like the input):
        `token_ids` int32 `[B, L]` (after replacement), `padding_mask` bool
        `[B, L]`, `segment_ids` int32 `[B, L]`, `mask_positions` int32
        `[B, P]` (ascending, padded with 0), `mask_ids` int32 `[B, P]` (the
        original tokens), `mask_weights` float32 `[B, P]`, `span_boundaries`
        int32 `[B, P, 2]`, `span_offsets` int32 `[B, P]`, `sbo_weights`
        float32 `[B, P]`. Padding slots hold 0 everywhere.

    Example:

    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...          "the", "cat", "sat", "on", "mat", "##s"]
    >>> masker = SpanMasker(vocab, mask_rate=1.0, mask_token_rate=1.0)
    >>> out = masker({"token_ids": [2, 5, 6, 10, 7, 3, 0],
    ...               "padding_mask": [1, 1, 1, 1, 1, 1, 0],
    ...               "seed": [1, 2]})
    >>> out["token_ids"].numpy().tolist()
    [2, 4, 4, 4, 4, 3, 0]
    >>> out["mask_positions"].numpy().tolist()
    [1, 2, 3, 4, 0]
    >>> out["span_boundaries"].numpy()[:, 0].tolist()
    [0, 0, 0, 0, 0]
    >>> out["span_offsets"].numpy().tolist()
    [0, 1, 2, 3, 0]

    References:
        - Joshi et al., "SpanBERT: Improving Pre-training by Representing and
          Predicting Spans", TACL 2020.
    """

    def __init__(
        self,
        vocabulary,
        mask_rate=0.15,
        geometric_p=0.2,
        max_span_words=10,
        max_predictions=None,
        max_pair_targets=15,
        mask_token_rate=0.8,
        random_token_rate=0.1,
        scheme="span",
        seed=None,
        replacement_counts=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

        vocab = load_vocabulary(vocabulary)
        _check_number("mask_rate", mask_rate, 0.0, 1.0, low_open=True)
        _check_number("geometric_p", geometric_p, 0.0, 1.0, low_open=True)
        _check_int("max_span_words", max_span_words, 1)
        if max_predictions is not None:
            _check_int("max_predictions", max_predictions, 1)
        _check_int("max_pair_targets", max_pair_targets, 1)
        _check_number("mask_token_rate", mask_token_rate, 0.0, 1.0)
        _check_number("random_token_rate", random_token_rate, 0.0, 1.0)
        if scheme not in SCHEMES:
            raise ValueError(f"`scheme` must be one of {SCHEMES}. Received: scheme={scheme!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        maskable = vocab.is_maskable
        if replacement_counts is not None:
            replacement_counts = np.where(
                maskable, _check_counts(replacement_counts, vocab.size), 0
            )
            if not replacement_counts.any():
                raise ValueError(
                    "`replacement_counts` gives no maskable id (a wordpiece or [UNK]) a "
                    "positive count: there is nothing to draw random tokens from."
                )

        self.vocabulary = vocab
        self.mask_rate = float(mask_rate)
        self.geometric_p = float(geometric_p)
        self.max_span_words = int(max_span_words)
        self.max_predictions = None if max_predictions is None else int(max_predictions)
        self.max_pair_targets = int(max_pair_targets)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.scheme = scheme
        self.seed = None if seed is None else int(seed)
        self.replacement_counts = replacement_counts
        self._base_seed = self.seed if self.seed is not None else random.getrandbits(63)
        self._warned_clip = False

        self.mask_id = vocab.mask_id
        self.pad_id = vocab.pad_id
        # Per-id flags: bit 0 not maskable, bit 1 word continuation.
        self._token_flags = tf.constant(
            (~maskable).astype(np.int32) + 2 * vocab.is_continuation.astype(np.int32)
        )
        weights = maskable.astype(np.int64) if replacement_counts is None else replacement_counts
        ids, thresholds = _replacement_table(weights)
        self._replacement_ids = tf.constant(ids)
        self._replacement_thresholds = tf.constant(thresholds)
        lengths = np.arange(1, self.max_span_words + 1)
        probs = self.geometric_p * (1.0 - self.geometric_p) ** (lengths - 1)
        cdf = np.cumsum(probs / probs.sum())
        self._length_cdf = tf.constant(cdf[:-1], tf.float64)
        self.built = True

    # ------------------------------------------------------------------ API

    @classmethod
    def from_masking_config(cls, vocabulary, masking, replacement_counts=None, **kwargs):
        """The masker a `MaskingConfig` describes.

        Args:
            vocabulary: a `Vocabulary`, a list of wordpieces or a `vocab.txt` path.
            masking: a `MaskingConfig`.
            replacement_counts: the corpus' token counts
                (`corpus_token_counts(files, vocabulary)`, computed once per
                run) when `masking.random_token_distribution` is "unigram";
                None when it is "uniform".
            **kwargs: other layer arguments (`seed`, `name`, ...).

        Example:

        >>> from spanbert_keras.config import MaskingConfig
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"]
        >>> masker = SpanMasker.from_masking_config(vocab, MaskingConfig(),
        ...                                         replacement_counts=[0, 1, 0, 0, 0, 5, 2])
        >>> masker.replacement_counts.tolist(), masker.mask_rate
        ([0, 1, 0, 0, 0, 5, 2], 0.15)
        """
        arguments = dataclasses.asdict(masking)
        distribution = arguments.pop("random_token_distribution")
        if (distribution == "unigram") != (replacement_counts is not None):
            raise ValueError(
                f"random_token_distribution={distribution!r} "
                + (
                    "draws random tokens from the corpus' token counts: pass "
                    "`replacement_counts=corpus_token_counts(files, vocabulary)`."
                    if distribution == "unigram"
                    else "takes no `replacement_counts`."
                )
            )
        return cls(vocabulary, replacement_counts=replacement_counts, **arguments, **kwargs)

    @staticmethod
    def default_max_predictions(sequence_length, mask_rate=0.15):
        """`P` for blocks of length `L` with [CLS]/[SEP]: `max(1, ceil(mask_rate * (L - 2)))`."""
        return max(1, math.ceil(mask_rate * (int(sequence_length) - 2)))

    def max_predictions_for(self, sequence_length):
        """The number of target slots this layer emits for blocks of `sequence_length`."""
        if self.max_predictions is not None:
            return self.max_predictions
        return self.default_max_predictions(sequence_length, self.mask_rate)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": list(self.vocabulary.tokens),
                "mask_rate": self.mask_rate,
                "geometric_p": self.geometric_p,
                "max_span_words": self.max_span_words,
                "max_predictions": self.max_predictions,
                "max_pair_targets": self.max_pair_targets,
                "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate,
                "scheme": self.scheme,
                "seed": self.seed,
                "replacement_counts": None
                if self.replacement_counts is None
                else self.replacement_counts.tolist(),
            }
        )
        return config

    def compute_output_shape(self, input_shape):
        shape = input_shape["token_ids"] if isinstance(input_shape, dict) else input_shape
        shape = tuple(shape)
        length = shape[-1]
        slots = self.max_predictions
        if slots is None and length is not None:
            slots = self.default_max_predictions(length, self.mask_rate)
        lead = shape[:-1]
        return {
            "token_ids": shape,
            "padding_mask": shape,
            "segment_ids": shape,
            "mask_positions": lead + (slots,),
            "mask_ids": lead + (slots,),
            "mask_weights": lead + (slots,),
            "span_boundaries": lead + (slots, 2),
            "span_offsets": lead + (slots,),
            "sbo_weights": lead + (slots,),
        }

    # ----------------------------------------------------------------- call

    def __call__(self, inputs, *args, **kwargs):
        # Keras refuses a dict mixing tensors with arrays or lists: convert first.
        if isinstance(inputs, dict):
            inputs = {
                key: value
                if value is None or tf.is_tensor(value) or isinstance(value, tf.RaggedTensor)
                else _dense(value, key)
                for key, value in inputs.items()
            }
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs):
        token_ids, padding_mask, segment_ids, seeds, unbatched = self._check_inputs(inputs)
        batch = _dim(token_ids, 0)
        length = _dim(token_ids, 1)
        slots = self._slots(token_ids)
        keys = self._example_keys(token_ids, padding_mask, seeds)

        flags = tf.gather(self._token_flags, token_ids)
        maskable = padding_mask & tf.equal(tf.bitwise.bitwise_and(flags, 1), 0)
        if self.scheme == "token":
            num_maskable = tf.reduce_sum(tf.cast(maskable, tf.int32), axis=1)
        else:
            continuation = tf.not_equal(tf.bitwise.bitwise_and(flags, 2), 0)
            previous = tf.pad(maskable[:, :-1], [[0, 0], [1, 0]])
            word_start = maskable & (~continuation | ~previous)
            maskable_count, word_count = _running_counts(maskable, word_start)
            num_maskable = maskable_count[:, -1]
        budget = tf.cast(
            tf.math.ceil(tf.cast(num_maskable, tf.float64) * self.mask_rate), tf.int32
        )
        budget = tf.minimum(budget, slots)
        # The largest budget a block of this length can have.
        if isinstance(slots, int) and token_ids.shape[1] is not None:
            max_budget = min(slots, math.ceil(self.mask_rate * token_ids.shape[1]))
        else:
            max_budget = tf.minimum(
                slots, tf.cast(tf.math.ceil(tf.cast(length, tf.float64) * self.mask_rate), tf.int32)
            )
        if self.scheme == "token":
            mask = self._select_tokens(keys, maskable, budget, max_budget)
        else:
            mask = self._select_spans(
                keys, maskable, maskable_count, word_count, num_maskable, budget, max_budget
            )

        targets = span_targets(mask, padding_mask, self.max_pair_targets, slots)
        positions = targets["mask_positions"]
        valid = targets["mask_weights"] > 0
        flat_positions = positions + _arange(batch)[:, tf.newaxis] * length
        original = tf.gather(tf.reshape(token_ids, [-1]), flat_positions)

        # Random draws per target: the high half picks the random token, the
        # low half decides the replacement (a span's: its first token's).
        bits = _random_bits(keys, _STREAM_REPLACEMENT, positions)
        if self.scheme != "token":
            starts = positions - targets["span_offsets"]
            decision = _uniform_float(_random_bits(keys, _STREAM_REPLACEMENT, starts))
        else:
            decision = _uniform_float(bits)
        replaced = tf.where(
            decision < self.mask_token_rate,
            self.mask_id,
            tf.where(
                decision < self.mask_token_rate + self.random_token_rate,
                self._random_tokens(bits),
                original,
            ),
        )
        change = tf.where(valid, replaced - original, 0)
        masked_ids = token_ids + tf.reshape(
            tf.math.unsorted_segment_sum(change, flat_positions, batch * length),
            [batch, length],
        )
        outputs = {
            "token_ids": masked_ids,
            "padding_mask": padding_mask,
            "segment_ids": segment_ids,
            "mask_positions": positions,
            "mask_ids": tf.where(valid, original, tf.zeros_like(original)),
        }
        outputs.update({key: targets[key] for key in TARGET_KEYS if key not in outputs})
        if unbatched:
            outputs = {k: tf.squeeze(v, axis=0) for k, v in outputs.items()}
        return outputs

    # ------------------------------------------------------------- helpers

    def _check_inputs(self, inputs):
        if not isinstance(inputs, dict):
            raise ValueError(
                "SpanMasker expects a dict with 'token_ids' and 'padding_mask'. "
                f"Received: {type(inputs).__name__}"
            )
        unknown = sorted(set(inputs) - set(INPUT_KEYS))
        if unknown:
            raise ValueError(
                f"SpanMasker got unknown input keys {unknown}; expected some of {INPUT_KEYS}."
            )
        if "token_ids" not in inputs:
            raise ValueError("SpanMasker needs inputs['token_ids'].")
        token_ids = _dense_int(inputs["token_ids"], "token_ids")
        rank = token_ids.shape.rank
        if rank not in (1, 2):
            raise ValueError(
                "inputs['token_ids'] must have shape [L] or [B, L]. "
                f"Received shape: {token_ids.shape}"
            )
        unbatched = rank == 1
        if unbatched:
            token_ids = token_ids[tf.newaxis, :]
        if token_ids.shape[1] is not None and token_ids.shape[1] >= MAX_LENGTH:
            raise ValueError(
                f"SpanMasker handles blocks of fewer than {MAX_LENGTH} tokens. "
                f"Received length {token_ids.shape[1]}."
            )
        if inputs.get("padding_mask") is None:
            padding_mask = tf.not_equal(token_ids, self.pad_id)
        else:
            padding_mask = _dense(inputs["padding_mask"], "padding_mask")
            if padding_mask.dtype != tf.bool:
                if not (padding_mask.dtype.is_integer):
                    raise ValueError(
                        "inputs['padding_mask'] must be bool (or integer 0/1). "
                        f"Received dtype: {padding_mask.dtype.name}"
                    )
                padding_mask = tf.not_equal(padding_mask, 0)
            if unbatched:
                padding_mask = padding_mask[tf.newaxis, ...]
            _check_same_shape(token_ids, padding_mask, "padding_mask")
        if inputs.get("segment_ids") is None:
            segment_ids = tf.zeros_like(token_ids)
        else:
            segment_ids = _dense_int(inputs["segment_ids"], "segment_ids")
            if unbatched:
                segment_ids = segment_ids[tf.newaxis, ...]
            _check_same_shape(token_ids, segment_ids, "segment_ids")
        seeds = None
        if inputs.get("seed") is not None:
            seeds = _dense_int(inputs["seed"], "seed", dtype=None)
            expected_rank = 1 if unbatched else 2
            if seeds.shape.rank != expected_rank or seeds.shape[-1] not in (2, None):
                raise ValueError(
                    "inputs['seed'] must have shape [2] (unbatched) or [B, 2]. "
                    f"Received shape: {seeds.shape} for token_ids of shape "
                    f"{token_ids.shape[1:] if unbatched else token_ids.shape}"
                )
            if unbatched:
                seeds = seeds[tf.newaxis, :]
        return token_ids, padding_mask, segment_ids, seeds, unbatched

    def _slots(self, token_ids):
        static_length = token_ids.shape[1]
        if static_length is not None:
            slots = self.max_predictions_for(static_length)
            needed = math.ceil(self.mask_rate * max(static_length - 2, 0))
            if self.max_predictions is not None and needed > slots and not self._warned_clip:
                self._warned_clip = True
                warnings.warn(
                    f"max_predictions={slots} is smaller than the masking budget of a "
                    f"full block of length {static_length} ({needed} = ceil("
                    f"{self.mask_rate} * {static_length - 2})); budgets are clipped to "
                    f"{slots}.",
                    stacklevel=2,
                )
            return slots
        if self.max_predictions is not None:
            return self.max_predictions
        length = tf.shape(token_ids)[1]
        slots = tf.math.ceil(tf.cast(length - 2, tf.float64) * self.mask_rate)
        return tf.maximum(tf.cast(slots, tf.int32), 1)

    def _example_keys(self, token_ids, padding_mask, seeds):
        """One uint64 key per example."""
        if seeds is not None:
            seeds = tf.bitcast(tf.cast(seeds, tf.int64), tf.uint64)
            return _mix64(seeds[:, 0] * _u64(_MIX_1) + seeds[:, 1])
        # Static masking: a hash of the block's tokens and the layer's base seed.
        length = _dim(token_ids, 1)
        base = tf.fill(tf.shape(token_ids)[:1], _u64(self._base_seed))
        values = tf.cast(tf.where(padding_mask, token_ids + 1, 0), tf.uint64)
        bits = _random_bits(base, _STREAM_INPUT_HASH, _arange(length))
        return _mix64(base + tf.reduce_sum(_mix64(bits + values), axis=1))

    def _select_tokens(self, keys, maskable, budget, max_budget):
        """BERT: `budget` distinct maskable positions, uniformly."""
        length = _dim(maskable, 1)
        bits = _random_bits(keys, _STREAM_CANDIDATES, _arange(length))
        scores = tf.where(
            maskable, tf.cast(tf.bitwise.right_shift(bits, _u64(1)), tf.int64), -1
        )
        k = max_budget
        _, chosen = tf.math.top_k(scores, k=k)
        keep = tf.range(k)[tf.newaxis, :] < budget[:, tf.newaxis]
        rows = tf.broadcast_to(tf.range(tf.shape(maskable)[0])[:, tf.newaxis], tf.shape(chosen))
        indices = tf.stack([rows, chosen], axis=-1)
        selected = tf.scatter_nd(indices, tf.cast(keep, tf.int32), tf.shape(maskable))
        return selected > 0

    def _random_tokens(self, bits):
        """Random replacement ids [B, P] from the high halves of `bits` (inverse CDF)."""
        draws = tf.cast(_high_bits(bits), tf.int64) + 1
        index = _lower_bound(self._replacement_thresholds, tf.reshape(draws, [1, -1]))
        return tf.gather(self._replacement_ids, tf.reshape(index, tf.shape(bits)))

    def _candidates_per_block(self, max_budget):
        """How many candidate spans are drawn per block, for budgets up to `max_budget`.

        The reference needs about `S = budget / E[span words]` accepted spans,
        plus the anchors it draws again; this leaves a margin of many standard
        deviations (measured on English text: 22 +- 4 candidates for 512-token
        blocks at the default rates, against 51 drawn).
        """
        lengths = np.arange(1, self.max_span_words + 1)
        probs = self.geometric_p * (1.0 - self.geometric_p) ** (lengths - 1)
        mean_words = 1.0 if self.scheme == "whole_word" else float(lengths @ probs / probs.sum())
        rejection = 1.0 / (1.0 - min(self.mask_rate, 0.9))
        if isinstance(max_budget, int):
            spans = max_budget / mean_words
            return math.ceil(1.2 * spans * rejection + 4.0 * math.sqrt(spans)) + 8
        spans = tf.cast(max_budget, tf.float64) / mean_words
        return tf.cast(tf.math.ceil(1.2 * spans * rejection + 4.0 * tf.sqrt(spans)), tf.int32) + 8

    def _select_spans(
        self, keys, maskable, maskable_count, word_count, num_maskable, budget, max_budget
    ):
        """The reference span loop, applied to a batch of candidate spans at once.

        Args:
            maskable_count, word_count: int32 [B, L], running counts of the
                maskable positions and of the word starts.

        Returns:
            bool [B, L], the masked positions.
        """
        batch = _dim(maskable_count, 0)
        length = _dim(maskable_count, 1)
        whole_word = self.scheme == "whole_word"
        per_round = self._candidates_per_block(max_budget)
        candidate = _arange(per_round)
        earlier = candidate[tf.newaxis, :] < candidate[:, tf.newaxis]  # [k, j]: j < k
        row_offset = _arange(batch)[:, tf.newaxis] * length
        # Running count of non-maskable positions ([CLS], [SEP], padding).
        barrier_count = (_arange(length) + 1) - maskable_count

        # The candidates, in the order the reference would draw them: a length
        # in words and an anchor uniform over the maskable positions; the span
        # runs from the first piece of the anchor's word over whole words, up to
        # the next non-maskable position ([SEP]).
        bits = _random_bits(keys, _STREAM_CANDIDATES, candidate)
        rank = _uniform_int(bits, num_maskable[:, tf.newaxis])
        anchor = tf.minimum(_lower_bound(maskable_count, rank + 1), length - 1)
        if whole_word:
            span_words = tf.ones_like(anchor)
        else:
            uniform = _uniform_float(bits)[:, :, tf.newaxis]
            span_words = 1 + tf.reduce_sum(tf.cast(uniform >= self._length_cdf, tf.int32), axis=2)
        flat_anchor = anchor + row_offset
        word = tf.gather(tf.reshape(word_count, [-1]), flat_anchor)
        start = _lower_bound(word_count, word)
        barrier = tf.gather(tf.reshape(barrier_count, [-1]), flat_anchor)
        end = tf.minimum(  # exclusive
            _lower_bound(word_count, word + span_words),
            _lower_bound(barrier_count, barrier + 1),
        )

        # Sequential acceptance: candidate k is drawn again (rejected) if an
        # accepted earlier candidate covers its anchor. The system is
        # triangular; Jacobi iterations from "all accepted" reach its one
        # solution after as many steps as the longest chain of covers, which
        # is short (measured on 512-token blocks at the default rates: 1 block
        # in 27 needs 2 steps, 1 in 2,700 needs 3, none of 5,340 needs 4; at
        # mask_rate=0.4 1 in 5,340 needs 6). Unrolled, because a loop costs
        # inside tf.data even when it does not iterate (about 6% here).
        inside = (
            (start[:, tf.newaxis, :] <= anchor[:, :, tf.newaxis])
            & (anchor[:, :, tf.newaxis] < end[:, tf.newaxis, :])
            & earlier[tf.newaxis]
        )  # [B, k, j]
        accepted = tf.ones_like(anchor, tf.bool)
        for _ in range(_ACCEPTANCE_STEPS):
            accepted = ~tf.reduce_any(inside & accepted[:, tf.newaxis, :], axis=2)

        # The tokens of each accepted candidate, [B, K, W], and which of them
        # are new: not covered by an earlier accepted candidate.
        width = tf.maximum(tf.reduce_max(tf.where(accepted, end - start, 0)), 1)
        token_position = start[:, :, tf.newaxis] + tf.range(width)
        real = accepted[:, :, tf.newaxis] & (token_position < end[:, :, tf.newaxis])
        flat = tf.where(real, token_position, 0) + row_offset[:, :, tf.newaxis]
        label = tf.where(real, candidate[:, tf.newaxis], per_round)
        first_cover = tf.math.unsorted_segment_min(
            tf.reshape(label, [-1]), tf.reshape(flat, [-1]), batch * length
        )
        new = real & tf.equal(tf.gather(first_cover, flat), candidate[:, tf.newaxis])
        # Cut at the budget: every candidate before the one that uses it up, and
        # only as many of that one's new tokens, in order, as are left.
        new_per_candidate = tf.reduce_sum(tf.cast(new, tf.int32), axis=2)
        total = tf.cumsum(new_per_candidate, axis=1)
        last = tf.reduce_sum(tf.cast(total < budget[:, tf.newaxis], tf.int32), axis=1)
        before_last = candidate < last[:, tf.newaxis]
        is_last = tf.equal(candidate, last[:, tf.newaxis])[:, :, tf.newaxis]
        room = budget - tf.reduce_sum(tf.where(before_last, new_per_candidate, 0), axis=1)
        last_new = tf.reduce_any(new & is_last, axis=1)  # [B, W]
        last_take = last_new & (
            tf.cumsum(tf.cast(last_new, tf.int32), axis=1) <= room[:, tf.newaxis]
        )
        take = new & (before_last[:, :, tf.newaxis] | (is_last & last_take[:, tf.newaxis, :]))
        taken = tf.math.unsorted_segment_max(
            tf.reshape(tf.cast(take, tf.int32), [-1]), tf.reshape(flat, [-1]), batch * length
        )
        mask = tf.reshape(taken > 0, [batch, length])

        # Should the candidates run out before the budget (never seen: see
        # `_candidates_per_block`), the first free tokens complete it.
        count = tf.reduce_sum(tf.cast(take, tf.int32), axis=[1, 2])
        free = maskable & ~mask
        shortfall = (budget - count)[:, tf.newaxis]
        fill = free & (tf.cumsum(tf.cast(free, tf.int32), axis=1) <= shortfall)
        return mask | fill


def _check_counts(counts, size):
    """`replacement_counts` as int64 [size], or a ValueError that names it."""
    try:
        array = np.asarray(counts)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`replacement_counts` must be a list of ints. Received: {error}"
        ) from error
    if array.shape != (size,) or array.dtype.kind not in "iu":
        raise ValueError(
            f"`replacement_counts` must hold one int per id of the vocabulary ({size}). "
            f"Received: an array of shape {array.shape} and dtype {array.dtype}"
        )
    if (array < 0).any():
        raise ValueError(
            "`replacement_counts` must be non-negative. Received a negative count "
            f"at id {int(np.flatnonzero(array < 0)[0])}"
        )
    return array.astype(np.int64)


def _check_number(name, value, low, high, low_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"`{name}` must be a number. Received: {name}={value!r}")
    bad_low = value <= low if low_open else value < low
    if bad_low or value > high or math.isnan(value):
        interval = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ValueError(f"`{name}` must be in {interval}. Received: {name}={value!r}")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"`{name}` must be an int >= {minimum}. Received: {name}={value!r}"
        )


def _dense(value, name):
    if isinstance(value, (tf.RaggedTensor, tf.SparseTensor)):
        raise ValueError(
            f"inputs[{name!r}] must be a dense tensor of padded blocks; received a "
            f"{type(value).__name__}. Pad the blocks to one length first "
            "(e.g. `.to_tensor()`)."
        )
    try:
        return tf.convert_to_tensor(value)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"inputs[{name!r}] could not be converted to a tensor: {error}"
        ) from error


def _dense_int(value, name, dtype=tf.int32):
    tensor = _dense(value, name)
    if not tensor.dtype.is_integer:
        raise ValueError(
            f"inputs[{name!r}] must hold integers (int32 or int64). "
            f"Received dtype: {tensor.dtype.name}"
        )
    return tensor if dtype is None else tf.cast(tensor, dtype)


def _check_same_shape(token_ids, other, name):
    if not token_ids.shape.is_compatible_with(other.shape):
        raise ValueError(
            f"inputs[{name!r}] must have the shape of inputs['token_ids']. "
            f"Received: {other.shape} vs {token_ids.shape}"
        )


__all__ = ["SpanMasker"]
