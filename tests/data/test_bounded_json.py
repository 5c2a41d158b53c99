"""JSON nested past what Python can read gives one clear error naming the file (or, in an MRQA
file, a bad record), never a RecursionError; a checkpoint's shard link leads nowhere outside."""

import json
import os

import pytest

from spanbert_keras.data.squad import read_mrqa
from spanbert_keras.data.squad import read_squad
from spanbert_keras.files import member_path
from spanbert_keras.tasks.tacred import TASK as TACRED

DEEP = "[" * 200_000 + "]" * 200_000


def test_deep_json_files_are_refused_naming_the_file(tmp_path):
    for name, read in (("train.json", TACRED.read), ("squad.json", read_squad)):
        path = tmp_path / name
        path.write_text(DEEP, encoding="utf-8")
        with pytest.raises(ValueError, match=rf"{name}: JSON nested too deeply to read"):
            read(str(path))
    lines = tmp_path / "tacred.jsonl"
    lines.write_text('{"id": "a"}\n' + DEEP + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="tacred.jsonl: JSON nested too deeply"):
        TACRED.read(str(lines))


def test_a_deep_mrqa_line_is_a_bad_record(tmp_path):
    path = tmp_path / "dev.jsonl"
    path.write_text(json.dumps({"header": {}}) + "\n" + DEEP + "\n", encoding="utf-8")
    examples, problems = read_mrqa(str(path))
    assert examples == [] and problems == [f"{path}: line 2: JSON nested too deeply to read"]


def test_a_shard_linked_outside_its_checkpoint_is_refused(tmp_path):
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (tmp_path / "secret.safetensors").write_bytes(b"x")
    os.symlink(tmp_path / "secret.safetensors", checkpoint / "model-1.safetensors")
    with pytest.raises(ValueError, match="a link in .* to a file outside it; refused"):
        member_path(str(checkpoint), "model-1.safetensors", "index.json")
    (checkpoint / "model-2.safetensors").write_bytes(b"x")
    os.symlink(checkpoint / "model-2.safetensors", checkpoint / "model-3.safetensors")
    assert member_path(str(checkpoint), "model-3.safetensors", "index.json").endswith("model-3.safetensors")
