"""The run directory's rules, in process on a small Keras model: lock, checkpoints, history, files."""

import json
import os
import shutil
import socket
import sys

import keras
import numpy as np
import pytest
from lock_holder import held_lock

from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.training import checkpointing
from spanbert_keras.training.checkpointing import EpochCheckpoint
from spanbert_keras.training.checkpointing import EpochLine
from spanbert_keras.training.checkpointing import check_model_file
from spanbert_keras.training.checkpointing import fit_progress
from spanbert_keras.training.checkpointing import latest_checkpoint
from spanbert_keras.training.checkpointing import model_file_problem
from spanbert_keras.training.checkpointing import record_vocabulary
from spanbert_keras.training.checkpointing import restore_checkpoint
from spanbert_keras.training.checkpointing import run_lock
from spanbert_keras.training.checkpointing import run_vocabulary
from spanbert_keras.training.checkpointing import save_checkpoint
from spanbert_keras.training.checkpointing import save_model_file


def quiet(*_):
    pass


def small_model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.5),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def train(model, epochs, initial_epoch=0, callbacks=()):
    x = np.arange(32, dtype="float32").reshape(8, 4) / 32
    model.fit(x, x[:, :1], epochs=epochs, initial_epoch=initial_epoch, batch_size=4, verbose=0,
              callbacks=list(callbacks), shuffle=False)


def state(model):
    return [v.numpy().copy() for v in model.variables + model.optimizer.variables]


def test_a_second_process_is_refused_naming_the_owner(tmp_path):
    run = str(tmp_path / "run")
    with held_lock(run) as pid:
        with pytest.raises(FileExistsError,
                           match=f"in use by process {pid} on {socket.gethostname()}"):
            with run_lock(run, log=quiet):
                pass
        assert os.path.exists(os.path.join(run, "lock"))  # the owner's lock is left alone


def test_a_stale_lock_is_taken_over_and_temporaries_removed(tmp_path):
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "lock").write_text(json.dumps({"pid": 2**22 + 7, "host": "elsewhere"}))
    (run / ".tmp-99-abc-model.keras").write_text("half")
    (run / "backup" / ".tmp-epoch-000002-xyz").mkdir()
    messages = []
    with run_lock(str(run), log=messages.append) as path:
        with run_lock(str(run), log=messages.append):  # re-entrant in one process
            held = json.loads(open(path).read())
    assert held == {"pid": os.getpid(), "host": socket.gethostname()}
    assert len(messages) == 1 and "stale lock of process 4194311 on elsewhere" in messages[0]
    assert sorted(os.listdir(run)) == ["backup"] and os.listdir(run / "backup") == []


def test_checkpoints_resume_exactly_and_keep_two(tmp_path):
    run = str(tmp_path / "run")
    reference = small_model()
    train(reference, 4)
    model = small_model()
    train(model, 3, callbacks=[EpochCheckpoint(run)])
    assert sorted(os.listdir(os.path.join(run, "backup"))) == ["epoch-000002", "epoch-000003"]
    resumed = small_model()
    checkpoint = latest_checkpoint(run, log=quiet)
    assert checkpoint.epoch == 3
    restore_checkpoint(resumed, checkpoint)
    train(resumed, 4, initial_epoch=3, callbacks=[EpochCheckpoint(run)])
    for a, b in zip(state(resumed), state(reference)):  # dropout seeds included
        np.testing.assert_array_equal(a, b)
    with open(os.path.join(run, "history.json")) as f:
        assert len(json.load(f)["loss"]) == 4


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(tmp_path):
    run = str(tmp_path / "run")
    model = small_model()
    train(model, 2, callbacks=[EpochCheckpoint(run)])
    newest = os.path.join(run, "backup", "epoch-000002", "model.weights.h5")
    with open(newest, "r+b") as f:
        f.truncate(100)
    messages = []
    checkpoint = latest_checkpoint(run, log=messages.append)
    assert checkpoint.epoch == 1
    assert "epoch 2 is damaged" in messages[0] and "truncated" in messages[0]
    restore_checkpoint(small_model(), checkpoint)
    # A bit flipped in the previous one too: nothing intact is an error, not a fresh start.
    previous = os.path.join(run, "backup", "epoch-000001", "model.weights.h5")
    data = bytearray(open(previous, "rb").read())
    data[len(data) // 2] ^= 1
    open(previous, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="holds no intact checkpoint"):
        latest_checkpoint(run, log=messages.append)
    assert "does not match the SHA-256" in messages[-1]


def test_keras_backup_layout_is_still_read(tmp_path):
    backup = tmp_path / "run" / "backup"
    backup.mkdir(parents=True)
    model = small_model()
    train(model, 1)
    model.save_weights(str(backup / "latest.weights.h5"))
    (backup / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    checkpoint = latest_checkpoint(str(tmp_path / "run"), log=quiet)
    assert checkpoint.epoch == 3
    restore_checkpoint(small_model(), checkpoint)
    save_checkpoint(model, str(tmp_path / "run"), 4, keep=1)
    assert os.listdir(backup) == ["epoch-000004"]  # the older layout is pruned with the rest


def test_a_full_disk_leaves_the_checkpoints_as_they_were(tmp_path, monkeypatch):
    run = str(tmp_path / "run")
    model = small_model()
    save_checkpoint(model, run, 1)
    usage = shutil.disk_usage(run)
    monkeypatch.setattr(checkpointing.shutil, "disk_usage",
                        lambda _: usage._replace(free=1000))
    with pytest.raises(OSError, match="No space left on the device .* resumes from the last"):
        save_checkpoint(model, run, 2)
    assert os.listdir(os.path.join(run, "backup")) == ["epoch-000001"]


def test_history_records_each_epoch_once(tmp_path):
    path = str(tmp_path / "history.json")
    for epoch in range(3):
        checkpointing.record_epoch(path, epoch, {"loss": 3.0 - epoch})
    # A resume from the checkpoint of epoch 1 trains epoch 1 again (a val metric appears).
    history = checkpointing.record_epoch(path, 1, {"loss": 1.5, "val_loss": 1.0})
    assert history == {"loss": [3.0, 1.5], "val_loss": [None, 1.0]}


def test_the_vocabulary_fingerprint_refuses_another_of_the_same_size(tmp_path):
    run = str(tmp_path)
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    record_vocabulary(run, Vocabulary(special + ["cat", "dog"]))
    assert open(os.path.join(run, "vocab.sha256")).read().endswith("  vocab.txt\n")
    Vocabulary(special + ["dog", "cat"]).save(os.path.join(run, "vocab.txt"))
    with pytest.raises(ValueError, match="another vocabulary than the one this run was trained"):
        run_vocabulary(run)
    with pytest.raises(ValueError, match="only special pieces"):
        Vocabulary(special).check_has_wordpieces()


def test_a_damaged_model_file_is_named(tmp_path):
    path = str(tmp_path / "model.keras")
    assert model_file_problem(path) == "missing"
    save_model_file(small_model(), path)
    assert model_file_problem(path) is None and os.listdir(tmp_path) == ["model.keras"]
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(ValueError, match=r"model.keras is damaged: not a readable zip .*; run it"):
        check_model_file(path, "run it again")


def test_progress_is_one_line_per_epoch_without_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    lines = []
    verbose, callbacks = fit_progress(None, lines.append)
    assert verbose == 0 and isinstance(callbacks[0], EpochLine)
    train(small_model(), 2, callbacks=callbacks)
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2: 2 steps in ") and "loss" in lines[1]
    assert fit_progress(2) == (2, [])
