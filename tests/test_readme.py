"""The README, tried as a new user would: its command-line block runs as written."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_section(title, language="bash"):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def test_readme_starts_with_the_two_commands():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        head = f.read().split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in head.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
        makefile = f.read()
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    with open(os.path.join(REPO, ".ci", "run"), encoding="utf-8") as f:
        assert "make test" in f.read()


def workspace(tmp_path):
    """A directory that looks like the repository (same relative paths), so
    that everything the README's code writes stays in a temporary directory."""
    for name in ("spanbert_keras", "pipelines"):
        os.symlink(os.path.join(REPO, name), tmp_path / name)
    os.symlink(sys.prefix, tmp_path / ".venv")  # the environment running the tests
    return tmp_path


def run(command, cwd):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_python_quickstart_runs_as_written(tmp_path):
    blocks = readme_section("Quickstart in Python", language="python")
    assert len(blocks) == 1
    result = run([sys.executable, "-c", blocks[0]], workspace(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "spanbert-tiny.keras").exists() and (tmp_path / "encoder.keras").exists()
    assert "sbo_loss" in result.stdout


def test_command_line_block_runs_as_written(tmp_path):
    blocks = readme_section("The command line")
    assert len(blocks) == 1
    result = run(["bash", "-c", "set -euo pipefail\n" + blocks[0]], workspace(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "runs" / "vocab.txt").exists()
    assert (tmp_path / "runs" / "cli" / "model.keras").exists()
    assert (tmp_path / "saved_models" / "spanbert-cli" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "saved_models" / "spanbert-cli.tflite").exists()
    assert '"mlm_accuracy"' in result.stdout
