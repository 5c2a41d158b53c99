"""Callbacks: TensorBoard logging for pre-training; dev evaluation and the best weights for fine-tuning."""

import itertools
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from spanbert_keras.data.tokenizer import join_wordpieces
from spanbert_keras.training.checkpointing import epoch_label
from spanbert_keras.training.checkpointing import latest_best
from spanbert_keras.training.checkpointing import save_best

TRACKED = ("loss", "mlm_loss", "sbo_loss", "mlm_accuracy", "sbo_accuracy")
STEP_LOGS = ("grad_norm", "learning_rate")


class SpanBertTensorBoard(keras.callbacks.Callback):
    """Per-step scalars, masked-span predictions and span lengths for TensorBoard.

    Writes to `log_dir` (one TensorBoard run):

    * scalars every `update_freq` steps, at step = optimizer iterations:
      `loss`, `mlm_loss`, `sbo_loss`, `mlm_accuracy`, `sbo_accuracy` (the
      values of the steps since the last write, not the epoch's running
      mean), `learning_rate`, `grad_norm`, `tokens_per_second` (non-padding
      tokens of the global batch over the wall time of the step); after each
      epoch the `val_*` values of `fit(validation_data=...)`;
    * text `predictions` every `text_every_n_steps` steps and at the end of
      training: for `num_examples` held-out blocks, the masked input, the
      truth with the masked spans marked `«...»`, the MLM and SBO fillings,
      and a table of every target (truth, MLM, SBO);
    * histogram `span_lengths` (tokens per merged span) of the held-out
      batches, at the same steps.

    Use it next to `keras.callbacks.TensorBoard` (see
    `tensorboard_callbacks`), which logs the epoch-level values and the graph.

    Args:
        log_dir: str, directory of the event files.
        vocabulary: a `Vocabulary` or its list of tokens (to detokenise).
        eval_data: optional held-out batches of the span pipeline: a
            `tf.data.Dataset` or an iterable of dicts. Re-iterated at each
            text summary, so a pipeline that draws new masks shows new spans.
        num_examples: int, blocks shown in each text summary.
        max_eval_batches: int, batches read from `eval_data` each time (the
            histogram uses all of them).
        text_every_n_steps: int, steps between text summaries / histograms.
        update_freq: int, steps between scalar writes.
        max_tokens_shown: int, longest block prefix rendered in the text.
    """

    def __init__(
        self,
        log_dir,
        vocabulary,
        eval_data=None,
        num_examples=3,
        max_eval_batches=1,
        text_every_n_steps=200,
        update_freq=1,
        max_tokens_shown=192,
    ):
        super().__init__()
        for name, value in (
            ("num_examples", num_examples),
            ("max_eval_batches", max_eval_batches),
            ("text_every_n_steps", text_every_n_steps),
            ("update_freq", update_freq),
            ("max_tokens_shown", max_tokens_shown),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"`{name}` must be a positive int. Received: {name}={value!r}"
                )
        self.log_dir = os.fspath(log_dir)
        self.tokens = list(getattr(vocabulary, "tokens", vocabulary))
        self.eval_data = eval_data
        self.num_examples = num_examples
        self.max_eval_batches = max_eval_batches
        self.text_every_n_steps = text_every_n_steps
        self.update_freq = update_freq
        self.max_tokens_shown = max_tokens_shown
        self._writer = None
        self._previous = {}
        self._step_start = None
        self._last_text_step = None

    # ------------------------------------------------------------- lifecycle
    def on_train_begin(self, logs=None):
        os.makedirs(self.log_dir, exist_ok=True)
        self._writer = tf.summary.create_file_writer(self.log_dir)
        self._previous = self._tracker_sums()

    def on_epoch_begin(self, epoch, logs=None):
        self._previous = self._tracker_sums()

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        elapsed = time.perf_counter() - (self._step_start or time.perf_counter())
        step = self._step()
        if step % self.update_freq == 0:
            self._write_scalars(step, logs, elapsed)
        if step % self.text_every_n_steps == 0:
            self._write_predictions(step)

    def on_epoch_end(self, epoch, logs=None):
        if self._writer is None:
            return
        step = self._step()
        with self._writer.as_default(step=step):
            for name, value in (logs or {}).items():
                if name.startswith("val_") and np.ndim(value) == 0:
                    tf.summary.scalar(name, float(value))
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is None:
            return
        step = self._step()
        if self._last_text_step != step:
            self._write_predictions(step)
        self._writer.flush()
        self._writer.close()
        self._writer = None

    # --------------------------------------------------------------- scalars
    def _step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _tracker_sums(self):
        sums = {}
        for metric in getattr(self.model, "metrics", []):
            if metric.name in TRACKED and hasattr(metric, "total"):
                sums[metric.name] = (
                    float(keras.ops.convert_to_numpy(metric.total)),
                    float(keras.ops.convert_to_numpy(metric.count)),
                )
        return sums

    def _write_scalars(self, step, logs, elapsed):
        current = self._tracker_sums()
        with self._writer.as_default(step=step):
            for name in TRACKED:
                value = None
                if name in current and name in self._previous:
                    total = current[name][0] - self._previous[name][0]
                    count = current[name][1] - self._previous[name][1]
                    if count > 0:
                        value = total / count
                elif name in logs:
                    value = float(logs[name])
                if value is not None:
                    tf.summary.scalar(name, value)
            for name in STEP_LOGS:
                if name in logs:
                    tf.summary.scalar(name, float(logs[name]))
            if "num_tokens" in logs and elapsed > 0:
                tf.summary.scalar("tokens_per_second", float(logs["num_tokens"]) / elapsed)
        self._previous = current

    # ------------------------------------------------------ text / histogram
    def _eval_batches(self):
        if self.eval_data is None:
            return []
        data = self.eval_data
        if isinstance(data, tf.data.Dataset):
            data = data.take(self.max_eval_batches).as_numpy_iterator()
        batches = []
        for element in itertools.islice(iter(data), self.max_eval_batches):
            x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
            batches.append({k: np.asarray(v) for k, v in x.items()})
        return batches

    def _write_predictions(self, step):
        self._last_text_step = step
        batches = self._eval_batches()
        if not batches or self._writer is None:
            return
        lengths = np.concatenate([span_lengths(b) for b in batches])
        sections = []
        for batch in batches:
            if len(sections) >= self.num_examples:
                break
            outputs = self.model.predict_on_batch(batch)
            mlm = _top_ids(outputs, "mlm")
            sbo = _top_ids(outputs, "sbo")
            for row in range(batch["token_ids"].shape[0]):
                if len(sections) >= self.num_examples:
                    break
                sections.append(
                    self._render_block(batch, row, mlm, sbo, len(sections) + 1)
                )
        with self._writer.as_default(step=step):
            tf.summary.text("predictions", "\n\n---\n\n".join(sections))
            if lengths.size:
                tf.summary.histogram("span_lengths", lengths.astype("float32"))
        self._writer.flush()

    def _render_block(self, batch, row, mlm, sbo, number):
        token_ids = batch["token_ids"][row]
        if "padding_mask" in batch:
            token_ids = token_ids[: int(np.sum(batch["padding_mask"][row]))]
        positions = batch["mask_positions"][row]
        weights = batch["mask_weights"][row]
        real = [j for j in range(len(positions)) if weights[j] > 0]
        truth = dict((int(positions[j]), int(batch["mask_ids"][row, j])) for j in real)
        shown = min(len(token_ids), self.max_tokens_shown)
        masked_input = self.detokenize(token_ids[:shown])
        original = token_ids.copy()
        for position, token in truth.items():
            original[position] = token
        header = (
            f"**Block {number}**: {len(truth)} targets, "
            f"{len(span_lengths(batch, rows=[row]))} spans"
        )
        lines = [
            f"masked input: {masked_input}",
            f"truth: {self.detokenize(original[:shown], marked=truth)}",
        ]
        table = ["| position | truth | MLM | SBO |", "|---|---|---|---|"]
        for name, predicted in (("MLM", mlm), ("SBO", sbo)):
            if predicted is None:
                continue
            filled = original.copy()
            for j in real:
                filled[positions[j]] = predicted[row, j]
            lines.append(f"{name}: {self.detokenize(filled[:shown], marked=truth)}")
        for j in real:
            cells = [str(int(positions[j])), self._token(truth[int(positions[j])])]
            for predicted in (mlm, sbo):
                cells.append("" if predicted is None else self._token(predicted[row, j]))
            table.append("| " + " | ".join(_markdown(c) for c in cells) + " |")
        body = "\n\n".join(_markdown(line) for line in lines)
        return header + "\n\n" + body + "\n\n" + "\n".join(table)

    def _token(self, token_id):
        token_id = int(token_id)
        if 0 <= token_id < len(self.tokens):
            return self.tokens[token_id]
        return f"<{token_id}>"

    def detokenize(self, token_ids, marked=()):
        """Joins wordpieces into text, wrapping runs of `marked` positions in `«»`."""
        pieces = [self._token(token_id) for token_id in token_ids]
        return join_wordpieces(pieces, marks={position: "marked" for position in marked})


def span_lengths(batch, rows=None):
    """Lengths in tokens of the merged spans of a batch of the span pipeline.

    Targets of one span share their row and `span_boundaries`; a span's length
    is its number of real targets (`mask_weights > 0`).
    """
    boundaries = np.asarray(batch["span_boundaries"])
    weights = np.asarray(batch["mask_weights"])
    rows = range(boundaries.shape[0]) if rows is None else rows
    counts = {}
    for row in rows:
        for j in np.nonzero(weights[row] > 0)[0]:
            key = (row, int(boundaries[row, j, 0]), int(boundaries[row, j, 1]))
            counts[key] = counts.get(key, 0) + 1
    return np.array(sorted(counts.values()), dtype="int64")


def _top_ids(outputs, head):
    if f"{head}_logits" in outputs:
        return np.argmax(np.asarray(outputs[f"{head}_logits"]), axis=-1)
    if f"{head}_top_ids" in outputs:
        return np.asarray(outputs[f"{head}_top_ids"])[..., 0]
    return None


def _markdown(text):
    """Escapes the characters TensorBoard's markdown would interpret."""
    return "".join("\\" + c if c in "\\`*_[]<>#|" else c for c in text)


def tensorboard_callbacks(log_dir, vocabulary, eval_data=None, **kwargs):
    """`keras.callbacks.TensorBoard(log_dir)` plus a `SpanBertTensorBoard`.

    Keras' callback writes epoch-level logs under `log_dir/train` and
    `log_dir/validation`; ours writes the per-step values, the text and the
    histogram under `log_dir/steps`.

    Args:
        log_dir: str, the run directory.
        vocabulary: a `Vocabulary` or its tokens.
        eval_data: optional held-out batches (see `SpanBertTensorBoard`).
        **kwargs: further `SpanBertTensorBoard` arguments.

    Returns:
        A list of two callbacks for `model.fit(callbacks=...)`.
    """
    log_dir = os.fspath(log_dir)
    return [
        keras.callbacks.TensorBoard(log_dir=log_dir),
        SpanBertTensorBoard(
            os.path.join(log_dir, "steps"), vocabulary, eval_data=eval_data, **kwargs
        ),
    ]


# ------------------------------------------------------------ dev evaluation


def is_better(score, best):
    """True when `score` beats `best` (higher is better; None: no best yet; NaN never wins).

    Example:

    >>> is_better(0.5, None), is_better(0.5, 0.5), is_better(0.6, 0.5), is_better(float("nan"), 0.5)
    (True, False, True, False)
    >>> is_better(0.1, float("nan"))  # any number beats a NaN best
    True
    """
    if math.isnan(score):
        return best is None
    return best is None or math.isnan(best) or score > best


class DevEvaluation(keras.callbacks.Callback):
    """After each of `fit`'s epochs: the dev set scored, the scores logged, the best weights kept.

    The dev scores join the epoch's logs as `val_NAME` (so `history.json`,
    `EpochLine` and Keras' `TensorBoard` callback, in its `validation` run,
    show every evaluation: put this callback before them). When
    `scores[metric]` beats every earlier evaluation of the run (higher is
    better; the first of equal scores stays), the weights are kept in the
    run directory (`save_best`); a resumed run starts from the best it had
    (`latest_best`), so a kill between evaluations loses neither the best
    weights nor their score.

    Args:
        evaluate: callable `model -> dict` of dev scores (the task's
            `predict` then `score`).
        metric: str, the score that selects the best weights.
        run_dir: the run directory that keeps them.
        parts: `fit`'s epochs per real epoch (`eval_per_epoch`).
        log: callable for one line per evaluation.

    Attributes:
        best: the `BestWeights` so far, or None.
    """

    def __init__(self, evaluate, metric, run_dir, parts=1, log=print):
        super().__init__()
        self.evaluate = evaluate
        self.metric = metric
        self.run_dir = run_dir
        self.parts = parts
        self.log = log
        self.best = None

    def on_train_begin(self, logs=None):
        best = latest_best(self.run_dir, log=self.log)
        if best is not None and best.metric != self.metric:
            self.log(f"WARNING: the kept best weights were chosen by {best.metric!r}, not "
                     f"{self.metric!r}; the next evaluations choose again.")
            best = None
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        started = time.time()
        scores = self.evaluate(self.model)
        if self.metric not in scores:
            raise ValueError(
                f"The dev scores have no {self.metric!r} to choose the best weights by; they "
                f"have {sorted(scores)}."
            )
        score = float(scores[self.metric])
        evaluation = epoch + 1
        epochs = self.params.get("epochs") if self.params else None
        improved = is_better(score, None if self.best is None else self.best.score)
        if improved:
            record = {"metric": self.metric, "score": score,
                      "epoch": round(evaluation / self.parts, 4),
                      "metrics": {k: _plain(v) for k, v in scores.items()}}
            self.best = save_best(self.model, self.run_dir, evaluation, record)
        if logs is not None:
            logs.update({f"val_{k}": float(v) for k, v in scores.items() if _is_number(v)})
        where = epoch_label(epoch, epochs, self.parts) if epochs else f"evaluation {evaluation}"
        kept = ("new best" if improved else
                f"best {self.best.score:.4g} at evaluation {self.best.evaluation}")
        self.log(f"dev after {where}: {self.metric} {score:.4g} ({kept}; "
                 f"{time.time() - started:.0f} s)")


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _plain(value):
    """A JSON-serialisable copy of a score (NumPy numbers as Python ones)."""
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return value
