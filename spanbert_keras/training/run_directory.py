"""A run directory's shared files: the history every process appends to, and the lock.

Files are written atomically (`spanbert_keras.files`). A run directory is
locked while a process trains in it (`run_lock`).
"""

import contextlib
import json
import os
import socket

from spanbert_keras.files import read_json
from spanbert_keras.files import write_json

LOCK_FILE = "lock"


def append_history(path, logs):
    """Appends the per-epoch lists of `logs` to the JSON history at `path` (atomically).

    A resumed run adds its epochs after those of the earlier processes.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "history.json")
    >>> _ = append_history(path, {"loss": [3.0, 2.0]})
    >>> append_history(path, {"loss": [1.5]})
    {'loss': [3.0, 2.0, 1.5]}
    """
    history = read_json(path) if os.path.exists(path) else {}
    for key, values in logs.items():
        history.setdefault(key, []).extend(float(v) for v in values)
    write_json(path, history)
    return history


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def run_lock(run_dir, log=print):
    """Holds `RUN/lock` (owner's PID and host) while the block runs.

    A second process on the same directory gets a `FileExistsError` naming
    the owner; a lock left by a dead process of this host is taken over with
    a message.
    """
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    owner = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                held = read_json(path)
            except (ValueError, OSError):
                held = {}
            stale = held.get("host") == owner["host"] and not _alive(int(held.get("pid", 0) or 0))
            if not stale:
                raise FileExistsError(
                    f"{run_dir} is in use by process {held.get('pid')} on "
                    f"{held.get('host')} ({path}); wait for it or use another output "
                    "directory."
                ) from None
            log(f"Taking over the stale lock of process {held.get('pid')} (no longer running).")
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
            continue
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(owner, f)
        break
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
