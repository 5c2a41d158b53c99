"""`from_preset` for the task models: a fine-tuned run as it is, or a new head on an encoder."""

from spanbert_keras import preset_loading
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone


def task_model_from_preset(cls, preset, **kwargs):
    """A `cls` task model from `preset` (see `EncoderTaskModel.from_preset`).

    A fine-tuning run directory gives its fine-tuned model (which must be a
    `cls`; `kwargs` are then refused); anything else gives a new `cls` on
    `SpanBertBackbone.from_preset(preset)`, built with `kwargs`.
    """
    model = preset_loading.load("task_model", preset)
    if model is None:
        return cls(SpanBertBackbone.from_preset(preset), **kwargs)
    if not isinstance(model, cls):
        raise ValueError(f"{preset} holds a fine-tuned {type(model).__name__}, not a "
                         f"{cls.__name__}.")
    if kwargs:
        raise ValueError(f"{preset} is a fine-tuned model: its settings are its own; "
                         f"got {sorted(kwargs)}.")
    return model


class TaskModelPresets:
    """Mixin: `from_preset` of a task model class (see `task_model_from_preset`)."""

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A fine-tuned model of a fine-tuning run directory, or a new one on a preset's encoder.

        `preset`: a fine-tuning run directory of this task (its model, as
        `finetune` left it), or anything `SpanBertBackbone.from_preset` reads
        (a built-in preset's name, a pre-training run, a released
        checkpoint): a new model on that encoder, built with `kwargs`.

        Example:

        >>> import spanbert_keras
        >>> from spanbert_keras.models.span_bert_text_classifier import SpanBertTextClassifier
        >>> SpanBertTextClassifier.from_preset("austen-tiny", num_classes=3).num_classes
        3
        """
        return task_model_from_preset(cls, preset, **kwargs)
