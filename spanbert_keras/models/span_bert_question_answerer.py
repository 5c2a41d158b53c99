"""Extractive question answering: a SpanBERT encoder with a start / end span head."""

import keras
from keras import ops

from spanbert_keras.layers.span_prediction_head import SpanPredictionHead
from spanbert_keras.models.distributed import DistributedTraining
from spanbert_keras.models.presets import TaskModelPresets
from spanbert_keras.models.serialization import deserialize_nested
from spanbert_keras.models.span_bert_backbone import backbone_dtype_policy

INPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertQuestionAnswerer(TaskModelPresets, DistributedTraining, keras.Model):
    """SpanBERT for SQuAD-style QA: encoder + `SpanPredictionHead`.

    Inputs: a dict of int `[batch, length]` tensors `token_ids`,
    `segment_ids` (0 for `[CLS] question [SEP]`, 1 for the passage and its
    `[SEP]`) and `padding_mask`, as `QuestionAnswerFeatures` makes them
    (other keys of the dict are ignored). Outputs: a dict of `start_logits`
    and `end_logits`, `[batch, length]` in the compute dtype; the no-answer
    score of a window is `start_logits[:, 0] + end_logits[:, 0]` ([CLS]).

    Train it with Keras' own loss machinery: labels
    `{"start_logits": start_positions, "end_logits": end_positions}` and
    sparse categorical cross entropy from logits on each, weighted 0.5 (the
    authors' loss, `(start CE + end CE) / 2`); see `spanbert_keras.tasks.squad`.
    The encoder's pooler is unused and frozen (it would get no gradient).

    Args:
        backbone: a `SpanBertBackbone` (any keras-hub `BertBackbone`).
        kernel_initializer: the head's initializer (default truncated
            normal, stddev 0.02).
        dtype: dtype policy; must match the backbone's (default: its own).
        **kwargs: `keras.Model` arguments (`name`, ...).

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> from spanbert_keras.models.span_bert_question_answerer import SpanBertQuestionAnswerer
    >>> encoder = SpanBertBackbone(vocabulary_size=30, num_layers=1, num_heads=2,
    ...                            hidden_dim=8, intermediate_dim=16, max_sequence_length=12)
    >>> model = SpanBertQuestionAnswerer(encoder)
    >>> out = model({"token_ids": np.ones((2, 6), "int32"),
    ...              "segment_ids": np.zeros((2, 6), "int32"),
    ...              "padding_mask": np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")})
    >>> tuple(out["start_logits"].shape), out["end_logits"].numpy()[1, 4:].tolist()
    ((2, 6), [-10000.0, -10000.0])
    """

    def __init__(self, backbone, kernel_initializer=None, dtype=None, **kwargs):
        if not hasattr(backbone, "hidden_dim") or not hasattr(backbone, "token_embedding"):
            raise ValueError(
                f"`backbone` must be a keras-hub BertBackbone. Received: backbone={backbone!r}"
            )
        super().__init__(dtype=backbone_dtype_policy(backbone, dtype), **kwargs)
        self.backbone = backbone
        pooler = getattr(backbone, "pooled_dense", None)
        if pooler is not None:
            pooler.trainable = False
        self.span_head = SpanPredictionHead(
            kernel_initializer=kernel_initializer, dtype=self.dtype_policy, name="span_head"
        )
        self.span_head.build((None, None, backbone.hidden_dim))
        self.built = True

    def build(self, input_shape=None):
        # Every layer is built in the constructor: loading needs no sample batch.
        self.built = True

    def call(self, inputs, training=False):
        padding_mask = inputs["padding_mask"]
        encoded = self.backbone(
            {key: ops.cast(inputs[key], "int32") for key in INPUT_KEYS}, training=training
        )
        return self.span_head(encoded["sequence_output"], padding_mask=padding_mask)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.layers.serialize(self.backbone),
                "kernel_initializer": keras.initializers.serialize(
                    self.span_head.kernel_initializer
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_nested(config))
