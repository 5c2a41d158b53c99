"""`spanbert-keras grid`, run as a user would: bad values, a 2 x 2 grid of tiny NER runs, a kill.

The grid fine-tunes a random tiny encoder on synthetic NER sentences
(tests/task_data.py) once per cell; the slow test kills it in the middle of
a cell and checks that the same command finishes it with the tables of an
uninterrupted grid, skipping the cells already finished.
"""

import csv
import json
import os
import signal
import subprocess
import sys

import pytest
from task_data import ner_run_files

from spanbert_keras.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILL_AT = os.path.join(REPO, "tests", "training", "kill_at.py")
ENV = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
       "TF_DETERMINISTIC_OPS": "1"}
SETTINGS = ["--set", "sequence_length=32", "--set", "epochs=2", "--set", "jit_compile=false"]
CELLS = ["lr0.001_batch8", "lr0.001_batch16", "lr0.003_batch8", "lr0.003_batch16"]


@pytest.mark.parametrize("options, message", [
    (["--learning-rates", "2e-5,-1e-5"], "--learning-rates: -1e-5 is not a positive learning rate."),
    (["--learning-rates", ""], "--learning-rates is empty: give one learning rate or more"),
    (["--batch-sizes", "16,0"], "--batch-sizes: 0 is not a positive batch size."),
    (["--batch-sizes", "16,16"], "--batch-sizes lists 16 twice."),
    (["--set", "learning_rate=1e-4"], "--set learning_rate=1e-4: the grid sets learning_rate of "
                                      "each cell; use --learning-rates."),
])
def test_bad_values_exit_2_with_one_line_before_any_work(options, message, tmp_path, capsys):
    grid = tmp_path / "grid"
    status = main(["grid", "ner", "--train", str(tmp_path / "missing.txt"), "--dev",
                   str(tmp_path / "missing.txt"), "--init", "nowhere", "--output", str(grid),
                   *options])
    captured = capsys.readouterr()
    assert status == 2 and captured.err.startswith("spanbert-keras grid: error: " + message)
    assert len(captured.err.strip().splitlines()) == 1 and not grid.exists()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return ner_run_files(str(tmp_path_factory.mktemp("grid-files")), train=48, dev=16)


def command(files, grid):
    return ["grid", "ner", "--train", files["train"], "--dev", files["dev"], "--init",
            files["init"], "--output", str(grid), "--learning-rates", "1e-3,3e-3",
            "--batch-sizes", "8,16", *SETTINGS]


def run(args, kill_at=None):
    prefix = [KILL_AT, *kill_at, "--"] if kill_at else ["-m", "spanbert_keras_cli"]
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True,
                          timeout=900, env=ENV, cwd=REPO)


def finished(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def table(grid):
    with open(os.path.join(grid, "grid.csv"), newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def uninterrupted(files, tmp_path_factory):
    grid = tmp_path_factory.mktemp("uninterrupted") / "grid"
    result = finished(run(command(files, grid)))
    return {"grid": str(grid), "stdout": result.stdout}


@pytest.mark.slow
def test_a_2_by_2_grid_reports_the_best_cell_and_writes_the_tables(uninterrupted):
    grid, stdout = uninterrupted["grid"], uninterrupted["stdout"]
    rows = table(grid)
    assert rows[0] == ["cell", "learning_rate", "batch_size", "state", "f1", "precision",
                       "recall", "best_epoch"]
    assert [row[:4] for row in rows[1:]] == [
        [cell, cell[2:7], cell.split("batch")[1], "finished"] for cell in CELLS]
    # Each cell's scores are its run's metrics.json: those of its best dev evaluation.
    for row in rows[1:]:
        with open(os.path.join(grid, row[0], "metrics.json"), encoding="utf-8") as f:
            metrics = json.load(f)
        assert [float(v) for v in row[4:7]] == [metrics[k] for k in ("f1", "precision", "recall")]
        with open(os.path.join(grid, row[0], "history.json"), encoding="utf-8") as f:
            scores = json.load(f)["val_f1"]
        assert len(scores) == 2 and metrics["f1"] == max(scores)
        assert float(row[7]) == scores.index(max(scores)) + 1
    best = max(rows[1:], key=lambda row: float(row[4]))  # the first of equal ones
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["best"] == best[0] and summary["metric"] == "f1"
    assert summary["learning_rate"] == float(best[1]) and summary["batch_size"] == int(best[2])
    assert summary["f1"] == pytest.approx(float(best[4]), abs=1e-6)
    assert f"Best cell: {best[0]} " in stdout
    with open(os.path.join(grid, "grid.md"), encoding="utf-8") as f:
        markdown = f.read()
    assert f"| **{best[0]}** |" in markdown and "4 of 4 cells finished" in markdown
    assert sum(line.startswith("epoch 2/2: ") for line in stdout.splitlines()) == 4


@pytest.mark.slow
def test_a_killed_grid_finishes_with_the_uninterrupted_tables(files, uninterrupted, tmp_path):
    grid = tmp_path / "grid"
    # 2 epochs a cell: the 4th epoch checkpoint is the second cell's last; killed before it.
    killed = run(command(files, grid), kill_at=("after-history", "4"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert [row[3] for row in table(grid)[1:]] == ["finished", "pending", "pending", "pending"]
    # Killed again while the resumed cell writes its final model.
    killed = run(command(files, grid), kill_at=("final-save", "1"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert "cell 1/4 lr0.001_batch8: finished before; skipped" in killed.stdout
    assert "cell 2/4 lr0.001_batch16: learning_rate 0.001, batch_size 16 (resuming it)" in (
        killed.stdout)
    assert "starting at epoch 1" in killed.stdout
    resumed = finished(run(command(files, grid)))
    assert "Taking over the stale lock of process" in resumed.stdout
    assert "cell 2/4 lr0.001_batch16: learning_rate 0.001, batch_size 16 (resuming it)" in (
        resumed.stdout)
    assert resumed.stdout.count("finished before; skipped") == 1
    assert table(grid) == table(uninterrupted["grid"])
    with open(grid / "grid.md", encoding="utf-8") as ours, \
            open(os.path.join(uninterrupted["grid"], "grid.md"), encoding="utf-8") as reference:
        assert ours.read() == reference.read()
    assert resumed.stdout.strip().splitlines()[-1] == (
        uninterrupted["stdout"].strip().splitlines()[-1].replace(uninterrupted["grid"], str(grid)))
    # Run again: every cell is skipped.
    again = finished(run(command(files, grid)))
    assert again.stdout.count("finished before; skipped") == 4
    assert table(grid) == table(uninterrupted["grid"])
