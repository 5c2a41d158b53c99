"""Results files: what a benchmark measured, beside the facts of the machine that measured it.

Each script writes `benchmarks/results/<script>.json` (or `--output`): one
entry a measured configuration, under a key that names it (a shape, a dtype,
a run), so that measuring one configuration again replaces that entry only.
Every entry a script saves with `save_results` holds the figures and a
`machine` entry: the date, the CPU count and model, the load average before
and after, the command line and its arguments, and the library versions.
The documentation renders its figures from these files
(`docs/hooks/benchmark_figures.py`).
"""

import datetime
import importlib.metadata
import json
import os
import platform
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")
PACKAGES = ("spanbert-keras", "tensorflow", "keras", "keras-hub", "numpy")


def results_path(script):
    """The results file of `script` (its name without `.py`)."""
    return os.path.join(RESULTS_DIR, f"{script}.json")


def add_output_arguments(parser, script):
    """Adds `--output` (the results file, merged into) and `--no-save` to `parser`."""
    parser.add_argument("--output", default=results_path(script),
                        help=f"the JSON the results are merged into "
                             f"(default: benchmarks/results/{script}.json)")
    parser.add_argument("--no-save", action="store_true", help="print the figures only")


def merge_results(path, entries):
    """Writes `entries` (key -> figures) into the JSON at `path`, replacing those keys only."""
    saved = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    saved.update(entries)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(saved, f, indent=2)
        f.write("\n")


def portable(value):
    """`value` with every absolute path inside the repository made relative to it.

    Results files are committed: they name the repository's files, never
    where this machine keeps them.
    """
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [portable(item) for item in value]
    if isinstance(value, str) and os.path.isabs(value):
        inside = os.path.commonpath([ROOT, os.path.abspath(value)]) == ROOT
        return os.path.relpath(value, ROOT) if inside else value
    return value


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux), else the platform's word for it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names):
    """name -> installed version (None when not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def machine_facts(args, load_before, packages=()):
    """The facts of this run: date, CPUs, load average, command line, arguments, versions."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu": cpu_model(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "command": " ".join(["python", *portable(sys.argv)]),
        "arguments": portable(vars(args)),
        "python": platform.python_version(),
        "versions": package_versions(dict.fromkeys(PACKAGES + tuple(packages))),
    }


def save_results(args, key, figures, load_before, packages=()):
    """Saves `figures` under `key` in `args.output` with this run's machine facts.

    Nothing is written with `--no-save`. `load_before` is `os.getloadavg()`
    taken before the measurement; `packages` names libraries the script
    measured besides the common ones (a peer's).
    """
    if args.no_save:
        return
    entry = dict(figures, machine=machine_facts(args, load_before, packages))
    merge_results(args.output, {key: entry})
    print(f"saved {key!r} in {portable(os.path.abspath(args.output))}")
