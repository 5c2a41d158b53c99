"""Every `spanbert-keras` sub-command, run as a user would: a subprocess."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(REPO, "pipelines", "configs", "tiny.yaml")
SMALL_RUN = ["--set", "data.batch_size=4", "--set", "data.sequence_length=64",
             "--set", "training.steps_per_epoch=3", "--set", "training.eval_steps=2",
             "--set", "data.vocabulary_size=2000", "--set", "data.validation_fraction=0.2"]


def cli(*args, check=True, timeout=600):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's
    result = subprocess.run(
        [sys.executable, "-m", "spanbert_keras_cli", *args],  # the installed command
        capture_output=True, text=True, timeout=timeout, env=env,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def corpus(demo_excerpt):
    return demo_excerpt(25)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, corpus):
    """A finished two-epoch run, and what its command printed (output into a pipe)."""
    run = str(tmp_path_factory.mktemp("runs") / "tiny")
    result = cli("pretrain", "--config", TINY, "--corpus", corpus, "--steps", "6", "--output", run,
                 *SMALL_RUN)
    return run, result


@pytest.fixture(scope="module")
def run_dir(first_run):
    return first_run[0]


def test_every_command_has_help_with_examples_without_loading_tensorflow():
    # One process: the command is started as installed, asked for each
    # command's help, and must not have imported TensorFlow meanwhile.
    script = """
import contextlib, io, json, sys
import spanbert_keras_cli
from spanbert_keras.cli import _parser
commands = sorted(_parser()._subparsers._group_actions[0].choices)
pages = {}
for command in commands:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        spanbert_keras_cli.main([command, "--help"])
    pages[command] = out.getvalue()
print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "pages": pages}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "SPANBERT_KERAS_DEFER_IMPORTS": "1"})
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert not report["tensorflow"]
    assert {"vocab", "preview", "pretrain", "evaluate", "export", "import", "convert",
            "finetune"} <= set(report["pages"])
    for command, page in report["pages"].items():
        assert "examples:" in page and f"spanbert-keras {command}" in page, command


def test_every_option_has_help():
    from spanbert_keras.cli import _parser

    commands = _parser()._subparsers._group_actions[0].choices
    missing = [(name, action.dest) for name, command in commands.items()
               for action in command._actions if not action.help]
    assert missing == []


def test_pretrain_output_is_quiet_plain_and_says_what_to_run_next(first_run):
    run, result = first_run
    assert result.stderr == ""  # no TensorFlow log, no warning of our own calls
    assert "\r" not in result.stdout and "\x1b[" not in result.stdout  # no progress bar
    epochs = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("epoch ")]
    assert epochs == ["epoch 1/2", "epoch 2/2"]
    assert ("after 5 warm-up steps (training.warmup_steps=200 is longer than the run: shortened)"
            in result.stdout)
    assert result.stdout.strip().splitlines()[-1].startswith(
        f"Next: spanbert-keras evaluate --run {run}; spanbert-keras export --run {run}")


def test_pretrain_writes_a_resumable_run(run_dir, corpus):
    for name in ("config.yaml", "vocab.txt", "model.keras", "encoder.keras", "history.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert os.listdir(os.path.join(run_dir, "logs"))
    with open(os.path.join(run_dir, "history.json")) as f:
        history = json.load(f)
    assert len(history["loss"]) == 2 and "val_sbo_loss" in history
    # More steps: the run continues at epoch 2 instead of starting again.
    result = cli("pretrain", "--config", TINY, "--corpus", corpus, "--steps", "9",
                 "--output", run_dir, *SMALL_RUN)
    assert "starting at epoch 2" in result.stdout
    with open(os.path.join(run_dir, "history.json")) as f:
        assert len(json.load(f)["loss"]) == 3
    # Another architecture in the same directory is refused.
    refused = cli("pretrain", "--config", TINY, "--corpus", corpus, "--output", run_dir,
                  *SMALL_RUN, "--set", "model.num_layers=3", check=False)
    assert refused.returncode == 2 and "model.num_layers" in refused.stderr


def test_evaluate_prints_json_last(run_dir, corpus):
    # The form, on given files; the README test runs it on the run's own split.
    result = cli("evaluate", "--run", run_dir, "--corpus", corpus, "--steps", "2")
    values = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("mlm_loss", "sbo_loss", "mlm_accuracy", "sbo_accuracy"):
        assert 0 <= values[key] < 20


def test_export(run_dir, tmp_path):
    version = tmp_path / "saved_models" / "spanbert-tiny" / "1"
    result = cli("export", "--run", run_dir, "--output", str(version), "--tflite")
    assert (version / "saved_model.pb").exists() and (version / "assets" / "vocab.txt").exists()
    assert (tmp_path / "saved_models" / "spanbert-tiny-ids" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "saved_models" / "spanbert-tiny.tflite").exists()
    assert "SavedModel" in result.stdout
    assert "packed to 64 pieces (the run's training length)" in result.stdout
    again = cli("export", "--run", run_dir, "--output", str(version), check=False)
    assert again.returncode == 2 and "overwrite" in again.stderr

    longer = tmp_path / "saved_models" / "spanbert-long" / "1"  # beyond the training length
    result = cli("export", "--run", run_dir, "--output", str(longer),
                 "--sequence-length", "200")
    assert "packed to 200 pieces;" in result.stdout
    with open(longer / "export_info.json", encoding="utf-8") as f:
        assert json.load(f)["sequence_length"] == 200
    import tensorflow as tf

    served = tf.saved_model.load(str(longer)).signatures["serving_default"]
    text = " ".join(["Emma Woodhouse, handsome, clever, and rich,"] * 12)  # > 64 pieces
    out = served(text=tf.constant([text]))
    assert out["truncated"].numpy().tolist() == [False]
    assert int(tf.reduce_sum(tf.cast(out["padding_mask"], tf.int32))) > 64


def test_preview(run_dir, tmp_path):
    text = "Emma Woodhouse, handsome, clever, and rich, with a comfortable home and happy disposition."
    result = cli("preview", "--run", run_dir, "--text", text, "--seed", "3", "--no-color")
    assert "«" in result.stdout and "MLM:" in result.stdout and "SBO:" in result.stdout


def test_bad_input_exits_2_naming_the_problem(tmp_path, corpus):
    missing = cli("pretrain", "--config", TINY, "--corpus", str(tmp_path / "nope.txt"),
                  "--output", str(tmp_path / "r"), check=False)
    assert missing.returncode == 2 and "nope.txt" in missing.stderr
    bad_key = cli("pretrain", "--config", TINY, "--corpus", str(tmp_path / "nope.txt"),
                  "--output", str(tmp_path / "r"), "--set", "training.stepz=3", check=False)
    assert bad_key.returncode == 2 and "stepz" in bad_key.stderr
    too_long = cli("pretrain", "--config", TINY, "--corpus", corpus, "--output",
                   str(tmp_path / "r2"), "--set", "data.sequence_length=1024", check=False)
    assert too_long.returncode == 2 and "position table" in too_long.stderr


def test_version_prints_the_package_version_without_loading_tensorflow():
    from spanbert_keras import __version__

    result = cli("--version")
    assert result.stdout == f"spanbert-keras {__version__}\n" and result.stderr == ""
    script = """
import contextlib, io, json, sys
import spanbert_keras_cli
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        spanbert_keras_cli.main(["--version"])
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "out": out.getvalue(), "tensorflow": "tensorflow" in sys.modules}))
"""
    started = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=60)
    report = json.loads(started.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "out": f"spanbert-keras {__version__}\n", "tensorflow": False}


@pytest.mark.parametrize("setting,key,allowed", [
    ("dtype_policy=float64", "dtype_policy", "'float32', 'mixed_float16', 'mixed_bfloat16'"),
    ("jit_compile=maybe", "jit_compile", "true, false, 'auto'"),
])
def test_bad_precision_and_xla_settings_are_refused_before_a_run_starts(
        setting, key, allowed, corpus, tmp_path, capsys):
    from spanbert_keras.cli import main

    received = setting.split("=")[1]
    run = tmp_path / "run"
    commands = {
        "pretrain": ["pretrain", "--config", TINY, "--corpus", corpus, "--output", str(run),
                     *SMALL_RUN, "--set", f"training.{setting}"],
        "finetune": ["finetune", "squad", "--train", str(tmp_path / "train.json"),
                     "--dev", str(tmp_path / "dev.json"), "--init", str(tmp_path / "encoder"),
                     "--output", str(run), "--set", setting],
    }
    for command, argv in commands.items():
        assert main(argv) == 2, command
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1, (command, lines)
        assert lines[0].startswith(f"spanbert-keras {command}: error: ")
        assert f"{key} must be one of {allowed}" in lines[0] and f"Received: '{received}'" in lines[0]
        if command == "pretrain":
            assert "[training] " + key in lines[0]
        assert not run.exists(), command  # no run directory, no vocabulary learned


def test_a_run_is_read_with_run_and_the_old_spellings_still_work_with_a_note(tmp_path, capsys):
    from spanbert_keras.cli import main

    not_a_run = str(tmp_path)
    cases = {  # each names the same missing run, whichever spelling found it
        "--run": ["evaluate", "--run", not_a_run],
        "--checkpoint": ["evaluate", "--checkpoint", not_a_run],
        "bare DIR": ["convert", not_a_run, "--to", "hf", "--output", str(tmp_path / "hf")],
    }
    for spelling, argv in cases.items():
        assert main(argv) == 2, spelling
        err = capsys.readouterr().err
        assert not_a_run in err.splitlines()[-1], spelling
        assert ("the old spelling goes in the next release" in err) == (spelling != "--run")
    with pytest.raises(SystemExit) as exit_info:  # the run given twice
        main(["predict", not_a_run, "--run", not_a_run, "--input", "-"])
    assert exit_info.value.code == 2 and "give the run directory once" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # no run at all
        main(["convert", "--to", "hf", "--output", str(tmp_path / "hf")])
    assert exit_info.value.code == 2 and "required: --run" in capsys.readouterr().err
