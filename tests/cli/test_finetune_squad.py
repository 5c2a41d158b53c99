"""`spanbert-keras finetune squad` and `evaluate --dev`, run as a user would: a subprocess.

The slow test fine-tunes a random `tiny`-shaped encoder on the synthetic
colour / animal task (tests/qa_data.py) and checks the held-out exact match,
the run directory, the resume, the export (in a fresh process, against the
run's predictions) and the re-scoring.
"""

import json
import os
import sys

import keras
import numpy as np
import pytest
import squad_reference as official
from qa_data import squad_json
from qa_data import synthetic_squad
from test_cli import cli

from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.finetuning.pipeline import pipeline
from spanbert_keras.models.span_bert_backbone import SpanBertBackbone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "export"))
from test_saved_model import run_loader  # noqa: E402

SETTINGS = ["--set", "sequence_length=64", "--set", "batch_size=16", "--set", "epochs=8",
            "--set", "learning_rate=2e-3", "--set", "dropout=0", "--set", "options.max_query_length=16",
            "--set", "options.doc_stride=32"]


@pytest.fixture(scope="module")
def qa_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("squad-cli")
    train = synthetic_squad(800, seed=1, prefix="t")
    dev = synthetic_squad(100, seed=2, prefix="d")  # held out: other passages and questions
    (root / "train.json").write_text(squad_json(train), encoding="utf-8")
    (root / "dev.json").write_text(squad_json(dev), encoding="utf-8")
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(e["question"] + "\n" + e["context"] for e in train),
                      encoding="utf-8")
    encoder = root / "encoder"
    encoder.mkdir()
    build_vocabulary([corpus], vocab_size=200, min_frequency=1,
                     show_progress=False).save(encoder / "vocab.txt")
    keras.utils.set_random_seed(0)
    size = len((encoder / "vocab.txt").read_text(encoding="utf-8").split())
    SpanBertBackbone(vocabulary_size=size, num_layers=2, num_heads=4, hidden_dim=64,
                     intermediate_dim=128, max_sequence_length=64).save(encoder / "encoder.keras")
    return {"root": root, "train": str(root / "train.json"), "dev": str(root / "dev.json"),
            "init": str(encoder / "encoder.keras"), "dev_examples": dev}


def last_json(result):
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_finetune_squad_learns_exports_resumes_and_rescores(qa_files, tmp_path):
    run = str(tmp_path / "run")
    export = tmp_path / "saved_models" / "squad-tiny" / "1"
    command = ["finetune", "squad", "--train", qa_files["train"], "--dev", qa_files["dev"],
               "--init", qa_files["init"], "--output", run, *SETTINGS]
    result = cli(*command, "--export", str(export))
    metrics = last_json(result)
    assert metrics["exact_match"] >= 0.9 and metrics["f1"] >= 0.9 and metrics["total"] == 100
    assert "epoch 8/8: " in result.stdout and "\r" not in result.stdout  # one line per epoch
    with open(os.path.join(run, "predictions.json"), encoding="utf-8") as f:
        predictions = json.load(f)
    with open(os.path.join(run, "history.json")) as f:
        assert len(json.load(f)["loss"]) == 8

    # The exported model, without our package, answers as the run's Keras model did.
    dev = qa_files["dev_examples"]
    report, outputs = run_loader("text", str(export), {
        "serving_default/question": np.array([e["question"] for e in dev]),
        "serving_default/context": np.array([e["context"] for e in dev]),
    }, tmp_path)
    assert not report["imported"]["spanbert_keras"]
    assert [a.decode("utf-8") for a in outputs["serving_default/answer"]] == [
        predictions[e["id"]] for e in dev]
    answers = pipeline(run)([(e["question"], e["context"]) for e in dev])  # in Python
    assert [a["answer"] for a in answers] == [predictions[e["id"]] for e in dev]
    assert [a["char_start"] for a in answers] == outputs["serving_default/char_start"].tolist()
    np.testing.assert_allclose([a["score"] for a in answers], outputs["serving_default/score"],
                               rtol=1e-5)

    # The same command again: nothing to train, the same scores.
    again = cli(*command)
    assert "already finished" in again.stdout and last_json(again) == metrics
    with open(os.path.join(run, "history.json")) as f:
        assert len(json.load(f)["loss"]) == 8

    rescored = cli("evaluate", "--run", run, "--dev", qa_files["dev"])
    assert last_json(rescored) == metrics
    # The former name and spelling still score it, with a note saying what replaces them.
    former = cli("evaluate-squad", "--model", run, "--dev", qa_files["dev"])
    assert last_json(former) == metrics
    assert "`--model DIR` is now `--run DIR`" in former.stderr
    assert "is now `spanbert-keras evaluate --run DIR --dev FILE`" in former.stderr


def v2_examples(n, seed, prefix):
    """Every third question made unanswerable (its answer removed)."""
    examples = synthetic_squad(n, seed=seed, prefix=prefix)
    return [dict(e, answers=[], is_impossible=True) if i % 3 == 2 else e
            for i, e in enumerate(examples)]


def read(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.slow
def test_finetune_squad_v2_chooses_the_threshold_on_dev_and_applies_it_later(qa_files, tmp_path):
    files = {}
    for name, n, seed in (("train", 96, 5), ("dev", 30, 6), ("other", 30, 7)):
        files[name] = v2_examples(n, seed, name[0])
        (tmp_path / f"{name}.json").write_text(squad_json(files[name], "2.0"), encoding="utf-8")
    run = str(tmp_path / "run")
    export = tmp_path / "saved_models" / "squad2" / "1"
    settings = [*SETTINGS[:4], "--set", "epochs=2", *SETTINGS[6:]]
    result = cli("finetune", "squad", "--version-2", "--train", str(tmp_path / "train.json"),
                 "--dev", str(tmp_path / "dev.json"), "--init", qa_files["init"], "--output", run,
                 *settings, "--export", str(export))
    metrics = last_json(result)
    assert metrics["total"] == 30 and metrics["NoAns_total"] == 10
    # The dev run: its predictions cut at its own best_f1_thresh, which task.json keeps.
    threshold = read(os.path.join(run, "task.json"))["no_answer_threshold"]
    assert threshold == pytest.approx(metrics["best_f1_thresh"]) == pytest.approx(metrics["na_prob_thresh"])
    texts, na = read(os.path.join(run, "predictions.json")), read(os.path.join(run, "na_probs.json"))
    assert all((texts[q] == "") == (na[q] > threshold) for q in texts)
    dev_data = json.loads(squad_json(files["dev"], "2.0"))["data"]
    theirs = official.evaluate(dev_data, texts, na, na_prob_thresh=threshold)
    for key, value in theirs.items():  # the official script on the run's files
        expected = value if key.endswith(("_thresh", "total")) else value / 100
        assert metrics["exact_match" if key == "exact" else key] == pytest.approx(expected, abs=1e-6), key

    # Another file: the stored threshold applied, by evaluate-squad and by the export.
    rescored = last_json(cli("evaluate", "--run", run, "--dev", str(tmp_path / "other.json")))
    assert rescored["na_prob_thresh"] == pytest.approx(threshold) and rescored["total"] == 30
    texts = read(os.path.join(run, "evaluation", "predictions.json"))
    na = read(os.path.join(run, "evaluation", "na_probs.json"))
    assert all((texts[q] == "") == (na[q] > threshold) for q in texts)
    assert 0 < sum(1 for t in texts.values() if t == "") < len(texts)  # both kinds occur
    other = files["other"]
    _, outputs = run_loader("text", str(export), {
        "serving_default/question": np.array([e["question"] for e in other]),
        "serving_default/context": np.array([e["context"] for e in other]),
    }, tmp_path)
    np.testing.assert_allclose(outputs["serving_default/no_answer_score"],
                               [na[e["id"]] for e in other], rtol=1e-4, atol=1e-3)
    assert [a.decode("utf-8") for a in outputs["serving_default/answer"]] == [
        texts[e["id"]] for e in other]


def test_help_has_examples():
    helps = {command: cli(command, "--help").stdout for command in ("finetune", "evaluate")}
    for command, text in helps.items():
        assert "examples:" in text and f"spanbert-keras {command}" in text
    assert "--version-2" in helps["finetune"] and "--strict" in helps["finetune"]


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("spanbert-keras ")]


def test_bad_input_exits_2_with_one_line_naming_the_problem(qa_files, tmp_path):
    bad = tmp_path / "bad.json"
    examples = synthetic_squad(3, seed=3)
    examples[1]["answers"][0]["answer_start"] += 1
    bad.write_text(squad_json(examples), encoding="utf-8")
    common = ["--dev", qa_files["dev"], "--init", qa_files["init"], "--output", str(tmp_path / "r")]
    strict = cli("finetune", "squad", "--train", str(bad), *common, "--strict", check=False)
    assert strict.returncode == 2 and len(error_lines(strict)) == 1
    assert "bad.json: data[0].paragraphs[1].qas[0] (id 'q1'): answer" in error_lines(strict)[0]
    unknown = cli("finetune", "squad", "--train", qa_files["train"], *common, "--set", "epoch=2",
                  check=False)
    assert unknown.returncode == 2 and "Unknown key 'epoch'" in unknown.stderr
    not_a_run = cli("evaluate", "--run", str(tmp_path), "--dev", qa_files["dev"], check=False)
    assert not_a_run.returncode == 2 and "--dev scores fine-tuning runs" in not_a_run.stderr
