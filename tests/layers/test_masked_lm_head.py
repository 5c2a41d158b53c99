"""BertMaskedLMHead against a NumPy computation of BERT's `cls.predictions`."""

import math

import keras
import keras_hub
import numpy as np
import pytest
from test_case import TINY_MODEL_CONFIG
from test_case import numpy_gelu
from test_case import numpy_layer_norm
from test_case import run_layer_test

from spanbert_keras.layers.masked_lm_head import BertMaskedLMHead

VOCAB, HIDDEN = TINY_MODEL_CONFIG["vocabulary_size"], TINY_MODEL_CONFIG["hidden_dim"]
BATCH, LENGTH, TARGETS = 3, 12, 5


def _tanh_gelu(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _numpy_mlm(seq, positions, w, gelu=numpy_gelu):
    """LayerNorm(GeLU(x W + b)) E^T + bias at the masked positions, float64."""
    x = np.take_along_axis(seq, positions[..., None], axis=1)
    h = numpy_layer_norm(gelu(x @ w["kernel"] + w["b"]), w["gamma"], w["beta"], 1e-12)
    return h @ w["embeddings"].T + w["bias"]


def _head_with_random_weights(seed=0):
    rng = np.random.default_rng(seed)
    embedding = keras.layers.ReversibleEmbedding(VOCAB, HIDDEN)
    embedding.build()
    head = BertMaskedLMHead(token_embedding=embedding)
    head.build((None, None, HIDDEN), (None, None))
    w = {
        "embeddings": rng.normal(size=(VOCAB, HIDDEN)) * 0.2,
        "kernel": rng.normal(size=(HIDDEN, HIDDEN)) * 0.5,
        "b": rng.normal(size=HIDDEN),
        "gamma": 1.0 + 0.2 * rng.normal(size=HIDDEN),
        "beta": rng.normal(size=HIDDEN),
        "bias": rng.normal(size=VOCAB),
    }
    for variable, key in (
        (embedding.embeddings, "embeddings"),
        (head._intermediate_dense.kernel, "kernel"),
        (head._intermediate_dense.bias, "b"),
        (head._intermediate_layer_norm.gamma, "gamma"),
        (head._intermediate_layer_norm.beta, "beta"),
        (head._bias, "bias"),
    ):
        variable.assign(w[key].astype("float32"))
    return head, embedding, w


def _inputs(seed=1):
    rng = np.random.default_rng(seed)
    seq = rng.normal(size=(BATCH, LENGTH, HIDDEN)).astype("float32")
    positions = rng.integers(0, LENGTH, (BATCH, TARGETS)).astype("int32")
    return seq, positions


def test_matches_numpy_with_exact_gelu():
    head, _, w = _head_with_random_weights()
    seq, positions = _inputs()
    got = keras.ops.convert_to_numpy(head(seq, mask_positions=positions))
    want = _numpy_mlm(seq.astype("float64"), positions, w)
    approximate = _numpy_mlm(seq.astype("float64"), positions, w, _tanh_gelu)
    assert got.shape == (BATCH, TARGETS, VOCAB)
    assert np.abs(want).max() > 1.0  # the comparison is not trivially small
    error, approximate_error = np.abs(got - want).max(), np.abs(got - approximate).max()
    print(f"MLM head: exact GeLU {error:.2e}, tanh approximation {approximate_error:.2e}")
    assert error <= 1e-5
    assert approximate_error > 10 * 1e-5  # Keras' "gelu" is the exact one


def test_bert_defaults_and_keras_hub_layout():
    head, embedding, _ = _head_with_random_weights()
    assert head.intermediate_activation is keras.activations.gelu
    assert head._intermediate_layer_norm.epsilon == 1e-12
    assert head.vocabulary_size == VOCAB and head.token_embedding is embedding
    # The same variables, by path, as keras-hub's layer: its weights load as they are.
    reference = keras_hub.layers.MaskedLMHead(token_embedding=embedding)
    reference.build((None, None, HIDDEN), (None, None))
    layout = lambda layer: [(v.path, tuple(v.shape)) for v in layer.weights]  # noqa: E731
    strip = lambda pairs: [(p.split("/", 1)[1], s) for p, s in pairs]  # noqa: E731
    assert strip(layout(head)) == strip(layout(reference))


def test_decoder_is_the_input_embedding():
    head, embedding, _ = _head_with_random_weights()
    seq, positions = _inputs()
    own = [v for v in head.weights if tuple(v.shape) in ((VOCAB, HIDDEN), (HIDDEN, VOCAB))]
    assert len(own) == 1 and own[0] is embedding.embeddings
    embedding.embeddings.assign(np.zeros((VOCAB, HIDDEN), "float32"))
    logits = keras.ops.convert_to_numpy(head(seq, mask_positions=positions))
    bias = head._bias.numpy()
    np.testing.assert_allclose(logits, np.broadcast_to(bias, logits.shape), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"layer_norm_epsilon": 0.0}, "layer_norm_epsilon=0.0"),
        ({"intermediate_activation": "no_such"}, "intermediate_activation=.no_such"),
        ({"token_embedding": None}, "vocabulary_size"),
    ],
)
def test_invalid_arguments(kwargs, word):
    embedding = keras.layers.ReversibleEmbedding(VOCAB, HIDDEN)
    with pytest.raises(ValueError, match=word):
        BertMaskedLMHead(**{"token_embedding": embedding, **kwargs})


def test_harness():
    embedding = keras.layers.ReversibleEmbedding(VOCAB, HIDDEN)
    embedding.build()
    seq, positions = _inputs()
    run_layer_test(
        BertMaskedLMHead,
        {"token_embedding": embedding},
        {"inputs": seq, "mask_positions": positions},
        expected_output_shape=(BATCH, TARGETS, VOCAB),
    )
