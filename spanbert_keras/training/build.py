"""Models ready for `fit`: a `SpanBertPretrainer` built from the configs, compiled."""

from spanbert_keras.config import ModelConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.models.backbone import build_backbone
from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
from spanbert_keras.training.optimizer import build_optimizer


def build_pretrainer(
    model_config,
    vocabulary_size,
    training_config=None,
    sequence_length=None,
    total_steps=None,
    preprocessor=None,
):
    """Builds and compiles a `SpanBertPretrainer` from the configs.

    Sets the dtype policy (`training_config.dtype_policy`) on the encoder, the
    heads and the model (so `mixed_float16` gets loss scaling), the AdamW +
    warm-up/decay optimiser, `clip_norm`, `sbo_weight` and `jit_compile`.
    Under a `tf.distribute` strategy call it inside `strategy.scope()`.

    Args:
        model_config: a `ModelConfig` or a size name (`"tiny"`, ...).
        vocabulary_size: int, `Vocabulary.size`.
        training_config: a `TrainingConfig` (default: the published pre-training recipe).
        sequence_length: optional int, checked against the position table.
        total_steps: optional int overriding `training_config.steps` for the
            schedule.
        preprocessor: optional `SpanBertPretrainingPreprocessor`, saved with
            the model (`SpanBertPretrainer.preprocessor`).

    Returns:
        A compiled `SpanBertPretrainer`.
    """
    if isinstance(model_config, str):
        model_config = ModelConfig.from_size(model_config)
    training_config = training_config or TrainingConfig()
    policy = training_config.dtype_policy
    backbone = build_backbone(
        model_config, vocabulary_size, sequence_length=sequence_length, dtype=policy
    )
    model = SpanBertPretrainer(
        backbone,
        sbo_weight=training_config.sbo_weight,
        clip_norm=training_config.clip_norm or None,  # 0 disables clipping
        clip_mode=training_config.clip_mode,
        max_pair_targets=model_config.max_pair_targets,
        position_embedding_dim=model_config.position_embedding_dim,
        dtype=policy,
        preprocessor=preprocessor,
    )
    model.compile(
        optimizer=build_optimizer(training_config, total_steps=total_steps),
        jit_compile=training_config.jit_compile,
    )
    return model
