"""The package's folders import one way: no two import each other, and fine-tuning sits on
top of training and checkpoints (the source is scanned, lazy imports included)."""

import collections
import os
import re

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "spanbert_keras")
IMPORT = re.compile(r"^\s*(?:from|import) spanbert_keras\.([a-z_]+)"
                    r"|import_module\(\s*[\"']spanbert_keras\.([a-z_]+)"
                    r"|^\s*from spanbert_keras import ([a-z_]+)", re.M)


def imports_between_folders():
    """{folder or top-level module: the others it imports}."""
    edges = collections.defaultdict(set)
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, PACKAGE).split(os.sep)
            owner = parts[0] if len(parts) > 1 else parts[0][:-3]
            with open(path, encoding="utf-8") as f:
                for found in IMPORT.findall(f.read()):
                    target = found[0] or found[1] or found[2]
                    if target == "__version__":  # a constant of the package itself
                        continue
                    if target != owner:
                        edges[owner].add(target)
    return edges


def test_no_two_folders_import_each_other():
    edges = imports_between_folders()
    assert edges["finetuning"] >= {"training", "checkpoints"}  # the scan sees imports
    both_ways = sorted((a, b) for a, targets in dict(edges).items() for b in targets
                       if a < b and a in edges.get(b, ()))
    assert both_ways == []


def test_lower_layers_never_import_fine_tuning_or_the_command_line():
    edges = imports_between_folders()
    for lower in ("data", "layers", "models", "training", "checkpoints", "export", "tasks"):
        assert not edges[lower] & {"finetuning", "cli"}, (lower, sorted(edges[lower]))


def test_the_run_layout_sits_at_the_bottom():
    """`run_layout` (a run directory's file names) is imported by every layer that reads or writes
    runs, and itself imports nothing of the package but `files`, which imports nothing of it."""
    edges = imports_between_folders()
    assert edges["run_layout"] <= {"files"}, sorted(edges["run_layout"])
    assert not edges["files"], sorted(edges["files"])
    for user in ("training", "checkpoints", "finetuning"):
        assert "run_layout" in edges[user], user


# The layers the docs state (docs/development.md), bottom up: a folder or top-level module
# imports only from layers below its own.
LAYERS = (
    ("files", "console", "compat", "preset_loading"),
    ("config", "run_layout", "checkpoint_sizes"),
    ("resources", "metrics"),
    ("data",),
    ("losses", "layers"),
    ("models",),
    ("export",),
    ("tasks", "training", "preview", "fill_spans"),
    ("checkpoints",),
    ("finetuning",),
    ("cli",),
    ("__init__",),
)


def test_every_import_goes_down_the_layers_the_docs_state():
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}
    edges = imports_between_folders()
    package = {name[:-3] if name.endswith(".py") else name for name in os.listdir(PACKAGE)
               if (name.endswith(".py") or os.path.isfile(os.path.join(PACKAGE, name,
                                                                      "__init__.py")))}
    assert package == set(rank)  # every folder and module has its layer
    upward = sorted(f"{low} imports {high}" for low, targets in edges.items()
                    for high in targets if rank[high] >= rank[low])
    assert upward == []
    with open(os.path.join(os.path.dirname(PACKAGE), "docs", "development.md"),
              encoding="utf-8") as f:
        stated = f.read()
    for names in LAYERS:
        assert " · ".join(f"`{name}`" for name in names) in stated, names
