"""Shared fixtures: the shipped demo corpus and a vocabulary learned from it."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from spanbert_keras.data.vocabulary import build_vocabulary  # noqa: E402
from spanbert_keras.resources import DEMO_CORPUS  # noqa: E402


@pytest.fixture(scope="session")
def demo_corpus():
    """Path of the shipped demo corpus (Jane Austen's six novels)."""
    return DEMO_CORPUS


@pytest.fixture(scope="session")
def demo_vocabulary():
    """An 8,000-piece cased WordPiece vocabulary learned from the demo corpus."""
    return build_vocabulary([DEMO_CORPUS], vocab_size=8000, show_progress=False)
