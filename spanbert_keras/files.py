"""Files written so that a crash never leaves half a file, and read with errors that name them.

Every file is written to a temporary file in the same directory, flushed to
disk, then renamed over its final name (`os.replace` is atomic on POSIX and
Windows): a reader sees the old content or the new one, never a mix.
"""

import contextlib
import json
import os
import tempfile

import yaml


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
    """Reads a UTF-8 JSON file; bad JSON or bad UTF-8 raises `ValueError` naming the file and line."""
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: line {error.lineno}: not valid JSON: {error.msg}") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
