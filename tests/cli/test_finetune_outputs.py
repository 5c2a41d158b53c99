"""`finetune` writes only into its own run directory: never over its inputs, never into a folder
that is not a run, and a command corrected after a refusal works on the same --output."""

import os

import pytest
from command_checks import checksums
from task_data import ner_run_files

from spanbert_keras.cli import main

SETTINGS = ["--set", "sequence_length=32", "--set", "dropout=0", "--set", "epochs=1",
            "--set", "learning_rate=2e-3"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return ner_run_files(str(tmp_path_factory.mktemp("outputs")), train=24, dev=8)


def finetune(files, output, *extra):
    return main(["finetune", "ner", "--train", files["train"], "--dev", files["dev"],
                 "--init", files["init"], "--output", str(output), *SETTINGS, *extra])


def test_a_folder_that_is_not_a_run_is_left_alone(files, tmp_path, capsys):
    mine = tmp_path / "results"
    mine.mkdir()
    (mine / "predictions.json").write_text('{"mine": 1}')
    (mine / "metrics.json").write_text('{"f1": 0.99}')
    before = checksums(str(mine))
    assert finetune(files, mine, "--set", "batch_size=8") == 2
    error = capsys.readouterr().err
    assert "exists and is not a fine-tuning run directory (it holds metrics.json, " \
           "predictions.json)" in error
    assert checksums(str(mine)) == before and sorted(os.listdir(mine)) == [
        "metrics.json", "predictions.json"]


@pytest.mark.parametrize("where", ["init", "data folder", "training file"])
def test_an_output_over_an_input_is_refused(files, where, capsys):
    root = os.path.dirname(files["train"])
    output = {"init": files["init"], "data folder": root,
              "training file": files["train"]}[where]
    before = checksums(root)
    assert finetune(files, output, "--set", "batch_size=8") == 2
    assert "writing it would destroy what is read" in capsys.readouterr().err
    assert checksums(root) == before


def test_a_corrected_command_works_on_the_same_output(files, tmp_path, capsys):
    run = tmp_path / "run"
    # 24 sentences give no full batch of 64: refused, after the settings were written.
    assert finetune(files, run, "--set", "batch_size=64") == 2
    assert "lower batch_size" in capsys.readouterr().err
    assert finetune(files, run, "--set", "batch_size=8") == 0
    printed = capsys.readouterr().out
    assert "never trained: its settings are replaced" in printed
    # Once it has trained, other settings are refused as before.
    assert finetune(files, run, "--set", "batch_size=4") == 2
    assert "resuming with another configuration is refused" in capsys.readouterr().err
