"""Files of a checkpoint: the names it may use, its JSON, output directories written at once.

No name read from a checkpoint (a shard listed in an index, a file named in a
config) can lead outside its directory, and an output directory appears only
complete: everything is written to a staging directory beside it and renamed
into place at the end, so a failure leaves nothing half-written.
"""

import contextlib
import json
import os
import shutil

from spanbert_keras.export.archive import move_into_place
from spanbert_keras.export.archive import stage_dir


def member_path(directory, name, source):
    """`directory/name` for a plain file name read from `source`; refuses any other.

    Example:

    >>> member_path("ckpt", "model-00001.safetensors", "index.json")
    'ckpt/model-00001.safetensors'
    >>> member_path("ckpt", "../secret", "index.json")
    Traceback (most recent call last):
    ...
    ValueError: index.json names '../secret', which is not a plain file name in ckpt; refused.
    """
    name = str(name)
    if (not name or name in (".", "..") or os.path.isabs(name) or "/" in name
            or "\\" in name or "\0" in name or os.path.basename(name) != name):
        raise ValueError(
            f"{source} names {name!r}, which is not a plain file name in {directory}; refused."
        )
    return os.path.join(directory, name)


def read_json(path, what):
    """A JSON object from `path`; errors name the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No {what} at {path}.")
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable JSON file: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object.")
    return values


@contextlib.contextmanager
def staged_output(output, overwrite=False):
    """Yields a staging directory that becomes `output` when the block succeeds.

    `output` must not exist, or be an empty directory, unless `overwrite`
    (then it is replaced once the block has succeeded). On any error the
    staging directory is removed and `output` is left as it was.

    Example:

    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     target = os.path.join(folder, "out")
    ...     try:
    ...         with staged_output(target) as stage:
    ...             _ = open(os.path.join(stage, "half.txt"), "w").write("...")
    ...             raise ValueError("bad tensor")
    ...     except ValueError:
    ...         pass
    ...     print(os.path.exists(target), os.listdir(folder))
    False []
    """
    output = os.path.abspath(os.fspath(output))
    if os.path.lexists(output) and not os.path.isdir(output):
        raise FileExistsError(f"{output} exists and is not a directory.")
    if os.path.isdir(output) and os.listdir(output) and not overwrite:
        raise FileExistsError(
            f"{output} already exists and is not empty; choose another output directory "
            "or pass overwrite=True (--overwrite) to replace it."
        )
    stage = stage_dir(output)
    os.makedirs(stage)
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    move_into_place([(stage, output)])
