"""Fault injection on a tiny `spanbert-keras pretrain` run: kills, damaged files, a full disk, two processes.

Each faulty run is followed by the same command, which must finish the run
with the weights (within 1e-6, deterministic ops) and the history of an
uninterrupted run. Slow (about twenty runs of the command); everything is
written under pytest's temporary directory, and a mounted tmpfs is unmounted
whatever happens.
"""

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import spanbert_keras  # noqa: F401  (registers the model classes for load_model)
from spanbert_keras.data.vocabulary import build_vocabulary

pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
KILL_AT = os.path.join(HERE, "kill_at.py")
ENV = {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
       "TF_DETERMINISTIC_OPS": "1"}
TIMEOUT = 600


@pytest.fixture(scope="module")
def command(tmp_path_factory, demo_excerpt):
    """`command(run_dir)`: the argument list of the tiny run (4 epochs of 2 steps)."""
    root = tmp_path_factory.mktemp("faults")
    corpus = demo_excerpt(25)
    # A given vocabulary: the WordPiece trainer breaks ties differently in each process.
    vocabulary = build_vocabulary([corpus], vocab_size=2000, show_progress=False)
    vocab = vocabulary.save(str(root / "vocab.txt"))
    settings = {"data.batch_size": 4, "data.sequence_length": 64, "data.vocabulary": vocab,
                "data.validation_fraction": 0.2, "training.steps_per_epoch": 2,
                "training.eval_steps": 2, "training.jit_compile": "false"}
    overrides = [part for key, value in settings.items() for part in ("--set", f"{key}={value}")]

    def of(run_dir):
        return ["pretrain", "--config", os.path.join(REPO, "pipelines", "configs", "tiny.yaml"),
                "--corpus", corpus, "--steps", "8", "--output", str(run_dir), *overrides]

    return of


def run(args, kill_at=None):
    prefix = [KILL_AT, *kill_at, "--"] if kill_at else ["-m", "spanbert_keras_cli"]
    return subprocess.run([sys.executable, *prefix, *args], capture_output=True, text=True,
                          timeout=TIMEOUT, env=ENV, cwd=REPO)


def finished(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def weights(run_dir):
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    return [v.numpy() for v in model.weights]


def history(run_dir):
    with open(os.path.join(run_dir, "history.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def uninterrupted(command, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    started = time.time()
    result = finished(run(command(run_dir)))
    return {"weights": weights(run_dir), "history": history(run_dir),
            "seconds": time.time() - started, "stdout": result.stdout}


def assert_like_uninterrupted(run_dir, uninterrupted):
    for ours, reference in zip(weights(run_dir), uninterrupted["weights"]):
        np.testing.assert_allclose(ours, reference, atol=1e-6, rtol=0)
    ours, reference = history(run_dir), uninterrupted["history"]
    assert sorted(ours) == sorted(reference)
    for key, values in reference.items():
        assert len(ours[key]) == 4, key  # every epoch once
        np.testing.assert_allclose(ours[key], values, atol=1e-6, rtol=0, err_msg=key)
    leftovers = [name for name in os.listdir(run_dir) + os.listdir(os.path.join(run_dir, "backup"))
                 if name.startswith(".") or name == "lock"]
    assert leftovers == []
    assert sorted(os.listdir(os.path.join(run_dir, "backup"))) == ["epoch-000003", "epoch-000004"]


def test_kills_while_checkpoints_and_the_model_are_written(command, uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    for moment in (("weights-write", "2"), ("before-rename", "1"), ("after-history", "1"),
                   ("final-save", "1")):
        killed = run(command(run_dir), kill_at=moment)
        assert killed.returncode == -signal.SIGKILL, (moment, killed.stderr[-2000:])
    resumed = finished(run(command(run_dir)))
    assert "Taking over the stale lock of process" in resumed.stdout
    assert_like_uninterrupted(run_dir, uninterrupted)


def test_sigkill_at_five_random_moments(command, uninterrupted, tmp_path):
    # Each run is killed at a random moment of an uninterrupted run's length and the same
    # command started again, until one finishes; then a new run, until five kills landed
    # (how many land in a run depends on the machine's speed: as many runs as it takes).
    rng = random.Random(15)
    kills = []
    for chain in range(12):
        run_dir = tmp_path / f"run{chain}"
        while True:
            process = subprocess.Popen(
                [sys.executable, "-m", "spanbert_keras_cli", *command(run_dir)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO)
            moment = rng.uniform(0, uninterrupted["seconds"])
            try:
                out, err = process.communicate(timeout=moment)
            except subprocess.TimeoutExpired:
                process.kill()  # SIGKILL
                process.communicate()
                kills.append(round(moment, 1))
                continue
            assert process.returncode == 0, out[-2000:] + err[-2000:]
            break
        assert_like_uninterrupted(run_dir, uninterrupted)
        if len(kills) >= 5:
            break
    assert len(kills) >= 5, kills


def test_damaged_checkpoint_and_model_are_survived(command, uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    # Killed at the end of epoch 4, before its checkpoint: epochs 2 and 3 are kept.
    killed = run(command(run_dir), kill_at=("after-history", "4"))
    assert killed.returncode == -signal.SIGKILL
    newest = run_dir / "backup" / "epoch-000003" / "model.weights.h5"
    with open(newest, "r+b") as f:
        f.truncate(os.path.getsize(newest) // 3)
    resumed = finished(run(command(run_dir)))
    assert "WARNING: the checkpoint of epoch 3 is damaged" in resumed.stdout
    assert "starting at epoch 2" in resumed.stdout
    assert_like_uninterrupted(run_dir, uninterrupted)
    # A final model.keras cut short (a full disk with an older version): rebuilt, not "finished".
    with open(run_dir / "model.keras", "r+b") as f:
        f.truncate(1000)
    rebuilt = finished(run(command(run_dir)))
    assert "model.keras is damaged" in rebuilt.stdout and "rebuilding it" in rebuilt.stdout
    assert_like_uninterrupted(run_dir, uninterrupted)


def test_a_second_process_on_the_run_directory_exits_2_and_the_first_is_unharmed(
        command, uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "spanbert_keras_cli", *command(run_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                             cwd=REPO)
    lock = run_dir / "lock"
    deadline = time.time() + TIMEOUT
    while not (lock.exists() and str(first.pid) in lock.read_text()) and first.poll() is None:
        assert time.time() < deadline
        time.sleep(0.05)
    second = run(command(run_dir))
    out, err = first.communicate(timeout=TIMEOUT)
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and f"is in use by process {first.pid} on " in lines[0]
    assert first.returncode == 0, out[-2000:] + err[-2000:]
    assert_like_uninterrupted(run_dir, uninterrupted)


@contextlib.contextmanager
def small_tmpfs(folder, megabytes):
    """A tmpfs of `megabytes` at `folder` (root only), unmounted at the end."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root and mount")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_during_a_checkpoint_resumes_once_space_is_back(command, uninterrupted,
                                                                    tmp_path):
    # A checkpoint of this run is ~10 MB: the disk holds two, not the third.
    with small_tmpfs(tmp_path / "disk", 26) as disk:
        run_dir = disk / "run"
        full = run(command(run_dir))
        assert full.returncode == 2, full.stdout[-2000:] + full.stderr[-2000:]
        lines = full.stderr.strip().splitlines()
        assert len(lines) == 1 and "No space left on the device" in lines[0], full.stderr
        assert sorted(os.listdir(run_dir / "backup")) == ["epoch-000001", "epoch-000002"]
        # Without that check the full disk is met inside HDF5's write, which crashes the
        # process (SIGSEGV in h5py): the staged checkpoint goes, the earlier ones stay.
        crashed = run(command(run_dir), kill_at=("no-space-check", "0"))
        assert crashed.returncode != 0
        kept = [name for name in os.listdir(run_dir / "backup") if not name.startswith(".")]
        assert sorted(kept) == ["epoch-000001", "epoch-000002"]
        subprocess.run(["mount", "-o", "remount,size=128m", str(disk)], check=True)
        resumed = finished(run(command(run_dir)))
        assert "starting at epoch 2" in resumed.stdout
        assert_like_uninterrupted(run_dir, uninterrupted)
