"""The MLM and SBO target slots of a batch, from its masked positions.

One rule, shared by the masker (`SpanMasker`) and the serving signatures
(which find the runs of [MASK] ids of a text): every masked position is a
target; each maximal run of masked positions `s..e` is one span, whose
boundary tokens are the positions `s - 1` and `e + 1` and whose targets have
offsets `i - s`.
"""

import numpy as np
import tensorflow as tf

SLOT_KEYS = ("mask_positions", "mask_weights", "span_boundaries", "span_offsets", "sbo_weights")


def span_targets(mask, padding_mask, max_pair_targets, slots=None):
    """Target slots, span boundaries, offsets and SBO weights of masked runs.

    Targets are listed in position order, one slot each. For a target `i`
    inside the maximal run `s..e` of masked positions, the boundaries are
    `(s - 1, e + 1)` clipped into `[0, L - 1]` (so in a packed block [CLS]
    and [SEP] are the outside tokens of runs at the edges of the text) and
    the offset is `i - s`. The SBO weight is 1 when `i - s <
    max_pair_targets` and both unclipped boundaries are real (non-padding)
    positions of the row.

    Shapes: `B` rows of length `L`; `P` slots.

    Args:
        mask: bool or int `[B, L]`, nonzero at the target positions (only
            those on real positions count).
        padding_mask: bool or int `[B, L]`, nonzero on real positions.
        max_pair_targets: int >= 1, the rows of the SBO position table.
        slots: `P`, an int or an int32 scalar tensor, or None: the most
            targets of a row in the batch (1 for an empty batch, which a
            model's gather of positions needs). A row with more targets than
            `P` keeps its first `P` (their boundaries still describe the
            whole run).

    Returns:
        A dict (padding slots hold 0 everywhere):
        `mask_positions` int32 `[B, P]` (ascending), `mask_weights` float32
        `[B, P]`, `span_boundaries` int32 `[B, P, 2]`, `span_offsets` int32
        `[B, P]`, `sbo_weights` float32 `[B, P]`.

    Example:

    >>> out = span_targets([[0, 1, 1, 0, 1, 0, 0]],
    ...                    [[1, 1, 1, 1, 1, 1, 0]], max_pair_targets=1, slots=4)
    >>> out["mask_positions"].numpy().tolist()
    [[1, 2, 4, 0]]
    >>> out["span_boundaries"].numpy().tolist()
    [[[0, 3], [0, 3], [3, 5], [0, 0]]]
    >>> out["span_offsets"].numpy().tolist()
    [[0, 1, 0, 0]]
    >>> out["sbo_weights"].numpy().tolist()
    [[1.0, 0.0, 1.0, 0.0]]
    """
    if isinstance(max_pair_targets, bool) or not isinstance(
        max_pair_targets, (int, np.integer)
    ) or max_pair_targets < 1:
        raise ValueError(
            "`max_pair_targets` must be an int >= 1. "
            f"Received: max_pair_targets={max_pair_targets!r}"
        )
    real = _as_bool(padding_mask)
    mask = _as_bool(mask) & real
    batch = _dim(mask, 0)
    length = _dim(mask, 1)
    # Inclusive running counts of the masked and of the unmasked positions.
    masked_count = tf.cumsum(tf.cast(mask, tf.int32), axis=1)
    unmasked_count = (_arange(length) + 1) - masked_count
    per_row = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    if slots is None:
        empty_batch = tf.cast(tf.equal(tf.size(per_row), 0), tf.int32)
        slots = tf.reduce_max(tf.concat([per_row, [0], empty_batch[tf.newaxis]], axis=0))
    slot = _arange(slots)

    # The k-th target (k = slot + 1) is the first position with k masked
    # positions up to it (L if the row has fewer); the `before` = position - slot
    # unmasked positions precede it, the last of which is its left boundary
    # and the next one its right boundary (L if there is none).
    targets = tf.broadcast_to(slot + 1, tf.stack([batch, slots]))
    positions = _lower_bound(masked_count, targets)
    valid = slot < per_row[:, tf.newaxis]
    before = positions - slot
    bounds = _lower_bound(unmasked_count, tf.concat([before, before + 1], axis=1))
    left = tf.where(before > 0, bounds[:, :slots], -1)
    right = bounds[:, slots:]
    offsets = positions - left - 1

    clipped_left = tf.maximum(left, 0)
    clipped_right = tf.minimum(right, length - 1)
    flat_real = tf.reshape(real, [-1])
    row_offset = _arange(batch)[:, tf.newaxis] * length
    has_sbo = (
        valid
        & (offsets < max_pair_targets)
        & (left >= 0)
        & (right < length)
        & tf.gather(flat_real, clipped_left + row_offset)
        & tf.gather(flat_real, clipped_right + row_offset)
    )
    zeros = tf.zeros_like(positions)
    return {
        "mask_positions": tf.where(valid, positions, zeros),
        "mask_weights": tf.cast(valid, tf.float32),
        "span_boundaries": tf.stack(
            [tf.where(valid, clipped_left, zeros), tf.where(valid, clipped_right, zeros)],
            axis=-1,
        ),
        "span_offsets": tf.where(valid, offsets, zeros),
        "sbo_weights": tf.cast(has_sbo, tf.float32),
    }


def _as_bool(values):
    values = tf.convert_to_tensor(values)
    if values.dtype == tf.bool:
        return values
    return tf.not_equal(values, tf.zeros([], values.dtype))


def _lower_bound(sorted_rows, values):
    """Row-wise `searchsorted(side="left")`: the raw op, without reshapes around it."""
    return tf.raw_ops.LowerBound(sorted_inputs=sorted_rows, values=values, out_type=tf.int32)


def _dim(tensor, axis):
    """The static size of `axis` if known, else the dynamic one."""
    size = tensor.shape[axis]
    return size if size is not None else tf.shape(tensor)[axis]


def _arange(size):
    """0..size-1 as int32: a constant when `size` is static."""
    if isinstance(size, (int, np.integer)):
        return tf.constant(np.arange(size, dtype=np.int32))
    return tf.range(size)


__all__ = ["SLOT_KEYS", "span_targets"]
