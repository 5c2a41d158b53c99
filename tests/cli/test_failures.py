"""Every refusal of the command line: exit status 2 and one line naming the file and the problem.

In process (`spanbert_keras.cli.main`, `pipelines/run.py`'s `main`), so each
case costs no TensorFlow start-up; each refused run must leave nothing behind.
"""

import importlib.util
import os

import pytest
from command_checks import checksums
from command_checks import command_peak_memory
from lock_holder import held_lock

from spanbert_keras import cli
from spanbert_keras.config import load_config
from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.files import write_yaml
from spanbert_keras.training.checkpointing import record_vocabulary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(REPO, "pipelines", "configs", "tiny.yaml")
SMALL = ["--set", "data.batch_size=2", "--set", "data.sequence_length=32",
         "--set", "data.vocabulary_size=300"]


def refused(capsys, argv, *fragments, status=2, main=cli.main):
    """Runs the command; asserts its status and one stderr line holding every fragment."""
    assert main(argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory, demo_excerpt):
    root = tmp_path_factory.mktemp("inputs")
    (root / "blank.txt").write_text("\n\n   \n\t\n", encoding="utf-8")
    (root / "latin1.txt").write_bytes("A first line.\nCaf\u00e9 society.\n".encode("latin-1"))
    (root / "specials.txt").write_text("\n".join(SPECIAL_TOKENS) + "\n", encoding="utf-8")
    return {"root": root, "corpus": demo_excerpt(6), **{
        name: str(root / f"{name}.txt") for name in ("blank", "latin1", "specials")}}


@pytest.fixture
def run_with_vocabulary(tmp_path):
    """A run directory holding its config and a recorded vocabulary (no weights needed)."""
    run = tmp_path / "run"
    run.mkdir()
    write_yaml(run / "config.yaml", load_config(TINY).to_dict())
    record_vocabulary(str(run), Vocabulary(list(SPECIAL_TOKENS) + ["cat", "dog"]))
    return run


def test_vocab_refuses_blank_and_non_utf8_corpora(files, tmp_path, capsys):
    output = str(tmp_path / "vocab.txt")
    refused(capsys, ["vocab", "--corpus", files["blank"], "--output", output],
            files["blank"], "holds no text")
    refused(capsys, ["vocab", "--corpus", files["latin1"], "--output", output],
            files["latin1"], "line 2 is not UTF-8")
    assert not os.path.exists(output)


def test_pretrain_refuses_input_that_trains_on_nothing_before_any_work(files, tmp_path, capsys):
    output = tmp_path / "run"
    base = ["pretrain", "--config", TINY, "--output", str(output), *SMALL]
    refused(capsys, base + ["--corpus", files["blank"]], files["blank"], "holds no text")
    refused(capsys, base + ["--corpus", files["latin1"]], files["latin1"], "not UTF-8")
    refused(capsys, base + ["--corpus", files["corpus"], "--set",
                            f"data.vocabulary={files['specials']}"],
            files["specials"], "only special pieces")
    refused(capsys, base + ["--corpus", files["corpus"], "--set", "training.steps_per_epoch=0"],
            "training.steps_per_epoch must be positive")
    refused(capsys, base + ["--corpus", files["corpus"], "--steps", "0"],
            "steps must be positive")
    refused(capsys, base + ["--corpus", files["corpus"], "--set", "data.validation_fraction=0.99"],
            files["corpus"], "gives no batch")
    assert not output.exists()  # nothing was written


def test_a_locked_run_directory_is_refused_naming_its_owner(files, tmp_path, capsys):
    run = str(tmp_path / "run")
    with held_lock(run) as pid:
        refused(capsys, ["pretrain", "--config", TINY, "--corpus", files["corpus"],
                         "--output", run, *SMALL], f"in use by process {pid} on ", run)
    assert os.listdir(run) == ["lock"]  # the owner's, and nothing else


def test_another_vocabulary_of_the_same_size_is_refused(run_with_vocabulary, files, capsys):
    run = str(run_with_vocabulary)
    Vocabulary(list(SPECIAL_TOKENS) + ["dog", "cow"]).save(os.path.join(run, "vocab.txt"))
    message = "is another vocabulary than the one this run was trained with"
    refused(capsys, ["evaluate", "--run", run], message)
    refused(capsys, ["export", "--run", run, "--output",
                     str(run_with_vocabulary.parent / "saved_models" / "m" / "1")], message)
    refused(capsys, ["pretrain", "--config", TINY, "--corpus", files["corpus"], "--output", run],
            message)


def test_a_damaged_model_file_is_named_with_the_remedy(run_with_vocabulary, capsys):
    (run_with_vocabulary / "model.keras").write_bytes(b"PK\x03\x04 the rest was lost")
    refused(capsys, ["evaluate", "--run", str(run_with_vocabulary)],
            "model.keras is damaged", "run the same `spanbert-keras pretrain` command again")


def test_export_paths_are_checked_before_any_work(run_with_vocabulary, tmp_path, capsys):
    run = str(run_with_vocabulary)
    (tmp_path / "notes").write_text("a file")
    refused(capsys, ["export", "--run", run, "--output", str(tmp_path / "notes" / "m" / "1")],
            "notes is a file, not a directory")
    refused(capsys, ["export", "--run", run, "--output", str(tmp_path / "m" / "..")],
            "must end in NAME/VERSION")
    (tmp_path / "saved_models").mkdir()
    (tmp_path / "saved_models" / "m.tflite").write_bytes(b"an older export")
    refused(capsys, ["export", "--run", run, "--output",
                     str(tmp_path / "saved_models" / "m" / "1"), "--tflite"],
            "m.tflite already exists", "--overwrite")
    assert os.listdir(tmp_path / "saved_models") == ["m.tflite"]


def test_finetune_checks_its_export_before_any_work(tmp_path, capsys):
    (tmp_path / "saved_models" / "qa" / "1").mkdir(parents=True)
    refused(capsys, ["finetune", "squad", "--train", "train.json", "--dev", "dev.json",
                     "--init", "runs/none", "--output", str(tmp_path / "run"),
                     "--export", str(tmp_path / "saved_models" / "qa" / "1")],
            "qa/1 already exists", "--overwrite")
    assert not (tmp_path / "run").exists()


def pipeline_main():
    spec = importlib.util.spec_from_file_location(
        "pipeline_run", os.path.join(REPO, "pipelines", "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_the_pipeline_checks_its_export_before_any_work(files, tmp_path, capsys):
    main = pipeline_main()
    base = ["--config", TINY, "--corpus", files["corpus"], "--output", str(tmp_path / "run"),
            "--saved-models", str(tmp_path / "saved_models")]
    refused(capsys, base + ["--export-name", "../../x"], "'../../x'", "not a plain file name",
            main=main)
    (tmp_path / "saved_models" / "taken" / "1").mkdir(parents=True)  # another run's export
    refused(capsys, base + ["--export-name", "taken"], "taken/1 already exists", "--overwrite",
            main=main)
    assert not (tmp_path / "run").exists()


def test_tracebacks_only_with_verbose(files, tmp_path, capsys):
    argv = ["vocab", "--corpus", files["blank"], "--output", str(tmp_path / "v.txt")]
    assert cli.main(argv + ["--verbose"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].endswith("(only blank lines or whitespace).")
    refused(capsys, argv, "holds no text")


def test_an_unexpected_failure_is_one_line_with_status_1(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something\nunforeseen")

    monkeypatch.setitem(cli.COMMANDS, "vocab", broken)
    refused(capsys, ["vocab", "--corpus", "x", "--output", "y"],
            "RuntimeError: something unforeseen", "--verbose", status=1)


BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""
@pytest.mark.parametrize("command,section", [("pretrain", "data:\n  corpus: *i\n"),
                                             ("finetune", "options:\n  doc_stride: *i\n")])
def test_a_yaml_alias_bomb_is_refused_before_anything_loads(command, section, tmp_path):
    config = tmp_path / "bomb.yaml"
    config.write_text(BOMB + section, encoding="utf-8")
    argv = {"pretrain": ["pretrain", "--config", str(config), "--output", str(tmp_path / "run")],
            "finetune": ["finetune", "squad", "--config", str(config), "--train", "t.json",
                         "--dev", "d.json", "--init", "austen-tiny",
                         "--output", str(tmp_path / "run")]}[command]
    status, peak_kb, error = command_peak_memory(argv)
    assert status == 2
    assert error == (f"spanbert-keras {command}: error: {config}: line 2: aliases "
                     "(*name) are not accepted in a config; write the value out.")
    assert peak_kb < 500 * 1024, f"peak memory {peak_kb / 1024:.0f} MB"
    assert not (tmp_path / "run").exists()


def test_config_numbers_in_any_notation_and_duplicate_keys(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("training:\n  learning_rate: 1e-3\n  steps: 1_000\n", encoding="utf-8")
    config = load_config(str(path))
    assert config.training.learning_rate == 1e-3 and config.training.steps == 1000
    path.write_text("training:\n  steps: 10\n  steps: 20\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"config.yaml: line 3: the key 'steps' is given twice"):
        load_config(str(path))


def test_the_pipeline_never_writes_over_its_inputs(files, tmp_path, capsys):
    main = pipeline_main()
    folder = os.path.dirname(files["corpus"])
    before = checksums(folder)
    for output in (folder, files["corpus"], os.path.dirname(folder)):
        refused(capsys, ["--config", TINY, "--corpus", files["corpus"], "--output", output,
                         "--saved-models", str(tmp_path / "saved_models")],
                "writing it would destroy what is read", main=main)
    assert checksums(folder) == before
