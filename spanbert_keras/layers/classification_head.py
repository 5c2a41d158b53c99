"""Dropout + dense: the classifier on the encoder's [CLS] / pooled output."""

import keras


def _bert_initializer():
    return keras.initializers.TruncatedNormal(stddev=0.02)


@keras.saving.register_keras_serializable(package="spanbert_keras")
class ClassificationHead(keras.layers.Layer):
    """Logits (or a regression value) from one vector per example.

    `logits = dropout(x) W + b`, BERT's fine-tuning classifier
    (`BertForSequenceClassification`, which SpanBERT's TACRED and GLUE code
    use on the pooled [CLS] output). keras-hub has this only inside its
    `BertTextClassifier` task model, not as a layer.

    Args:
        num_classes: int >= 1; 1 for a regression (STS-B).
        dropout: float in [0, 1), applied to the input during training.
        activation: activation of the output (None: logits).
        kernel_initializer: initializer of the dense kernel (BERT's
            truncated normal, stddev 0.02, by default).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float `[batch, hidden]`.
        training: bool, apply dropout.

    Returns:
        `[batch, num_classes]` in the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.layers.classification_head import ClassificationHead
    >>> head = ClassificationHead(num_classes=3)
    >>> tuple(head(np.ones((2, 8), "float32")).shape)
    (2, 3)

    References:
        Devlin et al., "BERT", NAACL 2019, section 4.1.
    """

    input_rank = 2

    def __init__(self, num_classes, dropout=0.1, activation=None, kernel_initializer=None,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"`num_classes` must be a positive int. Received: num_classes={num_classes!r}"
            )
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout!r}")
        try:
            self.activation = keras.activations.get(activation)
        except (TypeError, ValueError):
            raise ValueError(
                f"`activation` must be a Keras activation or None. Received: activation={activation!r}"
            ) from None
        self.num_classes = num_classes
        self.dropout = float(dropout)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or _bert_initializer()
        )

    def build(self, input_shape):
        if len(input_shape) != self.input_rank:
            raise ValueError(
                f"{type(self).__name__} takes rank-{self.input_rank} inputs. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.dense = keras.layers.Dense(
            self.num_classes,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="logits",
        )
        self.dense.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        return self.dense(self.dropout_layer(inputs, training=training))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.num_classes,)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            dropout=self.dropout,
            activation=keras.activations.serialize(self.activation),
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config
