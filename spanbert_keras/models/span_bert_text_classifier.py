"""Sentence and sentence-pair classification (GLUE) from the [CLS] output."""

import keras

from spanbert_keras.layers.classification_head import ClassificationHead
from spanbert_keras.models.encoder_task_model import EncoderTaskModel


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertTextClassifier(EncoderTaskModel):
    """The encoder's pooled [CLS] output -> dropout -> dense: class logits or a score.

    Inputs: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` packed by
    `spanbert_keras.data.glue.TextFeatures`, a dict of int32 `[B, L]`
    `token_ids`, `segment_ids`, `padding_mask`. Output: `[B, num_classes]`
    logits (`num_classes=1`: one regression value per text, STS-B).

    Args:
        backbone: the encoder (`SpanBertBackbone`).
        num_classes: int >= 1, the labels (1 for a regression).
        dropout: float in [0, 1), on the pooled output (BERT's 0.1).
        activation: output activation (None: logits).
        dtype: dtype policy; must be the backbone's.
        **kwargs: `keras.Model` arguments.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> from spanbert_keras.models.span_bert_text_classifier import SpanBertTextClassifier
    >>> backbone = SpanBertBackbone(vocabulary_size=30, num_layers=1, num_heads=2,
    ...                             hidden_dim=8, intermediate_dim=16, max_sequence_length=12)
    >>> model = SpanBertTextClassifier(backbone, num_classes=3)
    >>> logits = model({"token_ids": np.ones((2, 6), "int32"),
    ...                 "segment_ids": np.zeros((2, 6), "int32"),
    ...                 "padding_mask": np.ones((2, 6), "int32")})
    >>> tuple(logits.shape)
    (2, 3)

    References:
        Devlin et al., "BERT", NAACL 2019; Joshi et al., "SpanBERT", TACL 2020,
        section 5.3 (GLUE).
    """

    head_class = ClassificationHead
    encoder_output = "pooled_output"
