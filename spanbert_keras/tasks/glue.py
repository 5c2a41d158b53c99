"""Sentence and sentence-pair classification (GLUE): the `glue` fine-tuning task.

reader `data.glue.read_tsv` (the lines; the columns are chosen with the
options) -> features `data.glue.TextFeatures` (`[CLS] a [SEP] (b [SEP])`) ->
`SpanBertTextClassifier` (from the pooled [CLS]; cross entropy, or mean
squared error for a regression) -> `metrics.glue` -> serving
`export.serving.classification.TextClassificationServing`.

Options (`--set options.KEY=VALUE`):

- `task`: a GLUE task name, which sets the columns, the header, the id
  column and the metric of GLUE's files, the metric being the one the
  authors' `run_glue.py` picks the best model by: `cola` (Matthews
  correlation; no header), `sst2`, `mrpc` (the mean of accuracy and the F1
  of "1"), `stsb` (regression; the mean of Pearson and Spearman), `qqp`
  (as MRPC), `mnli`, `qnli`, `rte`, `wnli` (accuracy). Without `task` nor
  columns, the task is recognised from the training file's header (all
  but CoLA);
- or the columns themselves, by header name or 0-based index: `text_a`,
  `text_b` (pairs), `label`, `id_column`; `header` (true), `regression`
  (false), `positive_label` (adds `f1` and `accuracy_f1`), `metric`
  (`accuracy`, `f1`, `accuracy_f1`, `matthews_corrcoef`, `pearson`,
  `spearman`, `pearson_spearman`).

The scores lead with the chosen metric (`task.json`'s `metric`, the task's
`metric_name(task_info, config)`): classification reports `accuracy`,
`matthews_corrcoef` (and `f1`, `accuracy_f1` with a positive label), a
regression `pearson`, `spearman` and their mean. Predictions are `{id:
label}` (a number for a regression); ids are the `id_column`'s values, else
the GLUE task's index column where the file has one (`index`; QQP: `id`),
else line numbers. Defaults: the paper's, sequence length 128, lr 2e-5,
batch 32, 10 epochs (CoLA: 4, see `GlueTask.config_defaults_for`). An
encoder narrower than BERT-base (`tiny`, `austen-tiny`) gets a measured
small-encoder recipe instead (`small_encoder_defaults`: lr 1e-3, batch 16,
no dropout; the epochs stay the paper's, CoLA's 4 included); the run prints
which.
"""

import dataclasses

import keras
import numpy as np

from spanbert_keras.data.glue import TextFeatures
from spanbert_keras.data.glue import first_line
from spanbert_keras.data.glue import read_tsv
from spanbert_keras.data.glue import select_columns
from spanbert_keras.metrics.glue import classification_metrics
from spanbert_keras.metrics.glue import regression_metrics
from spanbert_keras.models.span_bert_text_classifier import SpanBertTextClassifier
from spanbert_keras.tasks.encoder_task import EncoderTask
from spanbert_keras.tasks.encoder_task import strings
from spanbert_keras.tasks.encoder_task import warn_count

# The columns and metric of each GLUE task's files (as GLUE distributes them);
# the metric is the one the authors' run_glue.py keeps the best model by
# (its EVAL_METRICS: mcc, acc, acc_and_f1, corr).
GLUE_TASKS = {
    "cola": {"text_a": 3, "label": 1, "header": False, "metric": "matthews_corrcoef"},
    "sst2": {"text_a": "sentence", "label": "label"},
    "mrpc": {"text_a": "#1 String", "text_b": "#2 String", "label": "Quality",
             "positive_label": "1", "metric": "accuracy_f1"},
    "stsb": {"text_a": "sentence1", "text_b": "sentence2", "label": "score",
             "regression": True, "metric": "pearson_spearman"},
    "qqp": {"text_a": "question1", "text_b": "question2", "label": "is_duplicate",
            "positive_label": "1", "metric": "accuracy_f1"},
    "mnli": {"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"},
    "qnli": {"text_a": "question", "text_b": "sentence", "label": "label"},
    "rte": {"text_a": "sentence1", "text_b": "sentence2", "label": "label"},
    "wnli": {"text_a": "sentence1", "text_b": "sentence2", "label": "label"},
}
# The column of example ids in GLUE's files that have one (the ids of a submission).
INDEX_COLUMNS = {"qqp": "id"}
INDEX_COLUMN = "index"
# Which header names tell a task (the first whose columns all appear wins).
_RECOGNISED = ("mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "sst2")
CLASSIFICATION_METRICS = ("accuracy", "f1", "accuracy_f1", "matthews_corrcoef")
REGRESSION_METRICS = ("pearson", "spearman", "pearson_spearman")
# The paper's epochs (Appendix B): 10 for every GLUE task but CoLA.
EPOCHS = 10
COLA_EPOCHS = 4


@dataclasses.dataclass
class GlueOptions:
    """The `glue` task's options (see the module docstring); None: from `task`."""

    task: str | None = None
    text_a: str | int | None = None
    text_b: str | int | None = None
    label: str | int | None = None
    header: bool | None = None
    id_column: str | int | None = None
    regression: bool | None = None
    positive_label: str | None = None
    metric: str | None = None

    def __post_init__(self):
        if self.task is not None and self.task not in GLUE_TASKS:
            raise ValueError(
                f"options.task must be one of {sorted(GLUE_TASKS)}. Received: {self.task!r}"
            )


def resolve_options(options, rows):
    """The options with the GLUE task's values filled in (recognised from the header if need be).

    Example:

    >>> rows = [{"fields": ["index", "sentence1", "sentence2", "label"]}]
    >>> resolved = resolve_options(GlueOptions(), rows)
    >>> resolved["task"], resolved["text_b"], resolved["metric"]
    ('rte', 'sentence2', 'accuracy')
    """
    values = dataclasses.asdict(options)
    task = values["task"]
    if task is None and values["text_a"] is None:
        header = set(first_line(rows))
        for name in _RECOGNISED:
            columns = {v for k, v in GLUE_TASKS[name].items() if k in ("text_a", "text_b", "label")}
            if columns <= header:
                task = name
                break
        else:
            raise ValueError(
                "The GLUE task could not be recognised from the training file's first line "
                f"{first_line(rows)}: set options.task (one of "
                f"{sorted(GLUE_TASKS)}) or the columns (options.text_a, options.label, ...)."
            )
    preset = GLUE_TASKS.get(task, {})
    resolved = {k: (v if v is not None else preset.get(k)) for k, v in values.items()}
    resolved["task"] = task
    resolved["header"] = True if resolved["header"] is None else bool(resolved["header"])
    resolved["regression"] = bool(resolved["regression"])
    if resolved["text_a"] is None or (resolved["label"] is None):
        raise ValueError("Set options.text_a and options.label (or options.task).")
    if resolved["positive_label"] is not None:
        resolved["positive_label"] = str(resolved["positive_label"])
    metric = resolved["metric"] or (
        "spearman" if resolved["regression"] else "f1" if resolved["positive_label"] else "accuracy"
    )
    allowed = REGRESSION_METRICS if resolved["regression"] else CLASSIFICATION_METRICS
    if metric not in allowed or (metric in ("f1", "accuracy_f1")
                                 and resolved["positive_label"] is None):
        raise ValueError(
            f"options.metric={metric!r} does not apply: a "
            f"{'regression' if resolved['regression'] else 'classification'} reports "
            f"{list(allowed)} (f1 and accuracy_f1 need options.positive_label)."
        )
    resolved["metric"] = metric
    return resolved


class GlueTask(EncoderTask):
    name = "glue"
    options_class = GlueOptions
    config_defaults = {"sequence_length": 128, "epochs": EPOCHS}
    # Measured on `austen-tiny` (hidden 128), 400 training sentences of the realistic SST-2
    # style data of the tests (tests/cli/test_small_encoder_recipes.py), the paper's 10
    # epochs: accuracy 0.99 held out, where the paper's recipe reaches 0.48 (chance). No
    # `epochs` here, so CoLA keeps its 4 (`config_defaults_for`; not measured on CoLA).
    small_encoder_defaults = {"learning_rate": 1e-3, "batch_size": 16, "dropout": 0.0}
    model_class = SpanBertTextClassifier

    def config_defaults_for(self, options, train_file=None):
        """The `config_defaults` of a run with these options (a dict): CoLA trains 4 epochs.

        The paper's Appendix B: "10 epochs for all the datasets. The only
        exception is CoLA, where we used 4 epochs".

        >>> from spanbert_keras.tasks.glue import TASK
        >>> TASK.config_defaults_for({"task": "cola"})["epochs"], TASK.config_defaults_for({})
        (4, {'sequence_length': 128, 'epochs': 10})
        """
        defaults = dict(self.config_defaults)
        if (options or {}).get("task") == "cola":
            defaults["epochs"] = COLA_EPOCHS
        return defaults

    def metric_name(self, task_info, config=None):
        """The dev score that picks the best model: the run's `task.json` `metric`."""
        return task_info["metric"]

    def read(self, path, strict=False):
        return read_tsv(path, strict)

    def prepare(self, train_examples, vocabulary, config, dev_examples=()):
        options = resolve_options(self.options(config), train_examples)
        info = {"options": options, "metric": options["metric"], "labels": None}
        examples = self.select(train_examples, info)
        if not examples:
            raise ValueError("No training example is left after choosing the columns.")
        if not options["regression"]:
            info["labels"] = sorted({e["label"] for e in examples})
        return info

    def select(self, examples, task_info):
        if not examples:
            return []
        if "fields" not in examples[0]:
            return examples  # already chosen
        o = task_info["options"]
        id_column = o["id_column"]
        if id_column is None and o["header"]:
            index = INDEX_COLUMNS.get(o["task"], INDEX_COLUMN) if o["task"] else None
            id_column = index if index in first_line(examples) else None
        chosen, problems = select_columns(
            examples, examples[0]["path"], o["text_a"], o["text_b"], o["label"], o["header"],
            id_column, o["regression"],
        )
        warn_count(problems, "line(s) skipped")
        return chosen

    def feature_inputs(self, examples):
        inputs = {"text_a": strings([e["text_a"] for e in examples])}
        if examples and examples[0]["text_b"] is not None:
            inputs["text_b"] = strings([e["text_b"] for e in examples])
        return inputs

    def targets(self, examples, task_info):
        if task_info["options"]["regression"]:
            y = np.array([[e["label"]] for e in examples], np.float32).reshape(-1, 1)
            return y, np.ones(len(examples), np.float32), []
        return super().targets(examples, task_info)

    def features(self, vocabulary, task_info, config):
        return TextFeatures(vocabulary, config.sequence_length)

    def num_classes(self, task_info):
        return 1 if task_info["options"]["regression"] else len(task_info["labels"])

    def loss(self, task_info, config):
        if task_info["options"]["regression"]:
            return keras.losses.MeanSquaredError()
        return super().loss(task_info, config)

    def serving(self, model, vocabulary, task_info, config):
        from spanbert_keras.export.serving.classification import TextClassificationServing

        return TextClassificationServing(
            model, self.features(vocabulary, task_info, config), task_info["labels"],
            pairs=task_info["options"]["text_b"] is not None,
        )

    def serving_inputs(self, examples):
        inputs = self.feature_inputs(examples)
        return inputs if "text_b" in inputs else {"text": inputs["text_a"]}

    def decode(self, outputs, row):
        if "label" in outputs:
            return super().decode(outputs, row)
        return float(outputs["score"][row])

    def score(self, predictions, examples, task_info):
        gold, predicted = self.gold_and_predicted(predictions, examples, task_info)
        options = task_info["options"]
        if options["regression"]:
            scores = regression_metrics(gold, predicted)
        else:
            scores = classification_metrics(gold, predicted, options["positive_label"])
        metric = task_info["metric"]
        return {metric: scores[metric], **{k: v for k, v in scores.items() if k != metric}}

    def export_settings(self, task_info, config):
        return {"labels": task_info["labels"], "regression": task_info["options"]["regression"],
                "pairs": task_info["options"]["text_b"] is not None}


TASK = GlueTask()
