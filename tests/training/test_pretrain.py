import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.config import ModelConfig
from spanbert_keras.config import PretrainConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.data.pretraining_dataset import finite_batches
from spanbert_keras.data.pretraining_dataset import pretraining_dataset
from spanbert_keras.training.build import build_pretrainer
from spanbert_keras.training.pretrain import prepare_run
from spanbert_keras.training.pretrain import schedule_of


@pytest.fixture(scope="module")
def corpus(demo_excerpt):
    return demo_excerpt(4)


def test_held_out_mean_is_exact(corpus, demo_vocabulary):
    config = ModelConfig(num_layers=1, hidden_dim=16, num_heads=2, intermediate_dim=32,
                         max_sequence_length=64)
    model = build_pretrainer(config, demo_vocabulary.size, TrainingConfig(steps=10))
    dataset, count = finite_batches(pretraining_dataset(
        corpus, demo_vocabulary, sequence_length=64, batch_size=4, split="all",
        num_epochs=1, shuffle=False), max_batches=3)
    assert count == 3
    per_batch = [model.evaluate(tf.data.Dataset.from_tensors(b), return_dict=True, verbose=0)
                 for b in dataset]
    together = model.evaluate(dataset, return_dict=True, verbose=0)
    for key in ("mlm_loss", "sbo_loss", "loss"):
        np.testing.assert_allclose(together[key], np.mean([r[key] for r in per_batch]), rtol=1e-5)


def test_schedule_of():
    config = PretrainConfig(training=TrainingConfig(steps=1001, steps_per_epoch=100))
    assert schedule_of(config) == (1001, 100, 11)
    assert schedule_of(config, steps=50) == (50, 50, 1)
    with pytest.raises(ValueError, match="positive"):
        schedule_of(config, steps=0)


def test_prepare_run_learns_saves_and_checks_the_vocabulary(tmp_path, corpus):
    config = PretrainConfig()
    config.data.vocabulary_size = 500
    config.data.sequence_length = 128
    run = str(tmp_path / "run")
    saved, vocabulary, files = prepare_run(config, run, [corpus], log=lambda *_: None)
    assert files == [corpus] and saved.data.corpus == [corpus]
    assert (tmp_path / "run" / "vocab.txt").read_text().split("\n")[0] == "[PAD]"
    # Reopened: the saved vocabulary is reused, not learned again.
    _, again, _ = prepare_run(config, run, [corpus], log=lambda *_: None)
    assert again.tokens == vocabulary.tokens
    other = tmp_path / "other.txt"
    other.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "x"]))
    config.data.vocabulary = str(other)
    with pytest.raises(ValueError, match="another vocabulary"):
        prepare_run(config, run, [corpus], log=lambda *_: None)
    config.data.vocabulary = None
    config.model.num_layers = 3
    with pytest.raises(ValueError, match="model.num_layers"):
        prepare_run(config, run, [corpus], log=lambda *_: None)


def test_no_corpus_names_the_demo_corpus(tmp_path):
    with pytest.raises(ValueError, match="austen.txt"):
        prepare_run(PretrainConfig(), str(tmp_path / "run"), None)


def test_the_old_name_of_load_pretraining_run_warns_and_does_the_same(tmp_path):
    import spanbert_keras

    with pytest.raises(FileNotFoundError) as new:
        spanbert_keras.load_pretraining_run(str(tmp_path))
    with pytest.warns(DeprecationWarning, match="renamed load_pretraining_run"):
        with pytest.raises(FileNotFoundError) as old:
            spanbert_keras.load_pretrainer(str(tmp_path))
    assert str(old.value) == str(new.value) and "not a spanbert-keras run directory" in str(new.value)
