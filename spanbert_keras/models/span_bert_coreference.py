"""Coreference resolution: the encoder reads a document's segments, the scorer links its spans."""

import keras
import tensorflow as tf

from spanbert_keras.data.features import MODEL_INPUTS
from spanbert_keras.layers.coreference_scorer import CoreferenceScorer
from spanbert_keras.layers.coreference_scorer import coreference_loss
from spanbert_keras.models.presets import TaskModelPresets
from spanbert_keras.models.serialization import deserialize_nested

# What the model reads besides the encoder's inputs: `CorefFeatures`' per-piece
# maps and the genre.
DOCUMENT_INPUTS = ("piece_positions", "sentence_ids", "speaker_ids", "piece_segments", "genre")
# The gold mentions `compute_loss` reads from `y`, in pieces.
GOLD_KEYS = ("gold_starts", "gold_ends", "gold_cluster_ids")


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertCoreference(TaskModelPresets, keras.Model):
    """The "independent" coreference model of Joshi et al. (2019) on a SpanBERT encoder.

    One document a call: its segments `[S, L]` (`token_ids`, `segment_ids`,
    `padding_mask`, from `spanbert_keras.data.coref_features.CorefFeatures`)
    go through the encoder each on its own; the vectors of the document's
    pieces (`piece_positions` into the flattened `[S * L]` output) go to the
    `CoreferenceScorer` with their `sentence_ids`, `speaker_ids`,
    `piece_segments` and the document's `genre` (int32 `[1]`). Returns the
    scorer's dict. `fit` takes `y` = `gold_starts`, `gold_ends`,
    `gold_cluster_ids` (int32 `[G]`, pieces) and minimises
    `coreference_loss`: compile it with an optimizer only. The scorer runs
    in float32 under any dtype policy; the encoder's pooler, which
    coreference does not use, is frozen.

    Args:
        backbone: the encoder (`SpanBertBackbone`).
        dropout: float, the scorer's dropout (the authors' 0.3).
        **scorer_options: `CoreferenceScorer` arguments (`max_span_width`,
            `ffnn_size`, `coref_depth`, ...).

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.models.span_bert_backbone import SpanBertBackbone
    >>> backbone = SpanBertBackbone(vocabulary_size=30, num_layers=1, num_heads=2,
    ...                             hidden_dim=8, intermediate_dim=16, max_sequence_length=8)
    >>> model = SpanBertCoreference(backbone, max_span_width=3, ffnn_size=8, feature_size=4)
    >>> out = model({"token_ids": np.ones((2, 6), "int32"), "segment_ids": np.zeros((2, 6), "int32"),
    ...              "padding_mask": np.ones((2, 6), "int32"),
    ...              "piece_positions": np.array([1, 2, 3, 4, 7, 8, 9, 10], "int32"),
    ...              "sentence_ids": np.array([0, 0, 0, 1, 1, 2, 2, 2], "int32"),
    ...              "speaker_ids": np.zeros(8, "int32"), "piece_segments": np.array(
    ...                  [0, 0, 0, 0, 1, 1, 1, 1], "int32"), "genre": np.array([3], "int32")})
    >>> out["top_antecedent_scores"].shape
    TensorShape([3, 4])

    References:
        Joshi et al., "BERT for Coreference Resolution: Baselines and
        Analysis", EMNLP 2019; Lee et al., "Higher-order Coreference
        Resolution with Coarse-to-fine Inference", NAACL 2018.
    """

    def __init__(self, backbone, dropout=0.3, **scorer_options):
        name = scorer_options.pop("name", None)
        trainable = scorer_options.pop("trainable", True)
        super().__init__(name=name, trainable=trainable)
        if not isinstance(backbone, keras.Model) or not hasattr(backbone, "token_embedding"):
            raise ValueError(
                "`backbone` must be a keras-hub BertBackbone (e.g. a SpanBertBackbone). "
                f"Received: backbone={backbone!r}"
            )
        backbone.get_layer("pooled_dense").trainable = False
        self.backbone = backbone
        self.scorer = CoreferenceScorer(dropout=dropout, name="coreference_scorer",
                                        **scorer_options)
        self.scorer.build((None, backbone.hidden_dim))
        self.dropout = dropout
        self.scorer_options = dict(scorer_options)
        self.built = True

    def call(self, inputs, training=False):
        encoded = self.backbone({k: inputs[k] for k in MODEL_INPUTS},
                                training=training)["sequence_output"]
        pieces = tf.gather(tf.reshape(encoded, [-1, self.backbone.hidden_dim]),
                           inputs["piece_positions"])
        return self.scorer(pieces, inputs["sentence_ids"], inputs["speaker_ids"],
                           inputs["piece_segments"], inputs["genre"], training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = coreference_loss(y_pred, *(tf.cast(y[k], tf.int32) for k in GOLD_KEYS))
        if self.losses:
            loss = loss + tf.add_n([tf.cast(extra, loss.dtype) for extra in self.losses])
        return loss

    def task_variables(self):
        """The scorer's trainable variables (the ones the task learning rate trains)."""
        return list(self.scorer.trainable_variables)

    def get_config(self):
        return {
            "backbone": keras.layers.serialize(self.backbone),
            "dropout": self.dropout,
            **self.scorer_options,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_nested(config))
