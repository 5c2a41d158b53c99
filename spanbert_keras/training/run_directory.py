"""Files of a run directory, written so that a crash never leaves half a file.

Every file is written to a temporary file in the same directory, flushed to
disk, then renamed over its final name (`os.replace` is atomic on POSIX and
Windows): a reader sees the old content or the new one, never a mix. A run
directory is locked while a process trains in it (`run_lock`).
"""

import contextlib
import json
import os
import socket
import tempfile

import yaml

LOCK_FILE = "lock"


def atomic_write(path, write, mode="w"):
    """Writes `path` through `write(file)` into a temporary file, then renames it.

    Args:
        path: the final path; its directory is created.
        write: callable taking the open temporary file.
        mode: `"w"` (UTF-8 text) or `"wb"`.

    Returns:
        `path`.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> _ = atomic_write(path, lambda f: f.write("done"))
    >>> with open(path) as f:
    ...     f.read(), sorted(os.listdir(os.path.dirname(path)))
    ('done', ['out.txt'])
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(handle, mode, encoding=encoding) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    return path


def write_json(path, value):
    """Writes `value` as indented UTF-8 JSON, atomically; returns `path`."""
    return atomic_write(
        path, lambda f: f.write(json.dumps(value, indent=1, ensure_ascii=False) + "\n")
    )


def write_yaml(path, value):
    """Writes `value` as YAML (`yaml.safe_dump`), atomically; returns `path`."""
    return atomic_write(path, lambda f: yaml.safe_dump(value, f, sort_keys=False))


def read_json(path):
    """Reads a JSON file; a damaged one raises `ValueError` naming it."""
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: damaged JSON (line {error.lineno}): {error.msg}") from None


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
