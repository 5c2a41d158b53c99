"""The SpanBERT encoder built from a `ModelConfig`."""

from spanbert_keras.config import ModelConfig
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone


def build_backbone(
    model_config, vocabulary_size, sequence_length=None, dtype=None, activation=None
):
    """Builds a randomly initialised BERT encoder for SpanBERT.

    SpanBERT keeps BERT's encoder unchanged (two segment types, as in the
    released checkpoints, although pre-training only uses segment 0),
    including its exact (erf) GeLU.

    Args:
        model_config: a `spanbert_keras.config.ModelConfig`, or the name of a
            size (`"tiny"`, `"small"`, `"base"`, `"large"`).
        vocabulary_size: int, the number of wordpieces (`Vocabulary.size`).
        sequence_length: optional int, the longest sequence the caller will
            feed; must not exceed the position table
            (`model_config.max_sequence_length`).
        dtype: optional dtype policy (`"float32"`, `"mixed_bfloat16"`, ...).
        activation: optional, the encoder's feed-forward activation, in place
            of `model_config.activation`: `"gelu"` (exact, BERT's and
            SpanBERT's) or `"gelu_approximate"` (keras-hub's).

    Returns:
        A `SpanBertBackbone` (a `keras_hub.models.BertBackbone`) taking
        `token_ids`, `segment_ids`, `padding_mask` and returning
        `sequence_output`, `pooled_output`.

    Example:

    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.models.backbone import build_backbone
    >>> config = ModelConfig.from_size("tiny", max_sequence_length=64)
    >>> backbone = build_backbone(config, vocabulary_size=100)
    >>> backbone.hidden_dim, backbone.num_layers, backbone.activation.__name__
    (128, 2, 'gelu')
    """
    if isinstance(model_config, str):
        model_config = ModelConfig.from_size(model_config)
    if not isinstance(model_config, ModelConfig):
        raise TypeError(
            "`model_config` must be a ModelConfig or a size name. "
            f"Received: {type(model_config).__name__}"
        )
    if model_config.layer_norm_epsilon != 1e-12:
        raise ValueError(
            f"model.layer_norm_epsilon={model_config.layer_norm_epsilon} is not supported: "
            "keras-hub's BERT encoder (and the heads) use BERT's 1e-12."
        )
    positions = model_config.max_sequence_length
    if sequence_length is not None and sequence_length > positions:
        raise ValueError(
            f"sequence_length={sequence_length} exceeds the encoder's position "
            f"table (model.max_sequence_length={positions}). Shorten the "
            "sequences or enlarge model.max_sequence_length."
        )
    return SpanBertBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=model_config.num_layers,
        num_heads=model_config.num_heads,
        hidden_dim=model_config.hidden_dim,
        intermediate_dim=model_config.intermediate_dim,
        dropout=model_config.dropout,
        max_sequence_length=positions,
        num_segments=2,
        activation=model_config.activation if activation is None else activation,
        dtype=dtype,
    )
