"""The paper's hyper-parameter grid as one call: a fine-tuning run per learning rate and batch size.

`run_grid("squad", config, train, dev, init, "runs/squad-grid")` fine-tunes
once per cell of learning rates x batch sizes (by default Appendix B's:
{5e-6, 1e-5, 2e-5, 3e-5, 5e-5} x {16, 32}), each cell a fine-tuning run
directory of its own run by `run_finetuning` (dev evaluation during
training, the best weights kept), and reports the best cell by the dev
metric:

    GRID/
      lr5e-06_batch16/   a fine-tuning run directory (spanbert_keras.finetuning.runner)
      lr5e-06_batch32/
      ...
      grid.csv           every cell: learning_rate, batch_size, state, the dev
                         metric, the other dev scores, best_epoch
      grid.md            the same table in Markdown, and the best cell
      grid.lock          held a moment while a process rewrites the tables

The cells are taken in order (learning rates, then batch sizes). A finished
cell is skipped (its recorded scores are read), an interrupted one resumes,
and one that another process holds (its run directory's lock) is left to
that process: several processes, on one machine or on several sharing
GRID, split the grid between them by running the same command. After each
cell the tables are rewritten, atomically, from what the cells' directories
hold, so the last process to finish writes the whole grid. A cell's state:
`finished`, `running` (another process holds it), `interrupted` (started,
not finished) or `pending`.

Nothing here loads TensorFlow until a grid runs: the command line checks
its values first.
"""

import contextlib
import csv
import dataclasses
import fcntl
import io
import math
import os

from spanbert_keras.run_layout import RunDirectory

DEFAULT_LEARNING_RATES = (5e-6, 1e-5, 2e-5, 3e-5, 5e-5)
DEFAULT_BATCH_SIZES = (16, 32)
TABLE_CSV = "grid.csv"
TABLE_MARKDOWN = "grid.md"
TABLE_LOCK = "grid.lock"
STATES = ("finished", "running", "interrupted", "pending")


@dataclasses.dataclass(frozen=True)
class GridCell:
    """One cell of the grid: its run directory's name, its values and its full config."""

    name: str
    learning_rate: float
    batch_size: int
    config: object  # a FinetuneConfig


def check_values(values, kind, name):
    """The values of one axis of the grid, checked: a tuple of positive `kind` (float / int).

    Args:
        values: a sequence, or a comma-separated string (the command line's).
        kind: `float` (learning rates) or `int` (batch sizes).
        name: how the values are called in a message (`--learning-rates`).

    Raises:
        ValueError: one line naming `name` and the bad value: an empty list,
            a value that is not a number, not positive (or not finite), or
            listed twice.

    Example:

    >>> check_values("5e-6, 1e-5", float, "--learning-rates")
    (5e-06, 1e-05)
    >>> check_values("16,-32", int, "--batch-sizes")
    Traceback (most recent call last):
    ...
    ValueError: --batch-sizes: -32 is not a positive batch size.
    """
    what = "learning rate" if kind is float else "batch size"
    if isinstance(values, str):
        values = [part.strip() for part in values.split(",")]
        values = [] if values == [""] else values
    checked = []
    for value in values:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value) if kind is float else _whole(value)
        except (TypeError, ValueError):
            kind_name = "number" if kind is float else "whole number"
            raise ValueError(f"{name}: {value!r} is not a {kind_name}.") from None
        if not (math.isfinite(number) and number > 0):
            raise ValueError(f"{name}: {value} is not a positive {what}.")
        if number in checked:
            raise ValueError(f"{name} lists {number:g} twice.")
        checked.append(number)
    if not checked:
        example = "5e-6,1e-5,2e-5" if kind is float else "16,32"
        raise ValueError(f"{name} is empty: give one {what} or more, separated by commas "
                         f"(e.g. {example}).")
    return tuple(checked)


def _whole(value):
    number = float(value)
    if not number.is_integer():
        raise ValueError
    return int(number)


def cell_name(learning_rate, batch_size):
    """A cell's run directory name.

    Example:

    >>> cell_name(2e-5, 32), cell_name(0.001, 8)
    ('lr2e-05_batch32', 'lr0.001_batch8')
    """
    return f"lr{float(learning_rate)!r}_batch{int(batch_size)}"


def grid_cells(config, learning_rates, batch_sizes):
    """The cells of the grid (learning rates, then batch sizes), each `config` with its values."""
    return [GridCell(cell_name(lr, batch), lr, batch,
                     dataclasses.replace(config, learning_rate=lr, batch_size=batch))
            for lr in learning_rates for batch in batch_sizes]


@contextlib.contextmanager
def _table_lock(grid_dir):
    """Holds `GRID/grid.lock` (waiting for another process' turn) while the tables are rewritten."""
    handle = os.open(os.path.join(grid_dir, TABLE_LOCK), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # releases the lock


def cell_state(task, cell, grid_dir):
    """`(state, dev metrics or None)` of a cell, from its run directory (see the module docstring)."""
    from spanbert_keras.finetuning.runner import finished_metrics
    from spanbert_keras.training.checkpointing import lock_owner

    run_dir = os.path.join(grid_dir, cell.name)
    if lock_owner(run_dir) is not None:
        return "running", None
    metrics = finished_metrics(run_dir, task, cell.config)
    if metrics is not None:
        return "finished", metrics
    if os.path.isfile(RunDirectory(run_dir).config):
        return "interrupted", None
    return "pending", None


def _metric_of(task, cells, grid_dir):
    """The dev metric that ranks the cells: the task's, for the first cell that has its task.json."""
    from spanbert_keras.files import read_json
    from spanbert_keras.finetuning.runner import dev_metric_name

    for cell in cells:
        path = RunDirectory(os.path.join(grid_dir, cell.name)).task_info
        if os.path.isfile(path):
            try:
                return dev_metric_name(task, read_json(path), cell.config)
            except (OSError, ValueError, KeyError, TypeError):
                continue
    try:
        return dev_metric_name(task, {}, cells[0].config)
    except (ValueError, KeyError, TypeError):
        return None


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _score(row, metric):
    value = row["metrics"].get(metric) if row["metrics"] else None
    return float(value) if _number(value) and not math.isnan(value) else None


def grid_table(task, cells, grid_dir):
    """The grid's rows as the cells' directories hold them now, the metric and the best row.

    Returns:
        `(rows, metric, best)`: one dict per cell (`cell`, `learning_rate`,
        `batch_size`, `state`, `metrics`, `best_epoch`), the dev metric's
        name (None while no cell says it) and the finished row with the
        highest dev metric (the first of equal ones), or None.
    """
    from spanbert_keras.training.checkpointing import newest_best_record

    rows = []
    for cell in cells:
        state, metrics = cell_state(task, cell, grid_dir)
        record = newest_best_record(os.path.join(grid_dir, cell.name)) if metrics else None
        rows.append({"cell": cell.name, "learning_rate": cell.learning_rate,
                     "batch_size": cell.batch_size, "state": state, "metrics": metrics,
                     "best_epoch": (record or {}).get("epoch")})
    metric = _metric_of(task, cells, grid_dir)
    best = None
    for row in rows:
        score = _score(row, metric)
        if score is not None and (best is None or score > _score(best, metric)):
            best = row
    return rows, metric, best


def _columns(rows, metric):
    scores = [metric] if metric else []
    for row in rows:
        for key in row["metrics"] or {}:
            if key not in scores:
                scores.append(key)
    return ["cell", "learning_rate", "batch_size", "state", *scores, "best_epoch"], scores


def _cells_of(row, scores, text, rate):
    values = [row["cell"], rate(row["learning_rate"]), str(row["batch_size"]), row["state"]]
    for key in scores:
        value = (row["metrics"] or {}).get(key)
        values.append("" if value is None else text(value))
    values.append("" if row["best_epoch"] is None else f"{row['best_epoch']:g}")
    return values


def _csv_number(value):
    return repr(value) if isinstance(value, float) else str(value)


def _markdown_number(value):
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}" if abs(value) < 1e-3 else f"{value:.4f}"
    return str(value)


def write_tables(grid_dir, rows, metric, best, task_name):
    """Writes `GRID/grid.csv` and `GRID/grid.md` atomically; returns their paths."""
    from spanbert_keras.files import atomic_write

    columns, scores = _columns(rows, metric)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_cells_of(row, scores, _csv_number, repr))
    csv_path = atomic_write(os.path.join(grid_dir, TABLE_CSV), lambda f: f.write(buffer.getvalue()))
    finished = sum(row["state"] == "finished" for row in rows)
    lines = [f"# Fine-tuning grid: {task_name}", "",
             f"{finished} of {len(rows)} cells finished; the dev metric: {metric or 'unknown yet'} "
             "(higher is better; each cell keeps its best dev evaluation, at `best_epoch`).", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = _cells_of(row, scores, _markdown_number, lambda rate: f"{rate:g}")
        if row is best:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", _best_line(best, metric) + "\n"]
    markdown = atomic_write(os.path.join(grid_dir, TABLE_MARKDOWN),
                            lambda f: f.write("\n".join(lines)))
    return csv_path, markdown


def _best_line(best, metric):
    if best is None:
        return "Best cell: none finished yet."
    return (f"Best cell: {best['cell']} (learning_rate {best['learning_rate']:g}, batch_size "
            f"{best['batch_size']}): {metric} {_markdown_number(best['metrics'][metric])}.")


def _update_tables(task, cells, grid_dir):
    with _table_lock(grid_dir):
        rows, metric, best = grid_table(task, cells, grid_dir)
        paths = write_tables(grid_dir, rows, metric, best, task.name)
    return rows, metric, best, paths


def run_grid(task, config, train_file, dev_file, init, grid_dir,
             learning_rates=DEFAULT_LEARNING_RATES, batch_sizes=DEFAULT_BATCH_SIZES,
             strict=False, vocab=None, log=print, verbose=None, strategy=None):
    """Fine-tunes every cell of learning rates x batch sizes not yet done; reports the best.

    Args:
        task: a task name of `spanbert_keras.tasks.TASK_NAMES`, or a `FinetuneTask`.
        config: the settings every cell shares (a `FinetuneConfig`, a dict, a
            YAML path, or None: the task's defaults); each cell replaces its
            `learning_rate` and `batch_size`.
        train_file, dev_file, init: as `run_finetuning` takes them.
        grid_dir: the grid's directory (created): a run directory per cell
            and the tables.
        learning_rates: positive floats (default: Appendix B's five).
        batch_sizes: positive ints (default: 16 and 32).
        strict, vocab, log, verbose: as `run_finetuning` takes them.
        strategy: as `run_finetuning` takes it, on one machine: the cells
            are shared out between processes by their locks, which a
            multi-worker run cannot follow (refused).

    Returns:
        dict: `metric` (the dev metric's name), `best` (the best finished
        cell's row: `cell`, `learning_rate`, `batch_size`, `state`,
        `metrics`, `best_epoch`; None when none finished), `cells` (every
        row, in grid order), `csv` and `markdown` (the tables' paths).

    Raises:
        ValueError: bad values (before any work), or a cell's failure.
        FileNotFoundError: a missing data file.
    """
    learning_rates = check_values(learning_rates, float, "learning_rates")
    batch_sizes = check_values(batch_sizes, int, "batch_sizes")
    for path, what in ((train_file, "--train"), (dev_file, "--dev")):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{what} not found: {path}")

    import keras

    from spanbert_keras.files import check_directory_path
    from spanbert_keras.finetuning.runner import finished_metrics
    from spanbert_keras.finetuning.runner import resolve_config
    from spanbert_keras.finetuning.runner import run_finetuning
    from spanbert_keras.models.distributed import is_multi_worker
    from spanbert_keras.tasks import get_task
    from spanbert_keras.tasks.base import FinetuneTask
    from spanbert_keras.training.checkpointing import run_lock
    from spanbert_keras.training.distribute import get_strategy

    strategy = get_strategy(strategy, log=log)  # first: before any TensorFlow operation
    if is_multi_worker(strategy):
        raise ValueError("The grid shares its cells out between processes by their locks, which "
                         "the workers of one multi-worker run cannot follow: run each cell with "
                         "`spanbert-keras finetune` instead.")
    task = task if isinstance(task, FinetuneTask) else get_task(task)
    config = resolve_config(task, config, train_file)
    cells = grid_cells(config, learning_rates, batch_sizes)  # each config checked
    task.options(config)
    check_directory_path(grid_dir)
    os.makedirs(grid_dir, exist_ok=True)
    log(f"grid: {len(cells)} cells = learning rates {', '.join(f'{lr:g}' for lr in learning_rates)}"
        f" x batch sizes {', '.join(str(b) for b in batch_sizes)}; {grid_dir}")
    _update_tables(task, cells, grid_dir)
    for number, cell in enumerate(cells, 1):
        run_dir = os.path.join(grid_dir, cell.name)
        head = f"cell {number}/{len(cells)} {cell.name}"
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(run_lock(run_dir, log=log))
            except FileExistsError as error:
                log(f"{head}: skipped, another process works on it ({error})")
                continue
            if finished_metrics(run_dir, task, cell.config) is not None:
                log(f"{head}: finished before; skipped")
            else:
                resumed = os.path.isfile(RunDirectory(run_dir).config)
                log(f"{head}: learning_rate {cell.learning_rate:g}, batch_size "
                    f"{cell.batch_size}{' (resuming it)' if resumed else ''}")
                try:
                    run_finetuning(task, cell.config, train_file, dev_file, init, run_dir,
                                   strict=strict, vocab=vocab, log=log, verbose=verbose,
                                   strategy=strategy)
                finally:
                    keras.backend.clear_session()
        _update_tables(task, cells, grid_dir)
    rows, metric, best, (csv_path, markdown) = _update_tables(task, cells, grid_dir)
    finished = sum(row["state"] == "finished" for row in rows)
    log(f"grid: {finished} of {len(cells)} cells finished; tables: {csv_path}, {markdown}")
    running = [row["cell"] for row in rows if row["state"] == "running"]
    if running:
        log(f"grid: {len(running)} cell(s) still running in other processes ({', '.join(running)}); "
            "the tables are complete once they finish.")
    log(_best_line(best, metric) + (f" Its model: {os.path.join(grid_dir, best['cell'])}"
                                    if best else ""))
    return {"metric": metric, "best": best, "cells": rows, "csv": csv_path,
            "markdown": markdown}
