"""The README, tried as a new user would: its command-line block runs as written."""

import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def readme_section(title):
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.S)


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


def test_command_line_block_runs_as_written(tmp_path):
    blocks = readme_section("The command line")
    assert len(blocks) == 1
    # A workspace that looks like the repository (same relative paths), so
    # that everything the commands write stays in a temporary directory.
    for name in ("spanbert_keras", "pipelines"):
        os.symlink(os.path.join(REPO, name), tmp_path / name)
    os.symlink(sys.prefix, tmp_path / ".venv")  # the environment running the tests
    script = "set -euo pipefail\n" + blocks[0]
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, timeout=900,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "runs" / "vocab.txt").exists()
    assert (tmp_path / "runs" / "cli" / "model.keras").exists()
    assert (tmp_path / "saved_models" / "spanbert-cli" / "1" / "saved_model.pb").exists()
    assert (tmp_path / "saved_models" / "spanbert-cli.tflite").exists()
    assert '"mlm_accuracy"' in result.stdout
