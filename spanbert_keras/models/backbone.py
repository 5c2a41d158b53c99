"""The SpanBERT encoder: a keras-hub `BertBackbone` built from a `ModelConfig`."""

import keras_hub

from spanbert_keras.config import ModelConfig


def build_backbone(model_config, vocabulary_size, max_seq_length=None, dtype=None):
    """Builds a randomly initialised BERT encoder for SpanBERT.

    SpanBERT keeps BERT's encoder unchanged (two segment types, as in the
    released checkpoints, although pre-training only uses segment 0).

    Args:
        model_config: a `spanbert_keras.config.ModelConfig`, or the name of a
            preset (`"tiny"`, `"small"`, `"base"`, `"large"`).
        vocabulary_size: int, the number of wordpieces (`Vocabulary.size`).
        max_seq_length: optional int, the longest sequence the caller will
            feed; must not exceed the position table
            (`model_config.max_sequence_length`).
        dtype: optional dtype policy (`"float32"`, `"mixed_bfloat16"`, ...).

    Returns:
        A `keras_hub.models.BertBackbone` taking `token_ids`, `segment_ids`,
        `padding_mask` and returning `sequence_output`, `pooled_output`.

    Example:

    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.models.backbone import build_backbone
    >>> config = ModelConfig.from_preset("tiny", max_sequence_length=64)
    >>> backbone = build_backbone(config, vocabulary_size=100)
    >>> backbone.hidden_dim, backbone.num_layers
    (128, 2)
    """
    if isinstance(model_config, str):
        model_config = ModelConfig.from_preset(model_config)
    if not isinstance(model_config, ModelConfig):
        raise TypeError(
            "`model_config` must be a ModelConfig or a preset name. "
            f"Received: {type(model_config).__name__}"
        )
    if isinstance(vocabulary_size, bool) or not isinstance(vocabulary_size, int):
        raise ValueError(
            "`vocabulary_size` must be a positive int. "
            f"Received: vocabulary_size={vocabulary_size!r}"
        )
    if vocabulary_size < 1:
        raise ValueError(
            "`vocabulary_size` must be a positive int. "
            f"Received: vocabulary_size={vocabulary_size}"
        )
    positions = model_config.max_sequence_length
    if max_seq_length is not None and max_seq_length > positions:
        raise ValueError(
            f"max_seq_length={max_seq_length} exceeds the encoder's position "
            f"table (model.max_sequence_length={positions}). Shorten the "
            "sequences or enlarge model.max_sequence_length."
        )
    if model_config.hidden_dim % model_config.num_heads:
        raise ValueError(
            f"hidden_dim={model_config.hidden_dim} must be divisible by "
            f"num_heads={model_config.num_heads}."
        )
    if not 0.0 <= model_config.dropout < 1.0:
        raise ValueError(
            f"dropout must be in [0, 1). Received: dropout={model_config.dropout}"
        )
    return keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=model_config.num_layers,
        num_heads=model_config.num_heads,
        hidden_dim=model_config.hidden_dim,
        intermediate_dim=model_config.intermediate_dim,
        dropout=model_config.dropout,
        max_sequence_length=positions,
        num_segments=2,
        dtype=dtype,
    )
