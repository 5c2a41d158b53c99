"""An MkDocs hook: the pages' benchmark figures, read from `benchmarks/results/*.json`.

A page writes a measured figure as a placeholder, never as a typed number:

    {{ bench("masking", "span_unigram_64x512/median_blocks_per_s/span_masker", ",.0f") }}

- the results file: `benchmarks/results/masking.json` (what the benchmark
  `benchmarks/masking.py` writes, see `benchmarks/results_file.py`);
- the figure's keys in it, separated by `/`; an item of a list by its index
  (`points/-1/minutes`: the last point's); `*` takes every key or item at
  that level and shows the range of the figures (`0.050–0.060`);
- how to show it, a Python format spec: `,.0f` (thousands separators), `.3f`
  (fixed decimals), `.0%` (a share as a percentage); a ratio is written
  `{{ bench(..., ".2f") }}x` (`1.40x`); a yes / no figure takes its two words
  (`"met/missed"`), text takes `""`;
- `scale=1000` multiplies first (seconds shown as milliseconds).

A row of the time-to-accuracy table is one placeholder after the recipe's
own cell, every measured cell of the row from `time_to_accuracy.json`:

    | `demo-4800` (the demo with 4,800 steps) | {{ time_to_accuracy_row("demo-4800") }} |

A placeholder that names a missing file or key, a figure that is not a
number, or an unknown call fails the build with a message naming the page,
the file and the key. Placeholders inside code (fenced blocks, `code`) are
shown as written.
"""

import ast
import json
import math
import os
import re

import yaml

RESULTS_FOLDER = os.path.join("benchmarks", "results")
# The configuration every time-to-accuracy recipe overrides (benchmarks/time_to_accuracy.py).
RECIPE_BASE_CONFIG = os.path.join("pipelines", "configs", "demo.yaml")
RANGE_DASH = "\u2013"

PLACEHOLDER = re.compile(r"\{\{(?P<call>.*?)\}\}")
CODE_SPAN = re.compile(r"(`+).+?\1")
FENCE = re.compile(r"^\s*(```+|~~~+)")

_root = None  # the folder of mkdocs.yml, set by on_config


class FigureError(ValueError):
    """A placeholder that cannot be rendered from the results files."""


class Results:
    """The results files of one repository, each read once."""

    def __init__(self, root):
        self.root = root
        self._files = {}

    def file(self, name):
        """The parsed `benchmarks/results/<name>.json`."""
        if name not in self._files:
            path = os.path.join(self.root, RESULTS_FOLDER, f"{name}.json")
            if not os.path.exists(path):
                raise FigureError(f"{display_path(name)} does not exist: "
                                  f"run benchmarks/{name}.py to measure it")
            with open(path, encoding="utf-8") as f:
                self._files[name] = json.load(f)
        return self._files[name]

    def values(self, name, keys):
        """Every figure at `keys` (a list; `*` for every key or item) in the file `name`."""
        found = [((), self.file(name))]
        for depth, key in enumerate(keys):
            found = [(path + (step,), child)
                     for path, value in found for step, child in children(value, key)]
            if not found:
                where = "/".join(str(k) for k in keys[:depth]) or "the top level"
                raise FigureError(f"{display_path(name)} has no {'/'.join(map(str, keys))!r}: "
                                  f"nothing at {key!r} under {where} "
                                  f"(there: {describe_level(self.file(name), keys[:depth])})")
        return [value for _, value in found]

    def value(self, name, keys):
        """The one figure at `keys` in the file `name`."""
        values = self.values(name, keys)
        if len(values) != 1:
            raise FigureError(f"{display_path(name)}: {'/'.join(map(str, keys))!r} names "
                              f"{len(values)} figures, not one")
        return values[0]


def display_path(name):
    """The results file of `name` as the repository names it."""
    return f"{RESULTS_FOLDER.replace(os.sep, '/')}/{name}.json"


def children(value, key):
    """(key, child) of `value` that `key` names: one, none, or every one for `*`."""
    if isinstance(value, dict):
        if key == "*":
            return list(value.items())
        return [(key, value[key])] if key in value else []
    if isinstance(value, list):
        if key == "*":
            return list(enumerate(value))
        try:
            index = int(key)
        except (TypeError, ValueError):
            return []
        return [(index, value[index])] if -len(value) <= index < len(value) else []
    return []


def describe_level(data, keys):
    """The keys (or the length) of the first object at `keys`, for an error message."""
    value = data
    for key in keys:
        value = children(value, key)[0][1]
    if isinstance(value, dict):
        return "keys " + ", ".join(value) if value else "an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return f"the figure {value!r}"


def format_figure(value, spec, scale=1):
    """One figure as the page shows it; a missing or non-finite figure is an error."""
    if isinstance(value, bool):
        words = spec.split("/")
        if len(words) != 2:
            raise FigureError(f"a yes / no figure needs its two words, 'yes/no', not {spec!r}")
        return words[0] if value else words[1]
    if isinstance(value, str):
        return format(value, spec)
    if not isinstance(value, (int, float)):
        raise FigureError(f"{value!r} is not a figure")
    if not math.isfinite(value):
        raise FigureError(f"the figure is {value!r}")
    scaled = value * scale
    if isinstance(scaled, float) and scaled.is_integer() and spec.endswith("d"):
        scaled = int(scaled)
    return format(scaled, spec)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def bench(results, name, key, spec="", scale=1):
    """The figure at `key` of `benchmarks/results/<name>.json`, formatted; a range for `*`."""
    values = results.values(name, key.split("/"))
    if len(values) > 1 and all(is_number(value) for value in values):
        values = [min(values), max(values)]
    try:
        shown = list(dict.fromkeys(format_figure(value, spec, scale) for value in values))
    except ValueError as error:  # FigureError, or a format spec that does not fit the figure
        raise FigureError(f"{display_path(name)} {key!r}: {error}") from None
    if len(shown) > 1 and not is_number(values[0]):
        raise FigureError(f"{display_path(name)} {key!r}: {len(shown)} different figures "
                          "that are not numbers")
    return RANGE_DASH.join(shown)


def recipe_shape(results, recipe):
    """(batch size, sequence length) of a time-to-accuracy recipe.

    The recipe's overrides name them, else its base configuration does
    (`pipelines/configs/demo.yaml`); checked against the tokens a step the
    run recorded, so that a base configuration changed since is an error.
    """
    entry = results.value("time_to_accuracy", [recipe])
    settings = dict(override.split("=", 1) for override in entry["overrides"])
    if not {"data.batch_size", "data.sequence_length"} <= set(settings):
        with open(os.path.join(results.root, RECIPE_BASE_CONFIG), encoding="utf-8") as f:
            data = yaml.safe_load(f)["data"]
        settings.setdefault("data.batch_size", data["batch_size"])
        settings.setdefault("data.sequence_length", data["sequence_length"])
    batch, length = int(settings["data.batch_size"]), int(settings["data.sequence_length"])
    last = entry["points"][-1]
    if last["step"] and last["tokens"] != last["step"] * batch * length:
        raise FigureError(f"{display_path('time_to_accuracy')}: {recipe!r} saw "
                          f"{last['tokens'] / last['step']:g} tokens a step, not {batch} x "
                          f"{length} as its overrides and {RECIPE_BASE_CONFIG} say")
    return batch, length


def time_to_accuracy_row(results, recipe):
    """The measured cells of `recipe`'s row of the time-to-accuracy table, ` | `-separated.

    Minutes; steps x batch x length; held-out MLM (at `[MASK]` inputs, when
    measured) / SBO accuracy; the step (fed by the pipeline): input /
    forward+backward / optimiser, in ms; GFLOP/s.
    """
    def figure(*keys, spec, scale=1):
        return format_figure(results.value("time_to_accuracy", [recipe, *keys]), spec, scale)

    batch, length = recipe_shape(results, recipe)
    last = results.value("time_to_accuracy", [recipe, "points", -1])
    accuracy = figure("points", -1, "mlm_accuracy", spec=".3f")
    if "mlm_masked_accuracy" in last:
        accuracy += f" ({figure('points', -1, 'mlm_masked_accuracy', spec='.3f')})"
    ms = {"spec": ".0f", "scale": 1000}
    step = (f"{figure('split', 'pipeline_step', **ms)} ms: "
            f"{figure('split', 'input', spec='.1f', scale=1000)} / "
            f"{figure('split', 'forward_backward', **ms)} / {figure('split', 'optimizer', **ms)}")
    cells = [
        figure("points", -1, "minutes", spec=".1f"),
        f"{figure('points', -1, 'step', spec=',d')} x {batch} x {length}",
        f"{accuracy} / {figure('points', -1, 'sbo_accuracy', spec='.3f')}",
        step,
        figure("step_gflops_per_second", spec=".0f"),
    ]
    return " | ".join(cells)


CALLS = {"bench": bench, "time_to_accuracy_row": time_to_accuracy_row}


def render_placeholder(call, results):
    """The text of one placeholder's call (`bench(...)`), its arguments literals only."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        raise FigureError(f"not a call: {call.strip()!r}") from None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in CALLS):
        raise FigureError(f"unknown placeholder {call.strip()!r}: the calls are "
                          f"{', '.join(CALLS)}")
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
    except ValueError:
        raise FigureError(f"{call.strip()!r}: the arguments must be literals") from None
    try:
        return CALLS[node.func.id](results, *args, **kwargs)
    except TypeError as error:
        raise FigureError(f"{call.strip()!r}: {error}") from None


def render(markdown, results):
    """`markdown` with every placeholder outside code replaced by its figures."""
    lines, fence = [], None
    for line in markdown.split("\n"):
        match = FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None:
            line = render_line(line, results)
        lines.append(line)
    return "\n".join(lines)


def render_line(line, results):
    """One line outside fenced code: its placeholders rendered, its code spans left alone."""
    pieces, position = [], 0
    for span in CODE_SPAN.finditer(line):
        pieces.append(render_text(line[position:span.start()], results))
        pieces.append(span.group(0))
        position = span.end()
    pieces.append(render_text(line[position:], results))
    return "".join(pieces)


def render_text(text, results):
    def replace(match):
        try:
            return render_placeholder(match.group("call"), results)
        except FigureError as error:
            raise FigureError(f"{match.group(0)}: {error}") from None

    return PLACEHOLDER.sub(replace, text)


def on_config(config):
    """Remembers the repository's folder (where mkdocs.yml is)."""
    global _root
    _root = os.path.dirname(os.path.abspath(config["config_file_path"]))
    return config


def on_page_markdown(markdown, page, config, files):
    """Renders the page's placeholders; one that cannot be rendered stops the build."""
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown, Results(_root))
    except FigureError as error:
        raise PluginError(f"docs/{page.file.src_uri}: {error}") from None


def on_serve(server, config, builder):
    """`mkdocs serve` rebuilds when a results file changes."""
    server.watch(os.path.join(_root, RESULTS_FOLDER))
    return server
