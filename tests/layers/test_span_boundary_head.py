"""SpanBoundaryHead against a NumPy computation of SPEC section 3."""

import math

import keras
import numpy as np
import pytest
from test_case import TINY_MODEL_CONFIG
from test_case import numpy_gelu
from test_case import numpy_layer_norm
from test_case import run_layer_test

from spanbert_keras.layers.span_boundary_head import SpanBoundaryHead

VOCAB, HIDDEN = TINY_MODEL_CONFIG["vocabulary_size"], TINY_MODEL_CONFIG["hidden_dim"]
POS_DIM = TINY_MODEL_CONFIG["position_embedding_dim"]
MAX_TARGETS = TINY_MODEL_CONFIG["max_pair_targets"]


def _tanh_gelu(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def _numpy_sbo(seq, boundaries, offsets, w, gelu=numpy_gelu):
    """SPEC section 3, one target at a time, float64."""
    batch, targets = offsets.shape
    out = np.zeros((batch, targets, VOCAB))
    for b in range(batch):
        for j in range(targets):
            left = seq[b, boundaries[b, j, 0]]
            right = seq[b, boundaries[b, j, 1]]
            h0 = np.concatenate([left, right, w["position_embeddings"][offsets[b, j]]])
            h1 = numpy_layer_norm(
                gelu(h0 @ w["w1"] + w["b1"]), w["g1"], w["beta1"]
            )
            y = numpy_layer_norm(gelu(h1 @ w["w2"] + w["b2"]), w["g2"], w["beta2"])
            out[b, j] = y @ w["embeddings"].T + w["bias"]
    return out


def _head_with_random_weights(seed=0):
    rng = np.random.default_rng(seed)
    embedding = keras.layers.ReversibleEmbedding(VOCAB, HIDDEN)
    embedding.build()
    head = SpanBoundaryHead(
        embedding, max_pair_targets=MAX_TARGETS, position_embedding_dim=POS_DIM
    )
    head.build((None, None, HIDDEN), (None, None, 2), (None, None))
    w = {
        "embeddings": rng.normal(size=(VOCAB, HIDDEN)) * 0.2,
        "position_embeddings": rng.normal(size=(MAX_TARGETS, POS_DIM)),
        "w1": rng.normal(size=(2 * HIDDEN + POS_DIM, HIDDEN)) * 0.3,
        "b1": rng.normal(size=HIDDEN),
        "g1": 1.0 + 0.2 * rng.normal(size=HIDDEN),
        "beta1": rng.normal(size=HIDDEN),
        "w2": rng.normal(size=(HIDDEN, HIDDEN)) * 0.3,
        "b2": rng.normal(size=HIDDEN),
        "g2": 1.0 + 0.2 * rng.normal(size=HIDDEN),
        "beta2": rng.normal(size=HIDDEN),
        "bias": rng.normal(size=VOCAB),
    }
    embedding.embeddings.assign(w["embeddings"].astype("float32"))
    head.position_embeddings.assign(w["position_embeddings"].astype("float32"))
    head.linear1.kernel.assign(w["w1"].astype("float32"))
    head.linear1.bias.assign(w["b1"].astype("float32"))
    head.layer_norm1.gamma.assign(w["g1"].astype("float32"))
    head.layer_norm1.beta.assign(w["beta1"].astype("float32"))
    head.linear2.kernel.assign(w["w2"].astype("float32"))
    head.linear2.bias.assign(w["b2"].astype("float32"))
    head.layer_norm2.gamma.assign(w["g2"].astype("float32"))
    head.layer_norm2.beta.assign(w["beta2"].astype("float32"))
    head.bias.assign(w["bias"].astype("float32"))
    return head, embedding, w


def _inputs(seed=1, batch=3, length=12, targets=4):
    rng = np.random.default_rng(seed)
    seq = rng.normal(size=(batch, length, HIDDEN)).astype("float32")
    boundaries = rng.integers(0, length, (batch, targets, 2)).astype("int32")
    offsets = rng.integers(0, MAX_TARGETS, (batch, targets)).astype("int32")
    return seq, boundaries, offsets


def test_matches_numpy_formula():
    head, _, w = _head_with_random_weights()
    seq, boundaries, offsets = _inputs()
    got = keras.ops.convert_to_numpy(
        head(seq, span_boundaries=boundaries, span_offsets=offsets)
    )
    want = _numpy_sbo(seq.astype("float64"), boundaries, offsets, w)
    approximate = _numpy_sbo(seq.astype("float64"), boundaries, offsets, w, _tanh_gelu)
    assert got.shape == (3, 4, VOCAB)
    assert np.abs(want).max() > 1.0  # the comparison is not trivially small
    error, approximate_error = np.abs(got - want).max(), np.abs(got - approximate).max()
    print(f"SBO head: exact GeLU {error:.2e}, tanh approximation {approximate_error:.2e}")
    assert error <= 1e-5
    assert approximate_error > 10 * 1e-5  # the GeLU is the exact one


def test_decoder_is_the_input_embedding():
    head, embedding, _ = _head_with_random_weights()
    seq, boundaries, offsets = _inputs()
    assert head.token_embedding is embedding
    own = [v for v in head.weights if tuple(v.shape) in ((VOCAB, HIDDEN), (HIDDEN, VOCAB))]
    assert len(own) == 1 and own[0] is embedding.embeddings
    embedding.embeddings.assign(np.zeros((VOCAB, HIDDEN), "float32"))
    logits = keras.ops.convert_to_numpy(head(seq, boundaries, offsets))
    bias = head.bias.numpy()
    np.testing.assert_allclose(logits, np.broadcast_to(bias, logits.shape), atol=1e-6)


def test_layer_anatomy_follows_the_reference():
    head, _, _ = _head_with_random_weights()
    assert tuple(head.position_embeddings.shape) == (MAX_TARGETS, POS_DIM)
    assert tuple(head.linear1.kernel.shape) == (2 * HIDDEN + POS_DIM, HIDDEN)
    assert tuple(head.linear2.kernel.shape) == (HIDDEN, HIDDEN)
    assert head.layer_norm1.epsilon == head.layer_norm2.epsilon == 1e-12
    assert tuple(head.bias.shape) == (VOCAB,)
    defaults = SpanBoundaryHead(head.token_embedding)
    assert (defaults.max_pair_targets, defaults.position_embedding_dim) == (15, 200)


def test_offsets_beyond_the_table_are_clipped():
    head, _, _ = _head_with_random_weights()
    seq, boundaries, offsets = _inputs()
    last = np.full_like(offsets, MAX_TARGETS - 1)
    beyond = np.full_like(offsets, MAX_TARGETS + 7)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(head(seq, boundaries, beyond)),
        keras.ops.convert_to_numpy(head(seq, boundaries, last)),
    )


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"max_pair_targets": 0}, "max_pair_targets"),
        ({"position_embedding_dim": 0}, "position_embedding_dim"),
        ({"layer_norm_epsilon": 0.0}, "layer_norm_epsilon"),
        ({"intermediate_activation": "no_such"}, "intermediate_activation=.no_such"),
    ],
)
def test_invalid_arguments(kwargs, word):
    embedding = keras.layers.ReversibleEmbedding(VOCAB, HIDDEN)
    with pytest.raises(ValueError, match=word):
        SpanBoundaryHead(embedding, **kwargs)
    with pytest.raises(ValueError, match="token_embedding"):
        SpanBoundaryHead(None)


def test_harness():
    embedding = keras.layers.ReversibleEmbedding(VOCAB, HIDDEN)
    embedding.build()
    seq, boundaries, offsets = _inputs()
    run_layer_test(
        SpanBoundaryHead,
        {
            "token_embedding": embedding,
            "max_pair_targets": MAX_TARGETS,
            "position_embedding_dim": POS_DIM,
        },
        {"inputs": seq, "span_boundaries": boundaries, "span_offsets": offsets},
        expected_output_shape=(3, 4, VOCAB),
    )
