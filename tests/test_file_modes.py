"""What the commands write gets the umask's modes, not a private 0600 / 0700.

Files are written to temporary files and staging directories that are
renamed into place; a model server running as another user must still be
able to read an export (its vocabulary asset above all), so under umask 022
every file is 0644 and every folder 0755.
"""

import os
import stat

import pytest

from spanbert_keras import cli
from spanbert_keras.files import apply_umask
from spanbert_keras.files import atomic_path
from spanbert_keras.files import atomic_write
from spanbert_keras.files import current_umask
from spanbert_keras.files import staged_output

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "pipelines", "configs", "tiny.yaml")
SMALL_RUN = ["--set", "data.batch_size=4", "--set", "data.sequence_length=32",
             "--set", "training.steps_per_epoch=2", "--set", "training.eval_steps=1",
             "--set", "data.vocabulary_size=600", "--set", "data.validation_fraction=0.2",
             "--set", "training.jit_compile=false"]


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory, demo_excerpt):
    """A pre-training run, its export (with TFLite) and its `convert --to hf`, under umask 022."""
    corpus = demo_excerpt(8)
    root = tmp_path_factory.mktemp("modes")
    run, saved_models, hf = root / "run", root / "saved_models", root / "hf"
    previous = os.umask(0o022)
    try:
        assert cli.main(["pretrain", "--config", TINY, "--corpus", corpus, "--steps", "2",
                         "--output", str(run), *SMALL_RUN]) == 0
        assert cli.main(["export", "--run", str(run), "--output",
                         str(saved_models / "tiny" / "1"), "--tflite"]) == 0
        assert cli.main(["convert", "--run", str(run), "--to", "hf", "--output", str(hf)]) == 0
    finally:
        os.umask(previous)
    return {"run": run, "saved_models": saved_models, "hf": hf}


def modes_under(root):
    """`{relative path: mode}` of `root` and everything under it (links not followed)."""
    modes = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for folder, folders, names in os.walk(root):
        for name in folders + names:
            path = os.path.join(folder, name)
            modes[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return modes


def assert_umask_022_modes(root):
    modes = modes_under(root)
    wrong = {name: oct(mode) for name, mode in modes.items()
             if mode != (0o755 if os.path.isdir(os.path.join(root, name)) else 0o644)}
    assert wrong == {}, f"not 0644 / 0755 under {root}: {wrong}"
    return modes


def test_a_pretraining_run_directory_is_readable_by_others(outputs):
    modes = assert_umask_022_modes(outputs["run"])
    for name in ("config.yaml", "vocab.txt", "model.keras", "history.json"):
        assert modes[name] == 0o644, name
    assert any(name.startswith("logs" + os.sep) for name in modes)  # the walk saw the logs


def test_an_export_is_readable_by_others(outputs):
    modes = assert_umask_022_modes(outputs["saved_models"])
    assert modes[os.path.join("tiny", "1", "assets", "vocab.txt")] == 0o644
    assert modes[os.path.join("tiny", "1")] == 0o755
    assert modes["tiny.tflite"] == 0o644
    assert modes[os.path.join("tiny-ids", "1", "saved_model.pb")] == 0o644


def test_a_converted_model_is_readable_by_others(outputs):
    modes = assert_umask_022_modes(outputs["hf"])
    assert modes["model.safetensors"] == 0o644 and modes["vocab.txt"] == 0o644


def test_the_writers_follow_any_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        assert current_umask() == 0o027
        atomic_write(tmp_path / "a.txt", lambda f: f.write("a"))
        with atomic_path(tmp_path / "b.bin") as temporary:
            with open(temporary, "wb") as f:
                f.write(b"b")
        with staged_output(tmp_path / "out") as stage:
            os.mkdir(os.path.join(stage, "private"), 0o700)  # as tempfile.mkdtemp makes it
            with open(os.path.join(stage, "private", "c.txt"), "w") as f:
                f.write("c")
            os.chmod(os.path.join(stage, "private", "c.txt"), 0o600)
            with open(os.path.join(stage, "run.sh"), "w") as f:
                f.write("#!/bin/sh\n")
            os.chmod(os.path.join(stage, "run.sh"), 0o700)
    finally:
        os.umask(previous)
    assert modes_under(tmp_path) == {
        ".": stat.S_IMODE(os.lstat(tmp_path).st_mode), "a.txt": 0o640, "b.bin": 0o640,
        "out": 0o750, os.path.join("out", "private"): 0o750,
        os.path.join("out", "private", "c.txt"): 0o640, os.path.join("out", "run.sh"): 0o750,
    }


def test_apply_umask_leaves_links_alone(tmp_path, umask_022):
    target = tmp_path / "target.txt"
    target.write_text("x")
    os.chmod(target, 0o600)
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink(target, folder / "link")
    apply_umask(folder)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600  # outside: not changed through the link
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755
