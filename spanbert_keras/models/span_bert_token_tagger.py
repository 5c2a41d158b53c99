"""Token classification (NER): a tag for every wordpiece, read at each word's first piece."""

import keras

from spanbert_keras.layers.token_classification_head import TokenClassificationHead
from spanbert_keras.models.encoder_task_model import EncoderTaskModel


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertTokenTagger(EncoderTaskModel):
    """Per-position tag logits from the encoder's sequence output.

    Inputs: `[CLS] pieces [SEP]` packed by
    `spanbert_keras.data.conll.TaggingFeatures`, a dict of int32 `[B, L]`
    `token_ids`, `segment_ids`, `padding_mask`. Output: `[B, L, num_classes]`
    logits. Training weights only each word's first piece (the other pieces
    get sample weight 0), and decoding reads the first pieces. The encoder's
    pooler, which tagging does not use, is frozen.

    Args:
        backbone: the encoder (`SpanBertBackbone`).
        num_classes: int >= 1, the tags (`O`, `B-PER`, `I-PER`, ...).
        dropout: float in [0, 1), on the sequence output.
        activation: output activation (None: logits).
        dtype: dtype policy; must be the backbone's.
        **kwargs: `keras.Model` arguments.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> from spanbert_keras.models.span_bert_token_tagger import SpanBertTokenTagger
    >>> backbone = SpanBertBackbone(vocabulary_size=30, num_layers=1, num_heads=2,
    ...                             hidden_dim=8, intermediate_dim=16, max_sequence_length=12)
    >>> model = SpanBertTokenTagger(backbone, num_classes=9)
    >>> tuple(model({"token_ids": np.ones((2, 6), "int32"),
    ...              "segment_ids": np.zeros((2, 6), "int32"),
    ...              "padding_mask": np.ones((2, 6), "int32")}).shape)
    (2, 6, 9)

    References:
        Devlin et al., "BERT", NAACL 2019, section 5.3 (NER on the first
        sub-token of each word).
    """

    head_class = TokenClassificationHead
    encoder_output = "sequence_output"
    unused_layers = ("pooled_dense",)
