"""`spanbert-keras finetune tacred|glue|ner`, run as a user would: a subprocess.

The slow tests fine-tune a random tiny encoder (2 layers, hidden 32) on a
synthetic task of each kind whose labels follow from the text
(tests/task_data.py) and check the held-out score, the predictions file and
the export: loaded in a fresh process without our package, it answers as the
run's Keras model did (the run's predictions file).
"""

import json
import os

import numpy as np
import pytest
from task_data import load_without_package
from task_data import ner_sentences
from task_data import sentiment_rows
from task_data import tacred_records
from task_data import write_conll
from task_data import write_encoder
from task_data import write_tacred
from task_data import write_tsv
from test_cli import cli

from spanbert_keras.finetuning.pipeline import pipeline

SETTINGS = ["--set", "sequence_length=32", "--set", "batch_size=16", "--set", "dropout=0",
            "--set", "learning_rate=2e-3"]


@pytest.fixture(scope="module")
def init(tmp_path_factory):
    return write_encoder(str(tmp_path_factory.mktemp("encoder")))


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


def finetune(task, train, dev, init, run, export, epochs):
    result = cli("finetune", task, "--train", train, "--dev", dev, "--init", init,
                 "--output", run, "--export", export, *SETTINGS, "--set", f"epochs={epochs}")
    assert f"epoch {epochs}/{epochs}: " in result.stdout
    with open(os.path.join(run, "predictions.json"), encoding="utf-8") as f:
        return last_json(result), json.load(f)


def exported(export, inputs, tmp_path):
    """The export's outputs in a fresh process, by `SIGNATURE/OUTPUT`."""
    report, outputs = load_without_package(export, inputs, tmp_path)
    assert not report["imported"]["spanbert_keras"] and not report["imported"]["keras_hub"]
    return outputs


@pytest.mark.slow
def test_finetune_tacred_learns_the_relation_and_exports_it(init, tmp_path):
    train = write_tacred(tmp_path / "train.json", tacred_records(256, seed=0, prefix="t"))
    records = tacred_records(64, seed=1, prefix="d")  # held out
    dev = write_tacred(tmp_path / "dev.json", records)
    export = str(tmp_path / "saved_models" / "relations" / "1")
    metrics, predictions = finetune("tacred", train, dev, init, str(tmp_path / "run"), export, 15)
    assert list(metrics) == ["micro_f1", "precision", "recall"]
    assert metrics["micro_f1"] >= 0.9, metrics
    width = max(len(r["token"]) for r in records)
    inputs = {"tokens": np.array([r["token"] + [""] * (width - len(r["token"])) for r in records],
                                 bytes)}
    for key in ("subj_start", "subj_end", "obj_start", "obj_end"):
        inputs[key] = np.array([r[key] for r in records], np.int32)
    for key in ("subj_type", "obj_type"):
        inputs[key] = np.array([r[key] for r in records], bytes)
    outputs = exported(export, {f"serving_default/{k}": v for k, v in inputs.items()}, tmp_path)
    labels = outputs["serving_default/label"]
    assert [b.decode() for b in labels] == [predictions[r["id"]] for r in records]
    answers = pipeline(str(tmp_path / "run"))([  # in Python, from the run: the export's answers
        {key: r[key] for key in ("subj_start", "subj_end", "obj_start", "obj_end", "subj_type",
                                 "obj_type")} | {"tokens": r["token"]} for r in records])
    assert [a["label"] for a in answers] == [b.decode() for b in labels]
    np.testing.assert_allclose([a["score"] for a in answers], outputs["serving_default/score"],
                               rtol=1e-5)


@pytest.mark.slow
def test_finetune_glue_learns_the_sentiment_and_exports_it(init, tmp_path):
    train = write_tsv(tmp_path / "train.tsv", sentiment_rows(256, seed=0))
    rows = sentiment_rows(64, seed=1)
    dev = write_tsv(tmp_path / "dev.tsv", rows)
    export = str(tmp_path / "saved_models" / "sentiment" / "1")
    metrics, predictions = finetune("glue", train, dev, init, str(tmp_path / "run"), export, 5)
    assert list(metrics)[0] == "accuracy" and metrics["accuracy"] >= 0.9, metrics
    outputs = exported(export, {"serving_default/text": np.array([t for t, _ in rows], bytes)},
                       tmp_path)
    assert [b.decode() for b in outputs["serving_default/label"]] == [
        predictions[str(line)] for line in range(2, len(rows) + 2)]  # ids: line numbers
    answers = pipeline(str(tmp_path / "run"))([t for t, _ in rows])
    assert [a["label"] for a in answers] == [b.decode() for b in outputs["serving_default/label"]]
    np.testing.assert_allclose([a["scores"] for a in answers], outputs["serving_default/scores"],
                               rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_finetune_ner_learns_the_entities_and_exports_them(init, tmp_path):
    train = write_conll(tmp_path / "train.txt", ner_sentences(256, seed=0))
    sentences = ner_sentences(64, seed=1)
    dev = write_conll(tmp_path / "dev.txt", sentences)
    export = str(tmp_path / "saved_models" / "entities" / "1")
    metrics, predictions = finetune("ner", train, dev, init, str(tmp_path / "run"), export, 5)
    assert list(metrics) == ["f1", "precision", "recall"] and metrics["f1"] >= 0.9, metrics
    texts = np.array([" ".join(w for w, _ in s) for s in sentences], bytes)
    outputs = exported(export, {"serving_default/text": texts,
                                "tag_words/words": np.array([[""]], bytes)}, tmp_path)
    tags = [[t.decode() for t in row[:n]] for row, n in zip(outputs["serving_default/tags"],
                                                             outputs["serving_default/num_words"])]
    assert tags == [predictions[str(i)] for i in range(len(sentences))]
    run = str(tmp_path / "run")
    assert [a["tags"] for a in pipeline(run)([t.decode() for t in texts])] == tags
    (tmp_path / "sentences.txt").write_text("".join(t.decode() + "\n" for t in texts))
    result = cli("predict", "--run", run, "--input", str(tmp_path / "sentences.txt"))
    assert [json.loads(line)["tags"] for line in result.stdout.splitlines()] == tags


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("spanbert-keras ")]


def test_bad_files_exit_2_naming_the_file_and_line(init, tmp_path):
    records = tacred_records(3)
    records[1]["obj_end"] = 40
    cases = {
        "tacred": (write_tacred(tmp_path / "bad.json", records),
                   "bad.json: record 1: obj span"),
        "glue": (write_tsv(tmp_path / "bad.tsv", [("A fine day .", "1"), ("Too", "many", "0")]),
                 "bad.tsv: line 3: 3 column(s), expected 2"),
        "ner": (write_conll(tmp_path / "bad.txt", [[("Emma", "B-PER")]]) + "",
                "bad.txt: line 4: 3 column(s), expected 4"),
    }
    with open(cases["ner"][0], "a", encoding="utf-8") as f:
        f.write("Bath NN B-LOC\n")
    for task, (path, message) in cases.items():
        result = cli("finetune", task, "--train", path, "--dev", path, "--init", init,
                     "--output", str(tmp_path / task), "--strict", check=False)
        assert result.returncode == 2 and len(error_lines(result)) == 1, result.stderr
        assert message in error_lines(result)[0], (task, result.stderr)
