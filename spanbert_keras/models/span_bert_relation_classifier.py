"""Relation extraction (TACRED): one relation per sentence with marked entities, from [CLS]."""

import keras

from spanbert_keras.models.span_bert_text_classifier import SpanBertTextClassifier


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertRelationClassifier(SpanBertTextClassifier):
    """Relation logits from the pooled [CLS] output of a sentence with entity markers.

    The authors' TACRED model: the sentence with its subject and object
    replaced by marker pieces (`[CLS] ... SUBJ=PERSON ... OBJ=CITY ... [SEP]`,
    built by `spanbert_keras.data.tacred.RelationFeatures`) -> encoder ->
    dropout -> dense over the relations (`no_relation` is label 0). The
    computation is `SpanBertTextClassifier`'s; the class names the task
    (and its saved models).

    Args:
        backbone: the encoder, its embedding table holding every marker piece.
        num_classes: int, the relations (42 on TACRED).
        dropout: float in [0, 1).
        activation: output activation (None: logits).
        dtype: dtype policy; must be the backbone's.
        **kwargs: `keras.Model` arguments.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> from spanbert_keras.models.span_bert_relation_classifier import (
    ...     SpanBertRelationClassifier)
    >>> backbone = SpanBertBackbone(vocabulary_size=30, num_layers=1, num_heads=2,
    ...                             hidden_dim=8, intermediate_dim=16, max_sequence_length=12)
    >>> model = SpanBertRelationClassifier(backbone, num_classes=42)
    >>> tuple(model({"token_ids": np.ones((2, 6), "int32"),
    ...              "segment_ids": np.zeros((2, 6), "int32"),
    ...              "padding_mask": np.ones((2, 6), "int32")}).shape)
    (2, 42)

    References:
        Joshi et al., "SpanBERT", TACL 2020, section 4.3; Zhang et al.,
        "Position-aware Attention and Supervised Data Improve Slot Filling"
        (TACRED), EMNLP 2017.
    """
