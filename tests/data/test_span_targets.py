"""span_targets: the target-slot and SBO rule, against a NumPy loop."""

import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.data.span_targets import SLOT_KEYS
from spanbert_keras.data.span_targets import span_targets


def numpy_span_targets(mask, padding_mask, max_pair_targets, slots=None):
    """The rule, one target at a time: walk out of the run to its boundaries."""
    mask = np.asarray(mask, bool) & np.asarray(padding_mask, bool)
    real = np.asarray(padding_mask, bool)
    batch, length = mask.shape
    if slots is None:
        slots = max(int(mask.sum(axis=1).max(initial=0)), 1 if batch == 0 else 0)
    out = {
        "mask_positions": np.zeros((batch, slots), np.int32),
        "mask_weights": np.zeros((batch, slots), np.float32),
        "span_boundaries": np.zeros((batch, slots, 2), np.int32),
        "span_offsets": np.zeros((batch, slots), np.int32),
        "sbo_weights": np.zeros((batch, slots), np.float32),
    }
    for row in range(batch):
        for slot, i in enumerate(np.flatnonzero(mask[row])[:slots]):
            start, end = i, i
            while start > 0 and mask[row, start - 1]:
                start -= 1
            while end < length - 1 and mask[row, end + 1]:
                end += 1
            left, right = start - 1, end + 1
            out["mask_positions"][row, slot] = i
            out["mask_weights"][row, slot] = 1
            out["span_boundaries"][row, slot] = (max(left, 0), min(right, length - 1))
            out["span_offsets"][row, slot] = i - start
            out["sbo_weights"][row, slot] = (
                i - start < max_pair_targets
                and left >= 0
                and right < length
                and real[row, left]
                and real[row, right]
            )
    return out


def assert_same(got, expected):
    assert set(got) == set(SLOT_KEYS)
    for key in SLOT_KEYS:
        value = np.asarray(got[key])
        assert value.dtype == expected[key].dtype, key
        np.testing.assert_array_equal(value, expected[key], err_msg=key)


def test_literal_block():
    # [CLS] a b c d e f [SEP] [PAD]: runs 1..2 and 4..6 (touching [SEP]).
    mask = [[0, 1, 1, 0, 1, 1, 1, 0, 0]]
    padding = [[1, 1, 1, 1, 1, 1, 1, 1, 0]]
    out = span_targets(mask, padding, max_pair_targets=2, slots=6)
    assert out["mask_positions"].numpy().tolist() == [[1, 2, 4, 5, 6, 0]]
    assert out["mask_weights"].numpy().tolist() == [[1, 1, 1, 1, 1, 0]]
    assert out["span_boundaries"].numpy().tolist() == [
        [[0, 3], [0, 3], [3, 7], [3, 7], [3, 7], [0, 0]]
    ]
    assert out["span_offsets"].numpy().tolist() == [[0, 1, 0, 1, 2, 0]]
    assert out["sbo_weights"].numpy().tolist() == [[1, 1, 1, 1, 0, 0]]


def test_edges_of_the_row():
    # A run from position 0 (no left boundary), a run into the padding (its
    # right boundary is padding), a run to the last position (no right one),
    # and masked padding, which is ignored.
    mask = np.array([[1, 1, 0, 1, 0, 0], [0, 0, 1, 1, 1, 1], [0, 1, 1, 0, 1, 1]], bool)
    padding = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], bool)
    out = span_targets(mask, padding, max_pair_targets=15)
    assert out["mask_positions"].numpy().tolist() == [[0, 1, 3, 0], [2, 3, 4, 5], [1, 2, 0, 0]]
    assert out["span_boundaries"].numpy()[:, :, 0].tolist() == [
        [0, 0, 2, 0], [1, 1, 1, 1], [0, 0, 0, 0]
    ]  # fmt: skip
    assert out["span_boundaries"].numpy()[:, :, 1].tolist() == [
        [2, 2, 4, 0], [5, 5, 5, 5], [3, 3, 0, 0]
    ]  # fmt: skip
    assert out["sbo_weights"].numpy().tolist() == [[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]]
    assert_same(out, numpy_span_targets(mask, padding, 15))


@pytest.mark.parametrize("slots", [None, 3, 12])
def test_random_masks_match_the_numpy_rule(slots):
    rng = np.random.default_rng(slots or 0)
    for _ in range(50):
        batch, length = rng.integers(1, 6), rng.integers(1, 24)
        mask = rng.random((batch, length)) < rng.random()
        lengths = rng.integers(0, length + 1, (batch, 1))
        padding = np.arange(length)[np.newaxis, :] < lengths
        pair = int(rng.integers(1, 4))
        # With fixed slots, a row with more targets keeps its first ones, whose
        # boundaries still describe the whole run.
        expected = numpy_span_targets(mask, padding, pair, slots)
        assert_same(span_targets(mask, padding.astype(np.int32), pair, slots), expected)


def out_shape(out):
    return tuple(out["mask_positions"].shape)


def test_dynamic_slots_and_empty_batches():
    assert out_shape(span_targets(np.zeros((0, 6), bool), np.zeros((0, 6), bool), 2)) == (0, 1)
    out = span_targets([[0, 0, 0]], [[1, 1, 1]], 2)
    assert out["span_boundaries"].shape == (1, 0, 2)
    out = span_targets([[0, 1, 0], [1, 1, 0]], [[1, 1, 1], [1, 1, 1]], 2)
    assert out["mask_positions"].numpy().tolist() == [[1, 0], [0, 1]]


def test_under_tf_function_with_unknown_shapes():
    signature = [tf.TensorSpec([None, None], tf.bool), tf.TensorSpec([None, None], tf.int32)]
    rng = np.random.default_rng(7)
    mask = rng.random((4, 30)) < 0.3
    padding = (np.arange(30)[np.newaxis, :] < [[30], [20], [5], [0]]).astype(np.int32)
    for slots in (None, 9):

        def targets(mask, padding, slots=slots):
            return span_targets(mask, padding, 3, slots)

        out = tf.function(targets, input_signature=signature)(mask, padding)
        assert_same(out, numpy_span_targets(mask, padding, 3, slots))


@pytest.mark.parametrize("value", [0, 1.5, None, True])
def test_bad_max_pair_targets(value):
    with pytest.raises(ValueError, match="max_pair_targets"):
        span_targets([[1]], [[1]], value)
