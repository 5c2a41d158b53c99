"""Both classification heads against NumPy, on the shared harness."""

import keras
import numpy as np
import pytest
from test_case import TINY_MODEL_CONFIG
from test_case import run_layer_test

from spanbert_keras.layers.classification_head import ClassificationHead
from spanbert_keras.layers.token_classification_head import TokenClassificationHead

HIDDEN = TINY_MODEL_CONFIG["hidden_dim"]


@pytest.mark.parametrize(
    "cls, shape", [(ClassificationHead, (3, HIDDEN)), (TokenClassificationHead, (3, 5, HIDDEN))]
)
def test_heads_on_the_harness_and_against_numpy(cls, shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    output = run_layer_test(
        cls, {"num_classes": 4, "dropout": 0.1}, x, shape[:-1] + (4,)
    )
    head = cls(num_classes=4, dropout=0.5)
    head(x)
    rng = np.random.default_rng(1)
    kernel, bias = rng.normal(size=(HIDDEN, 4)), rng.normal(size=4)
    head.dense.kernel.assign(kernel.astype("float32"))
    head.dense.bias.assign(bias.astype("float32"))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(head(x)), x @ kernel + bias, atol=1e-5, rtol=1e-5
    )
    # Dropout during training: surviving inputs scaled by 1 / (1 - rate).
    keras.utils.set_random_seed(0)
    trained = keras.ops.convert_to_numpy(head(np.ones(shape, "float32"), training=True))
    ones = np.ones(shape)
    assert not np.allclose(trained, ones @ kernel + bias)
    assert np.isfinite(output).all()


def test_regression_head_and_bad_arguments():
    head = ClassificationHead(num_classes=1, activation="sigmoid")
    assert tuple(head(np.zeros((2, HIDDEN), "float32")).shape) == (2, 1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(head(np.zeros((2, HIDDEN), "float32"))), 0.5)
    with pytest.raises(ValueError, match="`num_classes` must be a positive int. Received: num_classes=0"):
        ClassificationHead(num_classes=0)
    with pytest.raises(ValueError, match=r"`dropout` must be in \[0, 1\). Received: dropout=1.0"):
        TokenClassificationHead(num_classes=2, dropout=1.0)
    with pytest.raises(ValueError, match="`activation` must be a Keras activation"):
        ClassificationHead(num_classes=2, activation="nope")
    with pytest.raises(ValueError, match="TokenClassificationHead takes rank-3 inputs"):
        TokenClassificationHead(num_classes=2)(np.zeros((2, HIDDEN), "float32"))
