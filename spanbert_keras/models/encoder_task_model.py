"""The shape of every classification / tagging task model: the encoder, then one head."""

import keras

from spanbert_keras.models.distributed import DistributedTraining
from spanbert_keras.models.presets import TaskModelPresets
from spanbert_keras.models.serialization import deserialize_nested


class EncoderTaskModel(TaskModelPresets, DistributedTraining, keras.Model):
    """A functional model `head(backbone(inputs)[encoder_output])`.

    The base of `SpanBertTextClassifier`, `SpanBertRelationClassifier` and
    `SpanBertTokenTagger` (subclasses set `head_class`, `encoder_output`
    and the `unused_layers` of the encoder, which are frozen). Takes the encoder's inputs (a dict of int32
    `[batch, length]` `token_ids`, `segment_ids`, `padding_mask`) and
    returns the head's output in the compute dtype. No compile defaults, no
    preprocessing: a `keras.Model` for `fit` with Keras' own losses.

    Args:
        backbone: a `keras_hub.models.BertBackbone` (a `SpanBertBackbone`).
        num_classes: int >= 1.
        dropout: float in [0, 1), before the head's dense layer.
        activation: the head's output activation (None: logits).
        dtype: dtype policy; must be the backbone's (default).
        **kwargs: `keras.Model` arguments (`name`, ...).
    """

    head_class = None
    encoder_output = None
    # Encoder layers the head does not use: frozen, so `fit` neither warns
    # about their missing gradients nor keeps optimiser slots for them.
    unused_layers = ()

    def __init__(self, backbone, num_classes, dropout=0.1, activation=None, dtype=None,
                 **kwargs):
        if not isinstance(backbone, keras.Model) or not hasattr(backbone, "token_embedding"):
            raise ValueError(
                "`backbone` must be a keras-hub BertBackbone (e.g. a SpanBertBackbone). "
                f"Received: backbone={backbone!r}"
            )
        if dtype is not None and keras.dtype_policies.get(dtype).name != backbone.dtype_policy.name:
            raise ValueError(
                f"dtype={keras.dtype_policies.get(dtype).name!r} does not match the "
                f"backbone's dtype policy {backbone.dtype_policy.name!r}."
            )
        for layer in self.unused_layers:
            backbone.get_layer(layer).trainable = False
        head = self.head_class(
            num_classes=num_classes,
            dropout=dropout,
            activation=activation,
            dtype=backbone.dtype_policy,
            name="head",
        )
        inputs = backbone.input
        outputs = head(backbone(inputs)[self.encoder_output])
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # A functional model drops `dtype`: set the policy as keras-hub's
        # Backbone does (compile's loss scaling is keyed to it).
        self.dtype_policy = backbone.dtype_policy
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.dropout = head.dropout
        self.activation = head.activation

    def get_config(self):
        # Not the nested functional config: the constructor's arguments.
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_nested(config))
