"""The hyper-parameter grid in process: its values, its cells, the tables, skipping and sharing cells.

The runs are tiny NER runs of a task whose dev score is a known function of
the cell's learning rate, so the test knows the best cell.
"""

import csv
import os

import pytest
from lock_holder import held_lock
from task_data import ner_run_files

from spanbert_keras.config import FinetuneConfig
from spanbert_keras.finetuning.grid import DEFAULT_BATCH_SIZES
from spanbert_keras.finetuning.grid import DEFAULT_LEARNING_RATES
from spanbert_keras.finetuning.grid import cell_name
from spanbert_keras.finetuning.grid import cell_state
from spanbert_keras.finetuning.grid import check_values
from spanbert_keras.finetuning.grid import grid_cells
from spanbert_keras.finetuning.grid import run_grid
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.ner import NerTask

SETTINGS = {"sequence_length": 32, "epochs": 1, "learning_rate": 1e-3, "dropout": 0.0,
            "jit_compile": False}
SCORES = {1e-3: 0.5, 2e-3: 0.9}  # the dev score of each learning rate


class ScoredByLearningRate(NerTask):
    """NER whose dev score is `SCORES[learning_rate]` (and `batch_size / 100`)."""

    def metric_name(self, task_info, config):
        return "score"

    def predict(self, model, examples, vocabulary, task_info, config):
        return {"learning_rate": config.learning_rate, "batch_size": config.batch_size}

    def score(self, predictions, examples, task_info):
        return {"batch": predictions["batch_size"] / 100,
                "score": SCORES[predictions["learning_rate"]]}


def quiet(*_):
    pass


def test_the_default_grid_is_appendix_b():
    assert DEFAULT_LEARNING_RATES == (5e-6, 1e-5, 2e-5, 3e-5, 5e-5)
    assert DEFAULT_BATCH_SIZES == (16, 32)
    cells = grid_cells(FinetuneConfig(epochs=3), DEFAULT_LEARNING_RATES, DEFAULT_BATCH_SIZES)
    assert [c.name for c in cells[:3]] == ["lr5e-06_batch16", "lr5e-06_batch32", "lr1e-05_batch16"]
    assert len(cells) == 10 and len({c.name for c in cells}) == 10
    assert all(c.config.epochs == 3 for c in cells)
    assert [(c.config.learning_rate, c.config.batch_size) for c in cells[-2:]] == [
        (5e-5, 16), (5e-5, 32)]
    assert cell_name(2e-5, 32) == "lr2e-05_batch32"


@pytest.mark.parametrize("text, kind, message", [
    ("", float, "--learning-rates is empty: give one learning rate or more"),
    (" , ", int, "--batch-sizes: '' is not a whole number"),
    ("2e-5,-1e-5", float, "--learning-rates: -1e-5 is not a positive learning rate."),
    ("0", float, "--learning-rates: 0 is not a positive learning rate."),
    ("nan", float, "--learning-rates: nan is not a positive learning rate."),
    ("2e-5,fast", float, "--learning-rates: 'fast' is not a number."),
    ("16,1.5", int, "--batch-sizes: '1.5' is not a whole number."),
    ("16,0", int, "--batch-sizes: 0 is not a positive batch size."),
    ("16,32,16", int, "--batch-sizes lists 16 twice."),
    ("1e-5,0.00001", float, "--learning-rates lists 1e-05 twice."),
])
def test_bad_values_are_refused_in_one_line(text, kind, message):
    with pytest.raises(ValueError) as error:
        check_values(text, kind, "--learning-rates" if kind is float else "--batch-sizes")
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_values_are_parsed():
    assert check_values("5e-6, 1e-5 ,2e-5", float, "x") == (5e-6, 1e-5, 2e-5)
    assert check_values("16,32", int, "x") == (16, 32)
    assert check_values([8, 16.0], int, "x") == (8, 16)


def test_run_grid_refuses_bad_values_before_any_work(tmp_path):
    grid = tmp_path / "grid"
    for rates, sizes in (([], [16]), ([1e-5], [0]), ([-1e-5], [16])):
        with pytest.raises(ValueError):
            run_grid("ner", None, "missing.txt", "missing.txt", "init", str(grid),
                     learning_rates=rates, batch_sizes=sizes, log=quiet)
    with pytest.raises(FileNotFoundError, match="--train not found: missing.txt"):
        run_grid("ner", None, "missing.txt", "missing.txt", "init", str(grid), log=quiet)
    assert not grid.exists()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return ner_run_files(str(tmp_path_factory.mktemp("grid-data")), train=16, dev=4)


def table(grid):
    with open(grid / "grid.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_cells_held_elsewhere_are_skipped_finished_ones_too_and_the_best_is_reported(
        data, tmp_path):
    task = ScoredByLearningRate()
    config = finetune_config(SETTINGS, task)
    grid = tmp_path / "grid"
    rates, sizes = (2e-3, 1e-3), (8,)
    held = grid / "lr0.002_batch8"
    lines = []
    with held_lock(str(held)) as pid:
        result = run_grid(task, config, data["train"], data["dev"], data["init"], str(grid),
                          learning_rates=rates, batch_sizes=sizes, log=lines.append)
        assert any(line.startswith("cell 1/2 lr0.002_batch8: skipped, another process works on "
                                   "it") and f"process {pid} on " in line for line in lines)
        assert cell_state(task, grid_cells(config, rates, sizes)[0], str(grid))[0] == "running"
    # The best of the finished cells, while the held one runs elsewhere.
    assert result["metric"] == "score" and result["best"]["cell"] == "lr0.001_batch8"
    assert [row["state"] for row in result["cells"]] == ["running", "finished"]
    assert table(grid) == [
        ["cell", "learning_rate", "batch_size", "state", "score", "batch", "best_epoch"],
        ["lr0.002_batch8", "0.002", "8", "running", "", "", ""],
        ["lr0.001_batch8", "0.001", "8", "finished", "0.5", "0.08", "1"],
    ]
    assert "Best cell: lr0.001_batch8 (learning_rate 0.001, batch_size 8): score 0.5000." in (
        grid / "grid.md").read_text(encoding="utf-8")
    assert any("1 cell(s) still running in other processes (lr0.002_batch8)" in line
               for line in lines)
    # The same call again: the finished cell is skipped, the freed one is trained.
    lines = []
    result = run_grid(task, config, data["train"], data["dev"], data["init"], str(grid),
                      learning_rates=rates, batch_sizes=sizes, log=lines.append)
    assert [line for line in lines if line.startswith("cell ")] == [
        "cell 1/2 lr0.002_batch8: learning_rate 0.002, batch_size 8",
        "cell 2/2 lr0.001_batch8: finished before; skipped"]
    assert result["best"]["cell"] == "lr0.002_batch8"
    assert result["best"]["metrics"] == {"batch": 0.08, "score": 0.9}
    assert [row[3] for row in table(grid)[1:]] == ["finished"] * 2
    markdown = (grid / "grid.md").read_text(encoding="utf-8").splitlines()
    assert "| **lr0.002_batch8** | 0.002 | 8 | finished | 0.9000 | 0.0800 | 1 |" in markdown
    assert markdown[-1] == "Best cell: lr0.002_batch8 (learning_rate 0.002, batch_size 8): " \
                           "score 0.9000."
    assert sorted(os.listdir(grid)) == ["grid.csv", "grid.lock", "grid.md", "lr0.001_batch8",
                                        "lr0.002_batch8"]
    # Each cell is a fine-tuning run with the grid's values.
    with open(held / "config.yaml", encoding="utf-8") as f:
        assert "learning_rate: 0.002\n" in f.read()


def test_a_cell_state_follows_its_directory(tmp_path):
    task = ScoredByLearningRate()
    cell = grid_cells(finetune_config(SETTINGS, task), (1e-3,), (8,))[0]
    assert cell_state(task, cell, str(tmp_path)) == ("pending", None)
    os.makedirs(tmp_path / cell.name)
    (tmp_path / cell.name / "config.yaml").write_text("task: ner\n", encoding="utf-8")
    assert cell_state(task, cell, str(tmp_path)) == ("interrupted", None)
