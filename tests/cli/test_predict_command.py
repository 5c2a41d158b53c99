"""Answers from raw strings: `spanbert_keras.pipeline(RUN)` and `spanbert-keras predict RUN`.

A tiny NER run (one epoch) is asked for its dev sentences as plain text: the
answers are the run's own dev predictions (computed through the pre-split
`tag_words` signature). The slow tests of tests/cli/test_finetune_tasks.py
check every task's pipeline against its exported SavedModel in a fresh process.
"""

import json
import os

import pytest
from task_data import ner_run_files
from test_cli import cli
from test_failures import refused

from spanbert_keras import cli as cli_module
from spanbert_keras.data.conll import read_conll
from spanbert_keras.finetuning.pipeline import pipeline
from spanbert_keras.finetuning.runner import run_finetuning


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ner"))
    files = ner_run_files(root)
    run = os.path.join(root, "run")
    run_finetuning("ner", {"sequence_length": 32, "batch_size": 16, "epochs": 1,
                           "learning_rate": 2e-3}, files["train"], files["dev"], files["init"],
                   run, log=lambda *_: None, verbose=0)
    sentences = [" ".join(e["tokens"]) for e in read_conll(files["dev"])[0]]
    with open(os.path.join(run, "predictions.json"), encoding="utf-8") as f:
        return run, sentences, json.load(f)


def test_the_pipeline_answers_text_as_the_run_predicted(ner_run):
    run, sentences, predictions = ner_run
    tagger = pipeline(run, batch_size=5)
    answers = tagger(sentences)
    assert [a["tags"] for a in answers] == [predictions[str(i)] for i in range(len(sentences))]
    assert all(a["words"] == s.split() and len(a["scores"]) == len(a["words"])
               for a, s in zip(answers, sentences))
    one = tagger(sentences[0])  # one input, one answer
    assert one == answers[0] and tagger.input_names == ["text"]
    with pytest.raises(ValueError, match=r"input 2: the ner model takes \['text'\]"):
        tagger(["fine", {"sentence": "no"}])


def test_predict_reads_text_or_json_lines_and_writes_json_lines(ner_run, tmp_path, capsys):
    run, sentences, predictions = ner_run
    inputs = tmp_path / "inputs.txt"
    inputs.write_text(f"{sentences[0]}\n\n{json.dumps({'text': sentences[1]})}\n"
                      f"{json.dumps([sentences[2]])}\n")
    result = cli("predict", "--run", run, "--input", str(inputs))
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["tags"] for a in answers] == [predictions[str(i)] for i in range(3)]

    output = tmp_path / "answers.jsonl"
    assert cli_module.main(["predict", "--run", run, "--input", str(inputs), "--output",
                            str(output)]) == 0
    assert [json.loads(line) for line in output.read_text().splitlines()] == answers
    assert "3 answers of the ner model" in capsys.readouterr().out

    refused(capsys, ["predict", "--run", run, "--input", str(inputs), "--output", str(inputs)],
            "inputs.txt")
    inputs.write_text('fine\n{"text": "unclosed\n')
    refused(capsys, ["predict", "--run", run, "--input", str(inputs)], "inputs.txt: line 2",
            "not valid JSON")
    inputs.write_text('{"words": ["Emma"]}\n')
    refused(capsys, ["predict", "--run", run, "--input", str(inputs)], "inputs.txt: input 1",
            "takes ['text']")
    refused(capsys, ["predict", "--run", str(tmp_path), "--input", str(inputs)],
            "not a fine-tuning run directory")
