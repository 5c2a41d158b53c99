"""`import` and `convert` never write over what they read: an output that is, contains or sits
inside an input is refused, with or without --overwrite, and every input is left unchanged."""

import os

import pytest
from command_checks import checksums
from torch_reference import bert_for_pretraining
from torch_reference import write_vocabulary

from spanbert_keras.cli import main


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A Hugging Face checkpoint, a run directory imported from it and a file beside them."""
    root = tmp_path_factory.mktemp("overlap")
    checkpoint = root / "bert"
    bert_for_pretraining().save_pretrained(str(checkpoint))
    write_vocabulary(str(checkpoint))
    run = root / "runs" / "s1d"
    assert main(["import", str(checkpoint), "--output", str(run)]) == 0
    (root / "runs" / "notes.txt").write_text("unrelated")
    # A run that sits, by mistake, where an export version would go.
    assert main(["import", str(checkpoint), "--output", str(root / "saved" / "1" / "run")]) == 0
    return root


CASES = {
    "convert into its own run": ["convert", "--run", "{run}", "--to", "hf", "--output", "{run}"],
    "convert into the run's parent": ["convert", "--run", "{run}", "--to", "hf", "--output", "{runs}"],
    "convert into a folder of the run": ["convert", "--run", "{run}", "--to", "keras-hub",
                                         "--output", "{run}/hf"],
    "import over its checkpoint": ["import", "{ckpt}", "--output", "{ckpt}"],
    "import into its checkpoint": ["import", "{ckpt}", "--output", "{ckpt}/run"],
    "import over the folder of its file": ["import", "{ckpt}/model.safetensors",
                                           "--output", "{ckpt}"],
    "import over its vocabulary's folder": ["import", "{ckpt}", "--vocab", "{runs}/s1d/vocab.txt",
                                            "--output", "{runs}"],
    "export into its own run": ["export", "--run", "{run}", "--output", "{run}/m/1"],
    "export over a version holding the run": ["export", "--run", "{versioned}",
                                              "--output", "{saved}/1"],
}


@pytest.mark.parametrize("overwrite", [False, True], ids=["plain", "overwrite"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_an_output_over_an_input_is_refused_and_nothing_changes(workspace, case, overwrite, capsys):
    paths = {"run": str(workspace / "runs" / "s1d"), "runs": str(workspace / "runs"),
             "ckpt": str(workspace / "bert"), "saved": str(workspace / "saved"),
             "versioned": str(workspace / "saved" / "1" / "run")}
    argv = [arg.format(**paths) for arg in CASES[case]] + (["--overwrite"] if overwrite else [])
    before = checksums(str(workspace))
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "writing it would destroy what is read" in error[0], error
    assert checksums(str(workspace)) == before


def test_overwrite_replaces_convert_output_only(workspace, tmp_path, capsys):
    run = str(workspace / "runs" / "s1d")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("a folder convert did not write")
    assert main(["convert", "--run", run, "--to", "hf", "--output", str(mine), "--overwrite"]) == 2
    assert "is not a directory that `spanbert-keras convert` wrote" in capsys.readouterr().err
    assert os.listdir(mine) == ["notes.txt"]
    hf = tmp_path / "hf"
    assert main(["convert", "--run", run, "--to", "hf", "--output", str(hf)]) == 0
    assert main(["convert", "--run", run, "--to", "keras-hub", "--output", str(hf), "--overwrite"]) == 0
    assert "metadata.json" in os.listdir(hf) and "model.safetensors" not in os.listdir(hf)
