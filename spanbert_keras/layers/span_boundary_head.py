"""The Span Boundary Objective head (SpanBERT, SPEC section 3)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBoundaryHead(keras.layers.Layer):
    """Predicts each masked token from its span's boundary tokens.

    For a target x_i inside a merged span x_s..x_e, with encoder outputs x:

        h0 = [x_{s-1}; x_{e+1}; p_{i-s}]
        h1 = LayerNorm(GeLU(W1 h0 + b1))
        y_i = LayerNorm(GeLU(W2 h1 + b2))
        logits_i = y_i E^T + bias

    where p is a learned table of `max_pair_targets` relative positions and E
    the (tied) input token embedding. Everything is computed at the P target
    slots only: the largest tensor is the `[batch, P, vocabulary]` logits.

    Sub-layers and weights follow the reference module
    (`BertPairTargetPredictionHead`): `position_embeddings`, `linear1`,
    `layer_norm1`, `linear2`, `layer_norm2`, the tied decoder and `bias`.

    Args:
        token_embedding: a `keras.layers.ReversibleEmbedding` (the encoder's
            `token_embedding`); the output projection is its transpose, so the
            decoder is the same variable as the input embedding.
        max_pair_targets: int, rows of the relative-position table (the
            largest number of SBO targets of one span). Offsets at or above it
            are clipped to the last row; the data pipeline gives such slots an
            SBO weight of 0.
        position_embedding_dim: int, width of the relative-position table.
        layer_norm_epsilon: float, epsilon of both layer normalisations.
        intermediate_activation: activation after each dense layer. `"gelu"`
            is exact (erf) GeLU in Keras 3 (`approximate=False`), as in the
            reference.
        kernel_initializer: initializer of the two dense kernels.
        position_initializer: initializer of the relative-position table.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float `[batch, length, hidden]`, encoder outputs.
        span_boundaries: int `[batch, P, 2]`, positions s-1 and e+1 of the
            merged span holding each target.
        span_offsets: int `[batch, P]`, the target's offset i-s inside its
            span (0-based).

    Returns:
        `[batch, P, vocabulary_size]` logits in the layer's compute dtype.

    Example:

    >>> import numpy as np, keras
    >>> from spanbert_keras.layers.span_boundary_head import SpanBoundaryHead
    >>> embedding = keras.layers.ReversibleEmbedding(50, 8)
    >>> embedding.build()
    >>> head = SpanBoundaryHead(embedding, max_pair_targets=4,
    ...                         position_embedding_dim=6)
    >>> logits = head(np.zeros((2, 10, 8), "float32"),
    ...               span_boundaries=np.array([[[1, 4]], [[0, 2]]], "int32"),
    ...               span_offsets=np.array([[2], [0]], "int32"))
    >>> tuple(logits.shape)
    (2, 1, 50)

    References:
        Joshi et al., "SpanBERT: Improving Pre-training by Representing and
        Predicting Spans", TACL 2020, section 3.2.
    """

    def __init__(
        self,
        token_embedding,
        max_pair_targets=15,
        position_embedding_dim=200,
        layer_norm_epsilon=1e-12,
        intermediate_activation="gelu",
        kernel_initializer=None,
        position_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if token_embedding is None or not hasattr(token_embedding, "input_dim"):
            raise ValueError(
                "`token_embedding` must be the encoder's ReversibleEmbedding. "
                f"Received: token_embedding={token_embedding!r}"
            )
        if int(max_pair_targets) < 1:
            raise ValueError(
                "`max_pair_targets` must be a positive integer. "
                f"Received: max_pair_targets={max_pair_targets}"
            )
        if int(position_embedding_dim) < 1:
            raise ValueError(
                "`position_embedding_dim` must be a positive integer. "
                f"Received: position_embedding_dim={position_embedding_dim}"
            )
        if not layer_norm_epsilon > 0:
            raise ValueError(
                "`layer_norm_epsilon` must be positive. "
                f"Received: layer_norm_epsilon={layer_norm_epsilon}"
            )
        self.token_embedding = token_embedding
        self.max_pair_targets = int(max_pair_targets)
        self.position_embedding_dim = int(position_embedding_dim)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        try:
            self.intermediate_activation = keras.activations.get(intermediate_activation)
        except (TypeError, ValueError):
            raise ValueError(
                "`intermediate_activation` must be a Keras activation. "
                f"Received: intermediate_activation={intermediate_activation!r}"
            ) from None
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.TruncatedNormal(stddev=0.02)
        )
        self.position_initializer = keras.initializers.get(
            position_initializer or keras.initializers.TruncatedNormal(stddev=0.02)
        )
        self.vocabulary_size = token_embedding.input_dim
        self.hidden_dim = token_embedding.output_dim

    def build(self, inputs_shape, span_boundaries_shape=None, span_offsets_shape=None):
        hidden = self.hidden_dim
        if inputs_shape[-1] is not None and inputs_shape[-1] != hidden:
            raise ValueError(
                "The encoder outputs must be as wide as the token embedding "
                f"({hidden}). Received: inputs_shape={tuple(inputs_shape)}"
            )
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_pair_targets, self.position_embedding_dim),
            initializer=self.position_initializer,
        )
        self.linear1 = keras.layers.Dense(
            hidden,
            activation=self.intermediate_activation,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="linear1",
        )
        self.layer_norm1 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm1"
        )
        self.linear2 = keras.layers.Dense(
            hidden,
            activation=self.intermediate_activation,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="linear2",
        )
        self.layer_norm2 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm2"
        )
        self.linear1.build((None, None, 2 * hidden + self.position_embedding_dim))
        self.layer_norm1.build((None, None, hidden))
        self.linear2.build((None, None, hidden))
        self.layer_norm2.build((None, None, hidden))
        self.bias = self.add_weight(
            name="bias", shape=(self.vocabulary_size,), initializer="zeros"
        )
        self.built = True

    def call(self, inputs, span_boundaries, span_offsets):
        span_boundaries = ops.cast(span_boundaries, "int32")
        span_offsets = ops.cast(span_offsets, "int32")
        batch = ops.shape(span_boundaries)[0]
        targets = ops.shape(span_boundaries)[1]
        # One gather for both boundaries: [B, 2P] rows -> [B, P, 2H] = [left; right].
        flat = ops.reshape(span_boundaries, (batch, 2 * targets, 1))
        boundary_states = ops.take_along_axis(inputs, flat, axis=1)
        boundary_states = ops.reshape(
            boundary_states, (batch, targets, 2 * self.hidden_dim)
        )
        offsets = ops.clip(span_offsets, 0, self.max_pair_targets - 1)
        positions = ops.take(self.position_embeddings, offsets, axis=0)
        positions = ops.cast(positions, boundary_states.dtype)
        h = ops.concatenate([boundary_states, positions], axis=-1)
        h = self.layer_norm1(self.linear1(h))
        h = self.layer_norm2(self.linear2(h))
        logits = self.token_embedding(h, reverse=True)
        logits = ops.cast(logits, self.compute_dtype)
        return logits + ops.cast(self.bias, self.compute_dtype)

    def compute_output_shape(
        self, inputs_shape, span_boundaries_shape=None, span_offsets_shape=None
    ):
        return tuple(span_offsets_shape) + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "token_embedding": keras.layers.serialize(self.token_embedding),
                "max_pair_targets": self.max_pair_targets,
                "position_embedding_dim": self.position_embedding_dim,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "intermediate_activation": keras.activations.serialize(
                    self.intermediate_activation
                ),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "position_initializer": keras.initializers.serialize(
                    self.position_initializer
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        embedding = config.get("token_embedding")
        if isinstance(embedding, dict):
            config["token_embedding"] = keras.layers.deserialize(embedding)
        return cls(**config)
