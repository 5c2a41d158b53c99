"""`spanbert-keras import` writes a run directory that `export`, `pretrain`, `evaluate` and
`convert` use; pre-training continues from the imported weights."""

import contextlib
import io
import json
import os

import keras
import numpy as np
import pytest
from torch_reference import SpanBoundaryReference
from torch_reference import bert_for_pretraining
from torch_reference import randomized
from torch_reference import write_fairseq_checkpoint
from torch_reference import write_vocabulary

from spanbert_keras.checkpoints import load_pretrained
from spanbert_keras.cli import main
from spanbert_keras.config import load_config
from spanbert_keras.training.pretrain import load_pretraining_run

RUN_FILES = [".spanbert-keras-output", "config.yaml", "encoder.keras", "imported.json",
             "imported.weights.h5", "vocab.sha256", "vocab.txt"]


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory):
    """The authors' layout (both heads) imported with the command line; returns (run, path, printed).

    Each test process imports it once, so the tests of this module need no order.
    """
    folder = tmp_path_factory.mktemp("import")
    bert = bert_for_pretraining(seed=4)
    sbo = randomized(SpanBoundaryReference(bert.bert.embeddings.word_embeddings.weight), seed=5)
    write_vocabulary(str(folder / "checkpoint"))
    with pytest.MonkeyPatch.context() as patch:
        path = write_fairseq_checkpoint(str(folder / "checkpoint" / "model.pt"), bert, sbo, patch)
    run = str(folder / "run")
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["import", path, "--output", run]) == 0
    return run, path, printed.getvalue()


def weights_of(model):
    return {v.path: v.numpy() for v in model.weights}


def test_import_writes_a_run_directory_describing_the_model(imported_run):
    run, path, printed = imported_run
    assert "encoder, MLM head, SBO head from the file; pooler initialised fresh" in printed
    assert "13 training meters" in printed
    assert f"spanbert-keras pretrain --config {run}/config.yaml" in printed
    assert sorted(os.listdir(run)) == RUN_FILES
    config = load_config(os.path.join(run, "config.yaml"))
    model = config.model
    assert (model.num_layers, model.hidden_dim, model.num_heads, model.intermediate_dim) == (2, 16, 2, 32)
    assert (model.max_sequence_length, model.max_pair_targets, model.position_embedding_dim) == (32, 4, 8)
    assert (model.activation, model.layer_norm_epsilon) == ("gelu", 1e-12)
    assert config.model.max_pair_targets == 4
    assert (config.data.vocabulary_size, config.data.sequence_length) == (43, 32)
    with open(os.path.join(run, "imported.json")) as f:
        report = json.load(f)
    assert report["from_file"] == ["encoder", "mlm_head", "sbo_head"]
    assert report["fresh"] == ["pooler"] and "13 training meters" in report["trainer_state"]
    assert report["lowercase"] is False
    # The run directory holds exactly what the checkpoint holds (the pooler is fresh).
    expected = weights_of(load_pretrained(path, log=None))
    loaded, _, _ = load_pretraining_run(run)
    compared = [key for key in weights_of(loaded) if "pooled_dense" not in key]
    assert len(compared) > 30
    for key in compared:
        np.testing.assert_array_equal(weights_of(loaded)[key], expected[key], err_msg=key)
    encoder = keras.saving.load_model(os.path.join(run, "encoder.keras"))
    np.testing.assert_array_equal(encoder.token_embedding.embeddings.numpy(),
                                  loaded.backbone.token_embedding.embeddings.numpy())


def test_export_an_imported_run(imported_run, tmp_path, capsys):
    run, _, _ = imported_run
    version = tmp_path / "saved_models" / "spanbert-imported" / "1"
    assert main(["export", "--run", run, "--output", str(version)]) == 0
    assert (version / "saved_model.pb").exists() and (version / "assets" / "vocab.txt").exists()


def test_evaluate_an_imported_run_on_a_corpus(imported_run, demo_excerpt, capsys):
    run, _, _ = imported_run  # no corpus of its own: the one given is evaluated (and counted)
    corpus = demo_excerpt(40)
    assert main(["evaluate", "--run", run, "--corpus", corpus, "--steps", "1"]) == 0
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(results) >= {"mlm_loss", "sbo_loss"} and np.isfinite(results["mlm_loss"])
    assert not os.path.exists(os.path.join(run, "token_counts.txt"))  # not the run's corpus
    assert main(["evaluate", "--run", run, "--dev", corpus]) == 2
    assert "--dev scores fine-tuning runs" in capsys.readouterr().err


def test_pretraining_continues_from_the_imported_weights(imported_run, demo_excerpt, tmp_path, capsys):
    run, _, _ = imported_run
    imported = weights_of(load_pretraining_run(run)[0])
    corpus = demo_excerpt(40)
    assert main(["pretrain", "--config", os.path.join(run, "config.yaml"), "--corpus", corpus,
                 "--steps", "2", "--output", run, "--set", "data.batch_size=4",
                 "--set", "training.learning_rate=1.0e-7", "--set", "training.eval_steps=1",
                 "--set", "training.jit_compile=false"]) == 0
    printed = capsys.readouterr().out
    assert "Starting from the imported weights" in printed
    trained, _, _ = load_pretraining_run(run)  # model.keras now
    # Two steps at a learning rate of at most 1e-7: the weights barely moved.
    for key, value in weights_of(trained).items():
        np.testing.assert_allclose(value, imported[key], atol=1e-6, err_msg=key)
    assert any(not np.array_equal(v, imported[k]) for k, v in weights_of(trained).items())

    assert main(["evaluate", "--run", run, "--corpus", corpus, "--steps", "1"]) == 0
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert np.isfinite(results["sbo_loss"])

    for to in ("hf", "keras-hub"):
        output = tmp_path / to
        assert main(["convert", "--run", run, "--to", to, "--output", str(output)]) == 0
        back = load_pretrained(str(output), log=None)
        for ours, theirs in zip(trained.backbone.weights, back.backbone.weights):
            np.testing.assert_array_equal(theirs.numpy(), ours.numpy(), err_msg=ours.path)
    assert "Wrote" in capsys.readouterr().out
