"""SpanPredictionHead against NumPy: one dense layer to start / end logits, padding masked."""

import numpy as np
import pytest
from test_case import TINY_MODEL_CONFIG
from test_case import assert_allclose
from test_case import run_layer_test

from spanbert_keras.layers.span_prediction_head import PADDING_LOGIT
from spanbert_keras.layers.span_prediction_head import SpanPredictionHead

HIDDEN = TINY_MODEL_CONFIG["hidden_dim"]


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 7, HIDDEN)).astype("float32")
    mask = np.array([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4], "int32")
    return x, mask


def test_harness():
    x, mask = _inputs()
    run_layer_test(
        SpanPredictionHead,
        {"name": "span_head"},
        {"inputs": x, "padding_mask": mask},
        expected_output_shape={"start_logits": (3, 7), "end_logits": (3, 7)},
    )


def test_logits_against_numpy():
    x, mask = _inputs(1)
    head = SpanPredictionHead()
    head.build(x.shape)
    rng = np.random.default_rng(2)
    kernel, bias = rng.normal(size=(HIDDEN, 2)), rng.normal(size=2)
    head.set_weights([kernel.astype("float32"), bias.astype("float32")])
    out = head(x, padding_mask=mask)
    expected = x.astype("float64") @ kernel + bias  # [B, L, 2]
    expected = np.where(mask[..., None] == 1, expected, PADDING_LOGIT)
    assert_allclose(out, {"start_logits": expected[..., 0], "end_logits": expected[..., 1]},
                    atol=1e-5, rtol=1e-5)
    # Without a mask every position is a real one.
    unmasked = head(x)["end_logits"].numpy()
    np.testing.assert_allclose(unmasked, (x @ kernel + bias)[..., 1], atol=1e-5)


def test_bad_initializer_is_named():
    with pytest.raises(ValueError, match="kernel_initializer"):
        SpanPredictionHead(kernel_initializer="no_such_initializer")
