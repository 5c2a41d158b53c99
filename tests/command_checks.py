"""What a command did besides its output: its peak memory, and the files it left unchanged."""

import hashlib
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Runs the command line in a child and prints its exit status and the child's peak memory
# (the parent's own imports are not counted: RUSAGE_CHILDREN of a fresh process).
_MEASURE = """\
import resource, subprocess, sys
result = subprocess.run([sys.executable, "-c", "import sys; from spanbert_keras_cli import main; "
                         "sys.exit(main(sys.argv[1:]))", *sys.argv[1:]],
                        capture_output=True, text=True)
sys.stderr.write(result.stderr)
print(result.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def command_peak_memory(argv, timeout=600):
    """`(exit status, peak resident memory in kB, stderr)` of `spanbert-keras ARGV...`."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *argv], capture_output=True,
                            text=True, timeout=timeout, cwd=REPO)
    status, peak = map(int, result.stdout.split())
    return status, peak, result.stderr.strip()


def checksums(*roots):
    """{path: sha256} of every file under `roots` (files or directories)."""
    found = {}
    for root in roots:
        paths = [root] if os.path.isfile(root) else [
            os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names]
        for path in paths:
            with open(path, "rb") as f:
                found[path] = hashlib.sha256(f.read()).hexdigest()
    return found
