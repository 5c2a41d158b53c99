"""spanbert_keras: SpanBERT pre-training and export for Keras 3 / TensorFlow.

The public API, by role:

- data: `Vocabulary`, `build_vocabulary`, `load_vocabulary`,
  `SpanBertTokenizer` (and the same tokenizer in Rust, `bert_cased_tokenizer`), `text_blocks`, `SpanMasker`, `pretraining_dataset`;
- layers and models: `SpanBoundaryHead`, `SpanBertBackbone`, `build_backbone`,
  `SpanBertPretrainer`, `build_pretrainer`;
- training: `build_optimizer`, `WarmupLinearDecay`, `tensorboard_callbacks`,
  `run_pretraining`, `load_pretrainer`, `evaluate_run`;
- export: `export_saved_model`, `export_tflite`;
- configuration: `PretrainConfig`, `ModelConfig`, `MaskingConfig`,
  `DataConfig`, `TrainingConfig`, `load_config`.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from spanbert_keras.config import DataConfig  # noqa: E402
from spanbert_keras.config import MaskingConfig  # noqa: E402
from spanbert_keras.config import ModelConfig  # noqa: E402
from spanbert_keras.config import PretrainConfig  # noqa: E402
from spanbert_keras.config import TrainingConfig  # noqa: E402
from spanbert_keras.config import load_config  # noqa: E402
from spanbert_keras.data.packing import text_blocks  # noqa: E402
from spanbert_keras.data.pretraining_dataset import pretraining_dataset  # noqa: E402
from spanbert_keras.data.span_masker import SpanMasker  # noqa: E402
from spanbert_keras.data.tokenizer import SpanBertTokenizer  # noqa: E402
from spanbert_keras.data.vocabulary import Vocabulary  # noqa: E402
from spanbert_keras.data.vocabulary import bert_cased_tokenizer  # noqa: E402
from spanbert_keras.data.vocabulary import build_vocabulary  # noqa: E402
from spanbert_keras.data.vocabulary import load_vocabulary  # noqa: E402
from spanbert_keras.export import export_saved_model  # noqa: E402
from spanbert_keras.export import export_tflite  # noqa: E402
from spanbert_keras.layers.span_boundary_head import SpanBoundaryHead  # noqa: E402
from spanbert_keras.models.backbone import build_backbone  # noqa: E402
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone  # noqa: E402
from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer  # noqa: E402
from spanbert_keras.training.build import build_pretrainer  # noqa: E402
from spanbert_keras.training.callbacks import tensorboard_callbacks  # noqa: E402
from spanbert_keras.training.optimizer import build_optimizer  # noqa: E402
from spanbert_keras.training.pretrain import evaluate_run  # noqa: E402
from spanbert_keras.training.pretrain import load_pretrainer  # noqa: E402
from spanbert_keras.training.pretrain import run_pretraining  # noqa: E402
from spanbert_keras.training.schedule import WarmupLinearDecay  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "DataConfig",
    "MaskingConfig",
    "ModelConfig",
    "PretrainConfig",
    "SpanBertBackbone",
    "SpanBertPretrainer",
    "SpanBertTokenizer",
    "SpanBoundaryHead",
    "SpanMasker",
    "TrainingConfig",
    "Vocabulary",
    "WarmupLinearDecay",
    "bert_cased_tokenizer",
    "build_backbone",
    "build_optimizer",
    "build_pretrainer",
    "build_vocabulary",
    "evaluate_run",
    "export_saved_model",
    "export_tflite",
    "load_config",
    "load_pretrainer",
    "load_vocabulary",
    "pretraining_dataset",
    "run_pretraining",
    "tensorboard_callbacks",
    "text_blocks",
]
