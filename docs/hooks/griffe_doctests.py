"""A griffe extension for the API pages: doctests shown as code.

The package's docstrings write their examples as bare `>>>` doctests after an
`Example:` line. Markdown would read them as text (and `x[0]\\n[1, 2]` as a
reference link); this wraps each run of doctest lines, up to the next blank
line, in a ```pycon fence before the docstring is parsed. The source is not
changed.
"""

import griffe


def fence_doctests(text):
    """`text` with every run of doctest lines inside a ```pycon fence."""
    lines = text.split("\n")
    out = []
    in_fence = False
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>"):
            out.append(line)
            index += 1
            continue
        indent = line[: len(line) - len(stripped)]
        out.append(f"{indent}```pycon")
        while index < len(lines) and lines[index].strip():
            out.append(lines[index])
            index += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class DoctestFences(griffe.Extension):
    """Fences the doctests of every docstring griffe reads."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
