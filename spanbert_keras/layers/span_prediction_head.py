"""The extractive-QA head: start and end logits over the tokens of a window."""

import keras
from keras import ops

# Logit of a padding position: far below any real one, and finite in float16.
PADDING_LOGIT = -1e4


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanPredictionHead(keras.layers.Layer):
    """Start / end logits of the answer span, BERT's and SpanBERT's QA head.

    One dense layer maps each encoder output `x_i` to two numbers:
    `start_logits_i, end_logits_i = W x_i + b`. A softmax over the positions
    of a window gives the start and end distributions; padding positions get
    `-1e4`. The no-answer ("null") score is the span `[CLS]..[CLS]`:
    `start_logits[:, 0] + end_logits[:, 0]` (SQuAD v2.0, as the authors'
    code scores it); see `spanbert_keras.data.qa_decoding`.

    Args:
        kernel_initializer: initializer of `W` (default: truncated normal,
            stddev 0.02, as BERT).
        bias_initializer: initializer of `b`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float `[batch, length, hidden]`, encoder outputs.
        padding_mask: optional int or bool `[batch, length]`, nonzero on real
            tokens.

    Returns:
        A dict of `start_logits` and `end_logits`, `[batch, length]` in the
        layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.layers.span_prediction_head import SpanPredictionHead
    >>> head = SpanPredictionHead(kernel_initializer="ones")
    >>> x = np.array([[[1.0, 2.0], [0.5, 0.0], [3.0, 3.0]]], "float32")
    >>> out = head(x, padding_mask=np.array([[1, 1, 0]]))
    >>> out["start_logits"].numpy().tolist(), out["end_logits"].numpy().tolist()
    ([[3.0, 0.5, -10000.0]], [[3.0, 0.5, -10000.0]])

    References:
        Devlin et al., "BERT", NAACL 2019 (section 4.2, SQuAD);
        Joshi et al., "SpanBERT", TACL 2020.
    """

    def __init__(self, kernel_initializer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        try:
            self.kernel_initializer = keras.initializers.get(kernel_initializer)
            self.bias_initializer = keras.initializers.get(bias_initializer)
        except (TypeError, ValueError):
            raise ValueError(
                "`kernel_initializer` and `bias_initializer` must be Keras initializers. "
                f"Received: kernel_initializer={kernel_initializer!r}, "
                f"bias_initializer={bias_initializer!r}"
            ) from None
        self.dense = keras.layers.Dense(
            2,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="logits",
        )

    def build(self, inputs_shape, padding_mask_shape=None):
        self.dense.build(inputs_shape)
        self.built = True

    def call(self, inputs, padding_mask=None):
        logits = self.dense(inputs)
        if padding_mask is not None:
            real = ops.not_equal(ops.cast(padding_mask, "int32"), 0)[..., None]
            logits = ops.where(real, logits, ops.cast(PADDING_LOGIT, logits.dtype))
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}

    def compute_output_spec(self, inputs, padding_mask=None):
        return {
            key: keras.KerasTensor(inputs.shape[:-1], dtype=self.compute_dtype)
            for key in ("start_logits", "end_logits")
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
