"""keras-hub's BERT tokenizer, preprocessors and tasks, for presets of a `SpanBertBackbone`.

keras-hub finds the tokenizer, preprocessor and task classes of a preset by
the preset's backbone class. The subclasses here name `SpanBertBackbone`,
so keras-hub's own `BertTokenizer.from_preset(DIR)`,
`BertTextClassifier.from_preset(DIR, num_classes=2)` and
`BertMaskedLM.from_preset(DIR)` open a preset written by `spanbert-keras
convert --to keras-hub` (encoder + tokenizer; the tasks' heads are then
fresh) in a process that has imported `spanbert_keras` (which imports this
module). They are keras-hub's BERT classes unchanged but for the encoder,
which computes BERT's exact GeLU where keras-hub's BERT uses the tanh form.

Example:

>>> import keras_hub
>>> from spanbert_keras.models import keras_hub_tasks
>>> keras_hub_tasks.SpanBertKerasHubTokenizer.backbone_cls.__name__
'SpanBertBackbone'
"""

import keras
import keras_hub

from spanbert_keras.models.span_bert_backbone import SpanBertBackbone


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertKerasHubTokenizer(keras_hub.models.BertTokenizer):
    """keras-hub's `BertTokenizer` for a `SpanBertBackbone` preset."""

    backbone_cls = SpanBertBackbone


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertKerasHubTextClassifierPreprocessor(
        keras_hub.models.BertTextClassifierPreprocessor):
    """keras-hub's `BertTextClassifierPreprocessor` for a `SpanBertBackbone` preset."""

    backbone_cls = SpanBertBackbone
    tokenizer_cls = SpanBertKerasHubTokenizer


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertKerasHubTextClassifier(keras_hub.models.BertTextClassifier):
    """keras-hub's `BertTextClassifier` on a `SpanBertBackbone`."""

    backbone_cls = SpanBertBackbone
    preprocessor_cls = SpanBertKerasHubTextClassifierPreprocessor


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertKerasHubMaskedLMPreprocessor(keras_hub.models.BertMaskedLMPreprocessor):
    """keras-hub's `BertMaskedLMPreprocessor` for a `SpanBertBackbone` preset."""

    backbone_cls = SpanBertBackbone
    tokenizer_cls = SpanBertKerasHubTokenizer


@keras.saving.register_keras_serializable(package="spanbert_keras")
class SpanBertKerasHubMaskedLM(keras_hub.models.BertMaskedLM):
    """keras-hub's `BertMaskedLM` on a `SpanBertBackbone` (its MLM head fresh from a preset)."""

    backbone_cls = SpanBertBackbone
    preprocessor_cls = SpanBertKerasHubMaskedLMPreprocessor
