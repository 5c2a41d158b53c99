"""spanbert_keras: SpanBERT pre-training and export for Keras 3 / TensorFlow.

The public API, by role:

- data: `Vocabulary`, `build_vocabulary`, `load_vocabulary`,
  `SpanBertTokenizer` (and the same tokenizer in Rust, `bert_cased_tokenizer`), `text_blocks`, `SpanMasker`, `span_targets`, `corpus_token_counts`,
  `SpanBertPretrainingPreprocessor` (text -> packed -> masked, saved with a
  run's model), `pretraining_dataset`;
- layers and models: `SpanBoundaryHead`, `SpanBertBackbone`, `build_backbone`,
  `SpanBertPretrainer`, `build_pretrainer`;
- training: `build_optimizer`, `WarmupLinearDecay`, `tensorboard_callbacks`,
  `run_pretraining`, `load_pretraining_run` (a run directory; the old name
  `load_pretrainer` warns and goes in the next release), `evaluate_run`;
- fine-tuning: `FinetuneConfig`, `get_task` (squad, tacred, glue, ner,
  coref), `run_finetuning`, `evaluate_finetuned`, `pipeline` (answers from
  raw strings), `SpanBertQuestionAnswerer`,
  `SpanBertRelationClassifier`, `SpanBertTextClassifier`,
  `SpanBertTokenTagger`, `SpanBertCoreference`;
- checkpoints: `load_pretrained`, `save_pretrained`;
- export: `export_saved_model`, `export_tflite`, `export_bundle`;
- configuration: `PretrainConfig`, `ModelConfig`, `MaskingConfig`,
  `DataConfig`, `TrainingConfig`, `load_config`.

`import spanbert_keras` imports all of these (and so registers every Keras
class for `keras.saving.load_model`, and keras-hub's BERT tokenizer and tasks
for presets of our encoder: `spanbert_keras.models.keras_hub_tasks`). The `spanbert-keras` command defers
them (`SPANBERT_KERAS_DEFER_IMPORTS=1`), so its `--help` and argument errors
answer without loading TensorFlow; a deferred name is imported on first use.
TensorFlow's start-up lines (oneDNN, CUDA) are silenced unless
`TF_CPP_MIN_LOG_LEVEL` is set. The import takes about 8 s on 2 cores, 6 of
them TensorFlow and Keras themselves.
"""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "DataConfig": "spanbert_keras.config",
    "MaskingConfig": "spanbert_keras.config",
    "ModelConfig": "spanbert_keras.config",
    "PretrainConfig": "spanbert_keras.config",
    "TrainingConfig": "spanbert_keras.config",
    "load_config": "spanbert_keras.config",
    "text_blocks": "spanbert_keras.data.packing",
    "pretraining_dataset": "spanbert_keras.data.pretraining_dataset",
    "SpanBertPretrainingPreprocessor": "spanbert_keras.data.pretraining_preprocessor",
    "SpanMasker": "spanbert_keras.data.span_masker",
    "SpanBertTokenizer": "spanbert_keras.data.tokenizer",
    "Vocabulary": "spanbert_keras.data.vocabulary",
    "bert_cased_tokenizer": "spanbert_keras.data.vocabulary",
    "build_vocabulary": "spanbert_keras.data.vocabulary",
    "load_vocabulary": "spanbert_keras.data.vocabulary",
    "export_saved_model": "spanbert_keras.export",
    "export_tflite": "spanbert_keras.export",
    "SpanBoundaryHead": "spanbert_keras.layers.span_boundary_head",
    "build_backbone": "spanbert_keras.models.backbone",
    "SpanBertBackbone": "spanbert_keras.models.span_bert_backbone",
    "SpanBertPretrainer": "spanbert_keras.models.span_bert_pretrainer",
    "build_pretrainer": "spanbert_keras.training.build",
    "tensorboard_callbacks": "spanbert_keras.training.callbacks",
    "build_optimizer": "spanbert_keras.training.optimizer",
    "evaluate_run": "spanbert_keras.training.pretrain",
    "load_pretraining_run": "spanbert_keras.training.pretrain",
    "load_pretrainer": "spanbert_keras.training.pretrain",
    "run_pretraining": "spanbert_keras.training.pretrain",
    "WarmupLinearDecay": "spanbert_keras.training.schedule",
    "corpus_token_counts": "spanbert_keras.data.vocabulary",
    "span_targets": "spanbert_keras.data.span_targets",
    "SpanBertQuestionAnswerer": "spanbert_keras.models.span_bert_question_answerer",
    "SpanBertRelationClassifier": "spanbert_keras.models.span_bert_relation_classifier",
    "SpanBertTextClassifier": "spanbert_keras.models.span_bert_text_classifier",
    "SpanBertTokenTagger": "spanbert_keras.models.span_bert_token_tagger",
    "SpanBertCoreference": "spanbert_keras.models.span_bert_coreference",
    "FinetuneConfig": "spanbert_keras.config",
    "get_task": "spanbert_keras.tasks",
    "run_finetuning": "spanbert_keras.finetuning.runner",
    "evaluate_finetuned": "spanbert_keras.finetuning.runner",
    "pipeline": "spanbert_keras.finetuning.pipeline",
    "load_pretrained": "spanbert_keras.checkpoints",
    "save_pretrained": "spanbert_keras.checkpoints",
    "export_bundle": "spanbert_keras.export.bundle",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'spanbert_keras' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if os.environ.get("SPANBERT_KERAS_DEFER_IMPORTS") != "1":
    # TensorFlow's start-up lines (oneDNN, "Could not find cuda drivers") are
    # silenced unless TF_CPP_MIN_LOG_LEVEL is set; its later logs are kept.
    from spanbert_keras.console import quiet_tensorflow

    quiet_tensorflow(verbose="TF_CPP_MIN_LOG_LEVEL" in os.environ, later_logs=True)
    for _name in __all__:
        __getattr__(_name)
    del _name
    # keras-hub's BERT tokenizer and tasks for presets of our encoder (found by backbone class).
    importlib.import_module("spanbert_keras.models.keras_hub_tasks")
