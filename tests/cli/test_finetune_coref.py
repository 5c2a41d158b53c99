"""`spanbert-keras finetune coref`, run as a user would.

The slow test fine-tunes the shipped `austen-tiny` encoder on the synthetic
corpus of tests/coref_data.py (real sentences of the shipped text, with
people named, described and referred to by pronouns so that the clusters
follow from the text) and checks the held-out CoNLL F1, the prediction files
(the CoNLL file read back) and the export: loaded in a fresh process without
our package, it answers as the run's predictions.
"""

import json
import os

import numpy as np
import pytest
from coref_data import exported_clusters
from coref_data import resolve_words_inputs
from coref_data import write_coref_corpus
from task_data import load_without_package
from test_cli import cli
from test_failures import refused

from spanbert_keras import cli as cli_module
from spanbert_keras.data.coref_reader import read_coref

GOLD = """#begin document (nw/test/00/doc_0001); part 000
nw/test/00/doc_0001 0 0 Emma - - - - - - * (1)
nw/test/00/doc_0001 0 1 smiled - - - - - - * -
nw/test/00/doc_0001 0 2 . - - - - - - * -

nw/test/00/doc_0001 0 0 She - - - - - - * 1)
nw/test/00/doc_0001 0 1 laughed - - - - - - * -
#end document
"""


def test_a_bad_bracket_is_named_and_strict_refuses_it(tmp_path, capsys):
    path = tmp_path / "train.v4_gold_conll"
    path.write_text(GOLD)
    refused(capsys, ["finetune", "coref", "--train", str(path), "--dev", str(path),
                     "--init", "austen-tiny", "--output", str(tmp_path / "run"), "--strict"],
            f"{path}: line 6", "1)")
    assert not (tmp_path / "run" / "model.keras").exists()


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path, capsys):
    path = tmp_path / "train.v4_gold_conll"
    path.write_bytes(GOLD.replace("Emma", "Ren\u00e9e").encode("latin-1"))
    refused(capsys, ["finetune", "coref", "--train", str(path), "--dev", str(path),
                     "--init", "austen-tiny", "--output", str(tmp_path / "run")],
            str(path), "line 2 is not UTF-8")


def test_batches_of_several_documents_are_refused_before_training(tmp_path, capsys):
    train, dev = write_coref_corpus(str(tmp_path), num_train=4, num_dev=2)
    refused(capsys, ["finetune", "coref", "--train", train, "--dev", dev, "--init", "austen-tiny",
                     "--output", str(tmp_path / "run"), "--set", "sequence_length=128",
                     "--set", "batch_size=4"], "batch_size must be 1", main=cli_module.main)


@pytest.mark.slow
def test_finetune_coref_learns_the_planted_entities_and_exports_them(tmp_path):
    train, dev = write_coref_corpus(str(tmp_path / "data"), num_train=150, num_dev=30, seed=0)
    run, export = str(tmp_path / "run"), str(tmp_path / "saved_models" / "coref" / "1")
    # No settings: austen-tiny (hidden 128) takes the task's measured small-encoder recipe.
    result = cli("finetune", "coref", "--train", train, "--dev", dev, "--init", "austen-tiny",
                 "--output", run, "--export", export, timeout=1800)
    assert "recipe: small encoder (hidden 128 < 768): dropout=0.0, epochs=10" in result.stdout
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["conll_f1"] >= 0.9, metrics
    assert metrics["conll_f1"] == pytest.approx(
        (metrics["muc_f1"] + metrics["b_cubed_f1"] + metrics["ceaf_e_f1"]) / 3)

    with open(os.path.join(run, "predictions.json"), encoding="utf-8") as f:
        predictions = json.load(f)
    documents, problems = read_coref(dev)
    assert problems == [] and set(predictions) == {d["id"] for d in documents}
    written, problems = read_coref(os.path.join(run, "predictions.conll"))
    assert problems == [] and {d["id"]: d["clusters"] for d in written} == predictions

    inputs = resolve_words_inputs(documents)
    inputs["serving_default/text"] = np.array(["Mr. Knightley came in . He smiled at Emma ."],
                                              object)
    _, outputs = load_without_package(export, inputs, tmp_path)
    for row, document in enumerate(documents):
        assert exported_clusters(outputs, row) == predictions[document["id"]]
    assert outputs["serving_default/words"][0][:2].tolist() == [b"Mr", b"."]
