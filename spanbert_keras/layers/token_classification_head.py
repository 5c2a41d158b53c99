"""Dropout + dense at every position: the tagger on the encoder's sequence output."""

import keras

from spanbert_keras.layers.classification_head import ClassificationHead


@keras.saving.register_keras_serializable(package="spanbert_keras")
class TokenClassificationHead(ClassificationHead):
    """Per-position logits from the encoder's sequence output.

    `logits[b, i] = dropout(x[b, i]) W + b`, BERT's token classifier
    (`BertForTokenClassification`); the same computation as
    `ClassificationHead`, on `[batch, length, hidden]` inputs.

    Args:
        num_classes: int >= 1, the number of tags.
        dropout: float in [0, 1).
        activation: activation of the output (None: logits).
        kernel_initializer: initializer of the dense kernel (default:
            truncated normal, stddev 0.02).
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float `[batch, length, hidden]`.
        training: bool, apply dropout.

    Returns:
        `[batch, length, num_classes]` in the layer's compute dtype.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.layers.token_classification_head import TokenClassificationHead
    >>> head = TokenClassificationHead(num_classes=5)
    >>> tuple(head(np.ones((2, 7, 8), "float32")).shape)
    (2, 7, 5)

    References:
        Devlin et al., "BERT", NAACL 2019, section 4.3.
    """

    input_rank = 3
