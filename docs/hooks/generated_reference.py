"""An MkDocs hook: reference sections generated from the code they describe.

A page line `<!-- generated: NAME -->` is replaced, when the site is built,
by what the code says now, so a page cannot drift from it:

- `cli-reference`: every `spanbert-keras` command's `--help`, in the
  parser's order (run in a subprocess with the package's deferred imports:
  no TensorFlow);
- `run-directory-layout`: the layout `spanbert_keras.run_layout.RunDirectory`
  describes in its docstring (read from the source, not imported).

An unknown NAME fails the build.
"""

import ast
import json
import os
import re
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.M)
LAYOUT_START = "Which stage writes what:"

_HELP_SCRIPT = """
import argparse, json
from spanbert_keras.cli import _parser
parser = _parser()
commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
print(json.dumps([[name, sub.format_help()] for name, sub in commands.choices.items()]))
"""


def command_helps():
    """[(command, its --help text)] of the `spanbert-keras` parser, in its order."""
    result = subprocess.run(
        [sys.executable, "-c", _HELP_SCRIPT], cwd=REPO, capture_output=True, text=True,
        timeout=300, env={**os.environ, "SPANBERT_KERAS_DEFER_IMPORTS": "1", "COLUMNS": "100"},
    )
    if result.returncode != 0:
        raise RuntimeError(f"the command-line reference: the parser failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def cli_reference():
    """Markdown: a section a command, its `--help` verbatim."""
    sections = []
    for name, text in command_helps():
        sections.append(f"## `spanbert-keras {name}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(sections)


def run_directory_layout():
    """Markdown: the layout block of `RunDirectory`'s docstring, as text."""
    path = os.path.join(REPO, "spanbert_keras", "run_layout.py")
    with open(path, encoding="utf-8") as f:
        module = ast.parse(f.read())
    docstring = next(ast.get_docstring(node) for node in module.body
                     if isinstance(node, ast.ClassDef) and node.name == "RunDirectory")
    if LAYOUT_START not in docstring:
        raise RuntimeError(f"RunDirectory's docstring no longer has {LAYOUT_START!r}")
    block = docstring.split(LAYOUT_START, 1)[1].lstrip("\n")
    lines = []
    for line in block.split("\n"):
        if line and not line.startswith(" "):  # the block ends where the prose resumes
            break
        lines.append(line)
    return "```text\n" + textwrap.dedent("\n".join(lines)).strip("\n") + "\n```\n"


GENERATORS = {"cli-reference": cli_reference, "run-directory-layout": run_directory_layout}


def on_page_markdown(markdown, page, **kwargs):
    def replace(match):
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_path}: no generated section {name!r} "
                             f"(known: {sorted(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)
