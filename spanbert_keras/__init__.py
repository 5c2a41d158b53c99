"""spanbert_keras: SpanBERT pre-training and export for Keras 3 / TensorFlow."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from spanbert_keras.config import MaskingConfig  # noqa: E402
from spanbert_keras.config import ModelConfig  # noqa: E402
from spanbert_keras.config import PretrainConfig  # noqa: E402
from spanbert_keras.config import load_config  # noqa: E402
from spanbert_keras.data.vocabulary import Vocabulary  # noqa: E402
from spanbert_keras.data.vocabulary import build_vocabulary  # noqa: E402
from spanbert_keras.data.vocabulary import load_vocabulary  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "MaskingConfig",
    "ModelConfig",
    "PretrainConfig",
    "Vocabulary",
    "build_vocabulary",
    "load_config",
    "load_vocabulary",
]
