"""A checkpoint's JSON files, read with errors that name them.

The names a checkpoint may use (`spanbert_keras.files.member_path`: no name
read from a checkpoint leads outside its directory) and its outputs, written
at once (`spanbert_keras.files.staged_output`), are the package's shared
file rules.
"""

import os

from spanbert_keras.files import parse_json


def read_json(path, what):
    """A JSON object from `path`; errors name the file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No {what} at {path}.")
    try:
        with open(path, encoding="utf-8") as f:
            values = parse_json(f.read(), path)
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a readable JSON file: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object.")
    return values
