"""Answers from raw strings in Python: a fine-tuned run, asked as its SavedModel would be.

`pipeline("runs/ner")(["Emma Woodhouse lived at Hartfield ."])` loads the
run's model and runs the task's `serving_default` signature in this process:
the same in-graph tokenisation, windows and decoding as the exported
SavedModel, so the answers are the export's. Inputs, by task:

| task | an input | an answer (dict) |
|---|---|---|
| `squad` | `(question, context)` or `{"question", "context"}` | `answer`, `char_start`, `char_end`, `score`, `context_truncated` (v2.0: `no_answer_score`) |
| `glue` | a text, or `(text_a, text_b)` / `{"text_a", "text_b"}` for pairs | `label`, `label_id`, `score`, `scores`, `truncated` |
| `ner` | a sentence (words split at whitespace) | `words`, `tags`, `scores`, `num_words`, `truncated` |
| `tacred` | `{"tokens", "subj_start", "subj_end", "obj_start", "obj_end", "subj_type", "obj_type"}` | `label`, `label_id`, `score`, `scores`, ... |
| `coref` | a document's text | `words`, `mention_starts`, `mention_ends`, `cluster_ids`, ... and `clusters` (each entity's mentions) |

One input gives one answer; a list gives a list. `spanbert-keras predict
RUN_DIR --input FILE` does the same for a file of JSON lines or text lines.
"""

import tensorflow as tf

from spanbert_keras.finetuning.runner import load_finetuned


class TaskPipeline:
    """A fine-tuned run's `serving_default` signature, taking Python values (see the module).

    Args:
        run_dir: a finished fine-tuning run directory.
        batch_size: int, inputs per call of the signature.
    """

    def __init__(self, run_dir, batch_size=32):
        task, config, task_info, vocabulary, model = load_finetuned(run_dir)
        self.task = task.name
        self.serving = task.serving(model, vocabulary, task_info, config)
        self.function = self.serving.functions()["serving_default"]
        self.specs = list(self.function.input_signature)
        self.input_names = [spec.name for spec in self.specs]
        self.batch_size = max(int(batch_size), 1)

    def __call__(self, inputs):
        single = not isinstance(inputs, list)
        rows = [self.named(item, number) for number, item in
                enumerate([inputs] if single else inputs, start=1)]
        answers = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start : start + self.batch_size]
            tensors = {spec.name: _batch([row[spec.name] for row in chunk], spec)
                       for spec in self.specs}
            answers += self.serving.rows(self.function(**tensors))
        return answers[0] if single else answers

    def named(self, item, number=1):
        """One input as `{signature input: value}` (a str, a tuple in input order, or a dict)."""
        names = self.input_names
        if isinstance(item, dict):
            missing, extra = sorted(set(names) - set(item)), sorted(set(item) - set(names))
            if missing or extra:
                raise ValueError(f"input {number}: the {self.task} model takes {names}; "
                                 f"missing {missing}, unknown {extra}.")
            return item
        if isinstance(item, str):
            item = (item,)
        if not isinstance(item, (tuple, list)) or len(item) != len(names):
            raise ValueError(f"input {number}: the {self.task} model takes {names} (a dict, or "
                             f"a tuple in that order); received {item!r}.")
        return dict(zip(names, item))


def _batch(values, spec):
    """A batch tensor of `spec` from per-input values (lists padded with "" or 0)."""
    if spec.shape.rank == 2:
        width = max([len(v) for v in values] + [1])
        pad = "" if spec.dtype == tf.string else 0
        values = [list(v) + [pad] * (width - len(v)) for v in values]
    return tf.constant(values, spec.dtype)


def pipeline(run_dir, batch_size=32):
    """A `TaskPipeline` of a fine-tuning run directory.

    Example:

    >>> from spanbert_keras.finetuning.pipeline import pipeline
    >>> pipeline("runs/no-such-run")
    Traceback (most recent call last):
    ...
    FileNotFoundError: runs/no-such-run is not a fine-tuning run directory (no config.yaml / task.json).
    """
    return TaskPipeline(run_dir, batch_size)
