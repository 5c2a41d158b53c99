"""Runs a `spanbert-keras` command that kills itself (SIGKILL) at a chosen moment: a fault injector.

    python tests/training/kill_at.py MOMENT N -- pretrain --config ... --output RUN

MOMENT, the N-th time it happens in the process (from 1):

- `weights-write`: a checkpoint's weights file half written (cut to half its
  size), as by a kill during the write;
- `before-rename`: a checkpoint complete in its staging directory, not yet
  renamed into place;
- `after-history`: an epoch's history recorded, its checkpoint not yet begun;
- `final-save`: the final `model.keras` half written.

`no-space-check` (N ignored) kills nothing: it turns the checkpoints' free-space
check off, so that a full disk is met inside HDF5's write (which crashes the
process) instead of before it.

The package is not changed: its functions are wrapped here, in this process only.
"""

import os
import signal
import sys


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def truncate(path):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)


def main(argv):
    moment, count, separator, *command = argv
    assert separator == "--", "usage: kill_at.py MOMENT N -- COMMAND ARGS..."
    os.environ["SPANBERT_KERAS_DEFER_IMPORTS"] = "1"
    from spanbert_keras.console import quiet_tensorflow

    quiet_tensorflow()
    import keras

    from spanbert_keras import files
    from spanbert_keras.run_layout import RunDirectory
    from spanbert_keras.training import checkpointing

    seen = [0]

    def hit():
        seen[0] += 1
        return seen[0] == int(count)

    if moment == "weights-write":
        save_weights = keras.Model.save_weights

        def wrapped(self, path, *args, **kwargs):
            save_weights(self, path, *args, **kwargs)
            if hit():
                truncate(path)
                die()

        keras.Model.save_weights = wrapped
    elif moment == "before-rename":
        move_into_place = files.move_into_place

        def wrapped(staged):
            if any(os.sep + RunDirectory.BACKUP_DIR + os.sep in final for _, final in staged):
                if hit():
                    die()
            return move_into_place(staged)

        files.move_into_place = wrapped
    elif moment == "after-history":
        save_checkpoint = checkpointing.save_checkpoint

        def wrapped(*args, **kwargs):
            if hit():
                die()
            return save_checkpoint(*args, **kwargs)

        checkpointing.save_checkpoint = wrapped
    elif moment == "final-save":
        save = keras.Model.save

        def wrapped(self, path, *args, **kwargs):
            save(self, path, *args, **kwargs)
            if str(path).endswith(RunDirectory.MODEL_FILE) and hit():
                truncate(path)
                die()

        keras.Model.save = wrapped
    elif moment == "no-space-check":
        checkpointing._check_space = lambda *args: None
    else:
        raise SystemExit(f"unknown moment {moment!r}")
    from spanbert_keras.cli import main as cli

    return cli(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
