"""BERT's masked-LM head, decoding through the tied input embedding."""

import keras
import keras_hub
from keras import ops

from spanbert_keras.compat import masked_lm_head_parts


@keras.saving.register_keras_serializable(package="spanbert_keras")
class BertMaskedLMHead(keras_hub.layers.MaskedLMHead):
    """BERT's masked-LM head: keras-hub's `MaskedLMHead` with BERT's defaults.

    For the encoder outputs x at each masked position i:

        logits_i = LayerNorm(GeLU(W x_i + b)) E^T + bias

    with exact (erf) GeLU, LayerNorm epsilon 1e-12 and E the tied input token
    embedding, as BERT's and SpanBERT's `cls.predictions` (keras-hub's layer
    defaults to ReLU and epsilon 1e-5). Same weights, sub-layer names and
    config keys as keras-hub's layer, and two fixes: `call` casts the float32
    bias to the logits' dtype (keras-hub adds it to half-precision logits,
    which raises in eager mode under a mixed policy and silently promotes the
    logits to float32 inside `tf.function`), so the logits come out in the
    compute dtype, like the SBO head's; `from_config` leaves the dict it is
    given unchanged (keras-hub's puts a layer object into it).

    Args:
        vocabulary_size: int or None; defaults to the embedding's size.
        token_embedding: a `keras.layers.ReversibleEmbedding` (the encoder's
            `token_embedding`), the tied decoder; None gives the head its own
            output kernel.
        intermediate_activation: activation of the transform. `"gelu"` is
            exact (erf) GeLU in Keras 3 (`approximate=False`).
        activation: activation of the outputs (None: logits).
        layer_norm_epsilon: float > 0.
        kernel_initializer: initializer of the transform's kernel
            (default: truncated normal, stddev 0.02, as BERT).
        bias_initializer: initializer of the biases.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float `[batch, length, hidden]`, encoder outputs.
        mask_positions: int `[batch, P]`, the positions to predict.

    Returns:
        `[batch, P, vocabulary_size]` logits in the layer's compute dtype.

    Example:

    >>> import numpy as np, keras
    >>> from spanbert_keras.layers.masked_lm_head import BertMaskedLMHead
    >>> embedding = keras.layers.ReversibleEmbedding(50, 8)
    >>> embedding.build()
    >>> head = BertMaskedLMHead(token_embedding=embedding)
    >>> logits = head(np.zeros((2, 10, 8), "float32"),
    ...               mask_positions=np.array([[1, 4, 5], [0, 2, 9]], "int32"))
    >>> tuple(logits.shape), head.intermediate_activation.__name__
    ((2, 3, 50), 'gelu')

    References:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers
        for Language Understanding", NAACL 2019.
    """

    def __init__(
        self,
        vocabulary_size=None,
        token_embedding=None,
        intermediate_activation="gelu",
        activation=None,
        layer_norm_epsilon=1e-12,
        kernel_initializer=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        try:
            keras.activations.get(intermediate_activation)
        except (TypeError, ValueError):
            raise ValueError(
                "`intermediate_activation` must be a Keras activation. "
                f"Received: intermediate_activation={intermediate_activation!r}"
            ) from None
        if not layer_norm_epsilon > 0:
            raise ValueError(
                "`layer_norm_epsilon` must be positive. "
                f"Received: layer_norm_epsilon={layer_norm_epsilon}"
            )
        super().__init__(
            vocabulary_size=vocabulary_size,
            token_embedding=token_embedding,
            intermediate_activation=intermediate_activation,
            activation=activation,
            layer_norm_epsilon=layer_norm_epsilon,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            **kwargs,
        )

    def call(self, inputs, mask_positions):
        positions = ops.expand_dims(ops.cast(mask_positions, "int32"), axis=-1)
        x = ops.take_along_axis(inputs, positions, axis=1)
        dense, layer_norm, kernel, bias = masked_lm_head_parts(self)
        x = layer_norm(dense(x))
        if self.token_embedding is not None:
            outputs = self.token_embedding(x, reverse=True)
        else:
            outputs = ops.matmul(x, kernel)
        outputs = ops.cast(outputs, self.compute_dtype)
        outputs = outputs + ops.cast(bias, self.compute_dtype)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    @classmethod
    def from_config(cls, config):
        # keras-hub's `from_config` replaces the embedding's config by a layer
        # in the dict it is given; work on a copy so the caller's stays JSON.
        return super().from_config(dict(config))
