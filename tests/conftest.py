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


@pytest.fixture(scope="session")
def demo_excerpt(tmp_path_factory):
    """`demo_excerpt(n)`: the path of a corpus file of the demo's first n documents."""

    def write(num_documents):
        with open(DEMO_CORPUS, encoding="utf-8") as f:
            documents = [d for d in f.read().split("\n\n") if d.strip()][:num_documents]
        path = tmp_path_factory.mktemp("corpus") / f"first{num_documents}.txt"
        path.write_text("\n\n".join(documents) + "\n", encoding="utf-8")
        return str(path)

    return write
