"""A run's lock, checkpoints, best weights and epoch records, for pre-training and fine-tuning.

The files and folders of a run directory are named by
`spanbert_keras.run_layout.RunDirectory` (its docstring lists them and which
stage writes each); this module keeps the rules they are written and read by.
What a crash, a full disk or a second process can do to a run directory, and
what is done about it:

- every file is written to a temporary name, flushed and renamed
  (`spanbert_keras.files`); a checkpoint is a directory staged the same
  way, listing the size and SHA-256 of its files, and the previous one is
  kept until the new one is complete. On resume a damaged newest checkpoint
  is reported and the previous one used (`latest_checkpoint`);
- the best weights are kept the same way (`save_best`): a new best is staged
  under a new name, and the previous one removed only once it is in place,
  so a resumed run knows the best weights and score it had (`latest_best`);
- the history records epoch `e` at position `e` before epoch `e`'s
  checkpoint is written, so the epochs a resumed process trains again
  replace their earlier record: after any number of resumes it holds each
  epoch once (`record_epoch`);
- a final `model.keras` that does not read back whole is not "finished":
  it is rebuilt from the last checkpoint (`model_file_problem`);
- the vocabulary's fingerprint is recorded with it; `evaluate`, `export`
  and a resume refuse another `vocab.txt`, whatever its size
  (`run_vocabulary`);
- a process holds `RUN/lock` (an exclusive `flock`, released by the kernel
  when the process dies) while it works: a second process is refused,
  naming the owner, and the lock of a dead process is taken over with a
  message (`run_lock`). POSIX only.
"""

import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import sys
import time

import keras
import numpy as np

from spanbert_keras.console import one_line
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.files import atomic_path
from spanbert_keras.files import atomic_write
from spanbert_keras.files import check_directory_path
from spanbert_keras.files import member_path
from spanbert_keras.files import read_json
from spanbert_keras.files import remove_temporaries
from spanbert_keras.files import sha256_of
from spanbert_keras.files import staged_output
from spanbert_keras.files import write_json
from spanbert_keras.files import zip_problem
from spanbert_keras.run_layout import RunDirectory

KEEP_CHECKPOINTS = 2
# Keras' `BackupAndRestore` layout, which runs before these checkpoints used.
_LEGACY_WEIGHTS, _LEGACY_METADATA = "latest.weights.h5", "training_metadata.json"


# --------------------------------------------------------------------- lock

_HELD = {}  # lock path -> [file descriptor, depth] of the locks this process holds


@contextlib.contextmanager
def run_lock(run_dir, log=print):
    """Holds `RUN/lock` while the block runs (re-entrant within a process).

    The run directory is created (and removed again if the block leaves it
    empty). Temporary files that an interrupted process left in it are
    removed once the lock is held.

    Raises:
        FileExistsError: another live process holds the directory (the
            message names its PID and host).

    Example:

    >>> import os, tempfile
    >>> run = os.path.join(tempfile.mkdtemp(), "run")
    >>> with run_lock(run):
    ...     with run_lock(run):  # the same process may nest it
    ...         sorted(os.listdir(run))
    ['lock']
    >>> os.path.exists(run)
    False
    """
    check_directory_path(run_dir)
    created = not os.path.isdir(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.realpath(RunDirectory(run_dir).lock)
    if path in _HELD:
        _HELD[path][1] += 1
        try:
            yield path
        finally:
            _HELD[path][1] -= 1
        return
    handle = _acquire(path, run_dir, log)
    _HELD[path] = [handle, 1]
    try:
        remove_temporaries(run_dir)
        remove_temporaries(RunDirectory(run_dir).backup)
        yield path
    finally:
        del _HELD[path]
        with contextlib.suppress(OSError):
            os.remove(path)  # removed while still locked, then released
        os.close(handle)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(run_dir)  # only if the block left it empty


def _acquire(path, run_dir, log):
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = _owner(handle)
            os.close(handle)
            raise FileExistsError(
                f"{run_dir} is in use by process {held.get('pid', '?')} on "
                f"{held.get('host', '?')} ({path}); wait for it to finish or use another "
                "output directory."
            ) from None
        try:  # locked; but is it still the file at `path` (not one just removed)?
            current = os.stat(path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            current = False
        if not current:
            os.close(handle)
            continue
        held = _owner(handle)
        if held and held != owner:
            log(f"Taking over the stale lock of process {held.get('pid', '?')} on "
                f"{held.get('host', '?')} (no longer running): {path}")
        os.ftruncate(handle, 0)
        os.pwrite(handle, json.dumps(owner).encode("utf-8"), 0)
        os.fsync(handle)
        return handle


def _owner(handle):
    try:
        owner = json.loads(os.pread(handle, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def lock_owner(run_dir):
    """The process working in `run_dir` as its `lock` file tells (`{"pid", "host"}`), or None.

    The file is only read, never locked, so a process starting on the run
    is not disturbed: `run_lock` remains the one way to claim a run. A lock
    file a killed process of this host left behind counts as free; one of
    another host as held.
    """
    path = os.path.realpath(RunDirectory(run_dir).lock)
    here = socket.gethostname()
    if path in _HELD:
        return {"pid": os.getpid(), "host": here}
    try:
        with open(path, encoding="utf-8") as f:
            owner = json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return None
    if not isinstance(owner, dict) or "pid" not in owner:
        return None
    if owner.get("host") == here:
        try:
            os.kill(int(owner["pid"]), 0)
        except (ProcessLookupError, ValueError, TypeError, OverflowError):
            return None
        except PermissionError:  # alive, another user's
            pass
    return owner


# --------------------------------------------------------------- vocabulary


def record_vocabulary(run_dir, vocabulary):
    """Writes `RUN/vocab.txt` and its fingerprint `RUN/vocab.sha256` (`sha256sum`'s format)."""
    run = RunDirectory(run_dir)
    vocabulary.save(run.vocab)
    atomic_write(run.vocab_fingerprint,
                 lambda f: f.write(f"{vocabulary.fingerprint}  {RunDirectory.VOCAB_FILE}\n"))


def _recorded_fingerprint(run_dir):
    path = RunDirectory(run_dir).vocab_fingerprint
    if not os.path.isfile(path):
        return None  # a run written before fingerprints were recorded
    with open(path, encoding="utf-8") as f:
        fields = f.read().split()
    if not fields or not re.fullmatch(r"[0-9a-f]{64}", fields[0]):
        raise ValueError(f"{path} holds no SHA-256; delete it to record the current vocab.txt.")
    return fields[0]


def run_vocabulary(run_dir):
    """`RUN/vocab.txt`, refused when it is not the vocabulary the run recorded.

    Example:

    >>> import os, tempfile
    >>> from spanbert_keras.data.vocabulary import Vocabulary
    >>> run = tempfile.mkdtemp()
    >>> record_vocabulary(run, Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]))
    >>> run_vocabulary(run).size
    6
    >>> Vocabulary(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "b"]).save(
    ...     os.path.join(run, "vocab.txt"))  # same size, other pieces
    '...vocab.txt'
    >>> run_vocabulary(run)
    Traceback (most recent call last):
    ...
    ValueError: ...vocab.txt is another vocabulary than the one this run was trained with (its SHA-256 differs from the one in .../vocab.sha256): put the run's own vocab.txt back; another vocabulary gives meaningless results, whatever its size.
    """
    run = RunDirectory(run_dir)
    path = run.vocab
    vocabulary = Vocabulary.load(path)
    recorded = _recorded_fingerprint(run_dir)
    if recorded is not None and sha256_of(path) != recorded:
        raise ValueError(
            f"{path} is another vocabulary than the one this run was trained with (its "
            f"SHA-256 differs from the one in {run.vocab_fingerprint}): "
            "put the run's own vocab.txt back; another vocabulary gives meaningless results, "
            "whatever its size."
        )
    return vocabulary


def check_run_vocabulary(run_dir, vocabulary, given):
    """Refuses to continue a run with another vocabulary than its own (compared by fingerprint).

    Args:
        run_dir: the run directory (a run without `vocab.txt` accepts any).
        vocabulary: the `Vocabulary` asked for.
        given: str, where it comes from, for the message.
    """
    path = RunDirectory(run_dir).vocab
    if not os.path.isfile(path):
        return
    if run_vocabulary(run_dir).fingerprint != vocabulary.fingerprint:
        raise ValueError(
            f"{run_dir} was trained with another vocabulary ({path}) "
            f"than {given}; use another output directory."
        )


# -------------------------------------------------------------- checkpoints


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """A checkpoint of a run: the state after `epoch` epochs."""

    epoch: int
    weights: str
    seeds: str = None


def _candidates(backup):
    """The checkpoints in `backup`, newest first (Keras' older single file last)."""
    found = []
    if os.path.isdir(backup):
        for name in os.listdir(backup):
            epoch = RunDirectory.checkpoint_epoch(name)
            if epoch is not None and os.path.isdir(os.path.join(backup, name)):
                folder = os.path.join(backup, name)
                found.append(Checkpoint(
                    epoch, os.path.join(folder, RunDirectory.CHECKPOINT_WEIGHTS_FILE),
                    os.path.join(folder, RunDirectory.CHECKPOINT_SEEDS_FILE)))
    found.sort(key=lambda c: -c.epoch)
    legacy = os.path.join(backup, _LEGACY_METADATA)
    if os.path.isfile(legacy) and os.path.isfile(os.path.join(backup, _LEGACY_WEIGHTS)):
        try:
            epoch = int(read_json(legacy)["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            epoch = None
        if epoch is not None:
            found.append(Checkpoint(epoch, os.path.join(backup, _LEGACY_WEIGHTS)))
    return found


def _listed_files(folder, names):
    """`{name: {"bytes", "sha256"}}` of files of `folder`, as an info file lists them."""
    files = {}
    for name in names:
        path = os.path.join(folder, name)
        files[name] = {"bytes": os.path.getsize(path), "sha256": sha256_of(path)}
    return files


def _folder_problem(folder, info_name, key, value):
    """What is wrong with a staged folder whose info file lists its files, or None."""
    try:
        info = read_json(os.path.join(folder, info_name))
        if info.get(key) != value:
            return f"{info_name} names {key} {info.get(key)}"
        for name, expected in info["files"].items():
            path = member_path(folder, name, os.path.join(folder, info_name))
            if not os.path.isfile(path):
                return f"{path} is missing"
            if os.path.getsize(path) != expected["bytes"]:
                return (f"{path} has {os.path.getsize(path):,} bytes, not the "
                        f"{expected['bytes']:,} written (truncated?)")
            if sha256_of(path) != expected["sha256"]:
                return f"{path} does not match the SHA-256 recorded when it was written"
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        return one_line(error)
    return None


def _problem(checkpoint):
    """What is wrong with a checkpoint, or None when its files are whole."""
    folder = os.path.dirname(checkpoint.weights)
    if checkpoint.seeds is None:  # Keras' layout: no sizes or hashes to check
        return None if os.path.getsize(checkpoint.weights) else f"{checkpoint.weights} is empty"
    return _folder_problem(folder, RunDirectory.CHECKPOINT_INFO_FILE, "epoch", checkpoint.epoch)


def latest_checkpoint(run_dir, log=print):
    """The newest intact checkpoint of a run, or None before the first one.

    A damaged checkpoint (truncated, altered, half-written by an older
    version) is reported and the previous one used.

    Raises:
        ValueError: the run has checkpoints but none is intact.
    """
    backup = RunDirectory(run_dir).backup
    candidates = _candidates(backup)
    for checkpoint in candidates:
        problem = _problem(checkpoint)
        if problem is None:
            return checkpoint
        log(f"WARNING: the checkpoint of epoch {checkpoint.epoch} is damaged ({problem}); "
            "falling back to the previous one.")
    if candidates:
        raise ValueError(
            f"{backup} holds no intact checkpoint (see the warnings above); move it away "
            "to train the run from its start again."
        )
    return None


def newest_checkpoint_epoch(run_dir):
    """The epoch of a run's newest checkpoint by its name (its files unchecked), or None.

    A cheap look for a caller that only needs to know how far a run got
    (`latest_checkpoint` reads every file of the checkpoint).
    """
    candidates = _candidates(RunDirectory(run_dir).backup)
    return candidates[0].epoch if candidates else None


def seed_variables(model):
    """The random-seed states of a model's layers (dropout): what `save_weights` leaves out."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def restore_checkpoint(model, checkpoint):
    """Loads a checkpoint into a built, compiled model: weights, optimiser state, seeds."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(checkpoint.weights)
        if checkpoint.seeds is not None:
            with np.load(checkpoint.seeds, allow_pickle=False) as seeds:
                states = [seeds[f"arr_{i}"] for i in range(len(seeds.files))]
            variables = seed_variables(model)
            if len(states) != len(variables):
                raise ValueError(f"{len(states)} seed states for {len(variables)} seeds")
            for variable, state in zip(variables, states):
                variable.assign(state)
    except Exception as error:  # h5py, shapes, names: the file does not fit this model
        raise ValueError(
            f"{checkpoint.weights} cannot be loaded into this run's model ({one_line(error)})."
        ) from None


def _bytes_of(variables):
    total = 0
    for variable in variables:
        try:
            size = np.dtype(str(variable.dtype)).itemsize
        except TypeError:  # bfloat16
            size = 4
        total += int(np.prod(variable.shape)) * size
    return total


def _check_space(model, backup, newest):
    """Refuses to start a checkpoint that cannot fit on the disk (before HDF5 meets a full disk)."""
    if newest is not None and os.path.isfile(newest.weights):
        needed = os.path.getsize(newest.weights)
    else:
        optimizer = model.optimizer.variables if model.optimizer is not None else []
        needed = _bytes_of(list(model.weights) + list(optimizer))
    needed = int(needed * 1.05) + (1 << 20)
    free = shutil.disk_usage(backup).free
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"No space left on the device of {backup} for a checkpoint of about "
            f"{needed / 1e6:,.1f} MB ({free / 1e6:,.1f} MB free); free some space and run the "
            "same command again: it resumes from the last checkpoint",
        )


def save_checkpoint(model, run_dir, epoch, keep=KEEP_CHECKPOINTS):
    """Writes `RUN/backup/epoch-NNNNNN/` as a unit, then keeps only the newest `keep`.

    The weights (with the optimiser's state), the layers' seed states and
    `checkpoint.json` (the epoch, each file's size and SHA-256) are written
    to a staging directory, flushed and renamed into place: a crash or a
    full disk leaves the previous checkpoints as they were.
    """
    run = RunDirectory(run_dir)
    backup = run.backup
    os.makedirs(backup, exist_ok=True)
    existing = _candidates(backup)
    _check_space(model, backup, existing[0] if existing else None)
    final = run.checkpoint(epoch)
    weights, seeds = RunDirectory.CHECKPOINT_WEIGHTS_FILE, RunDirectory.CHECKPOINT_SEEDS_FILE
    with staged_output(final, overwrite=True) as stage:
        model.save_weights(os.path.join(stage, weights))
        np.savez(os.path.join(stage, seeds),
                 *[keras.ops.convert_to_numpy(v.value) for v in seed_variables(model)])
        files = _listed_files(stage, (weights, seeds))
        write_json(os.path.join(stage, RunDirectory.CHECKPOINT_INFO_FILE),
                   {"epoch": epoch, "files": files})
    for old in _candidates(backup)[keep:]:
        if old.seeds is None:
            for name in (_LEGACY_WEIGHTS, _LEGACY_METADATA):
                for suffix in ("", ".bkp"):
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(backup, name + suffix))
        else:
            shutil.rmtree(os.path.dirname(old.weights), ignore_errors=True)
    return final


# ------------------------------------------------------------- best weights


@dataclasses.dataclass(frozen=True)
class BestWeights:
    """The best dev evaluation of a run so far: its number (from 1), weights file and record.

    `info` is what `save_best` was given (`metric`, `score`, `metrics`, ...)
    with `evaluation`, the variables' paths and the files' sizes and SHA-256.
    """

    evaluation: int
    weights: str
    info: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def metric(self):
        return self.info.get("metric")

    @property
    def score(self):
        return self.info.get("score")


def _best_candidates(run_dir):
    """`(evaluation, folder)` of the kept best weights, newest first."""
    folder = RunDirectory(run_dir).best
    found = []
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            evaluation = RunDirectory.best_evaluation(name)
            if evaluation is not None and os.path.isdir(os.path.join(folder, name)):
                found.append((evaluation, os.path.join(folder, name)))
    return sorted(found, reverse=True)


def save_best(model, run_dir, evaluation, record, keep=KEEP_CHECKPOINTS):
    """Keeps `model`'s weights as the run's best: `RUN/best/eval-NNNNNN/`, written as a unit.

    The weights (`model.weights`, not the optimiser's state) and
    `best.json` (`record`, the evaluation, the variables' paths, the
    weights file's size and SHA-256) are staged and renamed into place;
    then only the newest `keep` bests stay. A crash leaves the previous best
    as it was.

    Args:
        model: the model whose weights are the best so far.
        run_dir: the run directory.
        evaluation: int, the evaluation's number (from 1).
        record: JSON-serialisable dict kept with them (`metric`, `score`, ...).
        keep: int, how many of the newest bests stay.

    Returns:
        The `BestWeights` written.

    Example:

    >>> import tempfile, keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> run = tempfile.mkdtemp()
    >>> _ = save_best(model, run, 3, {"metric": "f1", "score": 0.5})
    >>> best = latest_best(run)
    >>> best.evaluation, best.metric, best.score
    (3, 'f1', 0.5)
    """
    run = RunDirectory(run_dir)
    os.makedirs(run.best, exist_ok=True)
    final = run.best_weights(evaluation)
    weights = RunDirectory.BEST_WEIGHTS_FILE
    with staged_output(final, overwrite=True) as stage:
        np.savez(os.path.join(stage, weights),
                 *[keras.ops.convert_to_numpy(v.value) for v in model.weights])
        info = {**record, "evaluation": evaluation,
                "variables": [v.path for v in model.weights],
                "files": _listed_files(stage, (weights,))}
        write_json(os.path.join(stage, RunDirectory.BEST_INFO_FILE), info)
    for _, old in _best_candidates(run_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return BestWeights(evaluation, os.path.join(final, weights), info)


def latest_best(run_dir, log=print):
    """The best weights a run has kept so far (`save_best`), or None before any.

    Damaged best weights (truncated, altered) are reported and the previous
    ones used.

    Raises:
        ValueError: the run has best weights but none is intact.
    """
    candidates = _best_candidates(run_dir)
    for evaluation, folder in candidates:
        problem = _folder_problem(folder, RunDirectory.BEST_INFO_FILE, "evaluation", evaluation)
        if problem is None:
            info = read_json(os.path.join(folder, RunDirectory.BEST_INFO_FILE))
            return BestWeights(evaluation, os.path.join(folder, RunDirectory.BEST_WEIGHTS_FILE),
                               info)
        log(f"WARNING: the best weights of evaluation {evaluation} are damaged ({problem}); "
            "falling back to the previous ones.")
    if candidates:
        raise ValueError(
            f"{RunDirectory(run_dir).best} holds no intact best weights (see the warnings "
            "above); move it away to resume without them (the next evaluations choose again)."
        )
    return None


def newest_best_record(run_dir):
    """The record (`best.json`) of a run's newest best weights, files unchecked, or None.

    A cheap look (`latest_best` reads the weights to check them).
    """
    for _, folder in _best_candidates(run_dir):
        try:
            return read_json(os.path.join(folder, RunDirectory.BEST_INFO_FILE))
        except (OSError, ValueError):
            continue
    return None


def restore_best(model, best):
    """Loads the weights of a `BestWeights` into a built model (the optimiser is left alone)."""
    try:
        with np.load(best.weights, allow_pickle=False) as data:
            values = [data[f"arr_{i}"] for i in range(len(data.files))]
        if len(values) != len(model.weights):
            raise ValueError(f"{len(values)} arrays for {len(model.weights)} weights")
        for variable, value in zip(model.weights, values):
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"{variable.path} has shape {tuple(variable.shape)}, the file "
                                 f"{value.shape}")
            variable.assign(value)
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(
            f"{best.weights} cannot be loaded into this run's model ({one_line(error)})."
        ) from None


# ------------------------------------------------------------------ history


def record_epoch(path, epoch, logs):
    """Records the logs of epoch `epoch` (0-based) at position `epoch` of the JSON history at `path`.

    Whatever the history held for this epoch and later ones is replaced: an
    epoch trained again after a crash is recorded once.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.json")
    >>> for epoch, loss in enumerate([3.0, 2.0, 1.5]):
    ...     _ = record_epoch(path, epoch, {"loss": loss})
    >>> record_epoch(path, 2, {"loss": 1.25})  # epoch 2 again, after a resume
    {'loss': [3.0, 2.0, 1.25]}
    """
    history = read_json(path) if os.path.exists(path) else {}
    for key in list(history):
        history[key] = history[key][:epoch]
    for key, value in logs.items():
        values = history.setdefault(key, [])
        values.extend([None] * (epoch - len(values)))
        values.append(float(value))
    write_json(path, history)
    return history


class EpochCheckpoint(keras.callbacks.Callback):
    """At the end of each epoch: its logs into `RUN/history.json`, then a checkpoint.

    Resume with `latest_checkpoint` + `restore_checkpoint` and
    `fit(..., initial_epoch=checkpoint.epoch)`.
    """

    def __init__(self, run_dir, keep=KEEP_CHECKPOINTS):
        super().__init__()
        self.run_dir = run_dir
        self.keep = keep

    def on_epoch_end(self, epoch, logs=None):
        record_epoch(RunDirectory(self.run_dir).history, epoch, logs or {})
        save_checkpoint(self.model, self.run_dir, epoch + 1, keep=self.keep)


def epoch_label(epoch, epochs, parts=1):
    """The real epoch of `fit`'s epoch `epoch` (0-based) of `epochs`, each a `parts`-th of one.

    Example:

    >>> epoch_label(2, 4)
    'epoch 3/4'
    >>> epoch_label(6, 20, parts=5)  # fit's 7th epoch: 2nd fifth of the 2nd epoch
    'epoch 2/4, part 2/5'
    """
    if parts == 1:
        return f"epoch {epoch + 1}/{epochs}"
    return f"epoch {epoch // parts + 1}/{epochs // parts}, part {epoch % parts + 1}/{parts}"


class EpochLine(keras.callbacks.Callback):
    """One plain line per epoch (for a log file or a pipe, where a progress bar is noise).

    `parts`: how many of `fit`'s epochs make one real epoch (the dev set is
    scored after each); the line names the real epoch and the part.
    """

    def __init__(self, log=print, parts=1):
        super().__init__()
        self.log = log
        self.parts = parts
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        values = ", ".join(f"{key} {float(value):.4g}" for key, value in sorted((logs or {}).items()))
        label = epoch_label(epoch, self.params.get("epochs"), self.parts)
        self.log(f"{label}: {self.params.get('steps')} steps in {time.time() - self._start:.0f} s; "
                 f"{values}")


class EpochProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar, headed by the real epoch and part (`epoch_label`), not `fit`'s epoch."""

    def __init__(self, parts):
        super().__init__()
        self.parts = parts

    def on_epoch_begin(self, epoch, logs=None):
        epochs, self.epochs = self.epochs, 1  # no "Epoch N/M" line of fit's epochs
        try:
            super().on_epoch_begin(epoch, logs)
        finally:
            self.epochs = epochs
        if self.verbose:
            print(epoch_label(epoch, epochs, self.parts).capitalize(), flush=True)


def fit_progress(verbose=None, log=print, parts=1):
    """`(verbose, callbacks)` for `fit`: a progress bar in a terminal, else `EpochLine`.

    An explicit `verbose` (0, 1, 2) is kept as given. `parts`: `fit`'s
    epochs per real epoch, for the epoch the lines and the bar name.
    """
    if verbose in (None, "auto"):
        if not sys.stdout.isatty():
            return 0, [EpochLine(log, parts)]
        verbose = 1
    return verbose, [EpochProgbar(parts)] if verbose and parts > 1 else []


# ----------------------------------------------------------------- model file


def save_model_file(model, path):
    """`model.save(path)`, atomically: a crash leaves the previous file or none."""
    with atomic_path(path) as temporary:
        model.save(temporary)
    return path


def model_file_problem(path):
    """Why the `.keras` file at `path` cannot be used (missing, damaged), or None."""
    if not os.path.isfile(path):
        return "missing"
    return zip_problem(path)


def check_model_file(path, remedy):
    """Refuses a damaged `.keras` file with one line naming it, its problem and `remedy`."""
    problem = model_file_problem(path)
    if problem == "missing":
        raise FileNotFoundError(f"{path} does not exist; {remedy}")
    if problem is not None:
        raise ValueError(f"{path} is damaged: {problem}; {remedy}")
    return path
