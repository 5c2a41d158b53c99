"""The contract between a fine-tuning task and the runner that trains, scores and exports it.

A task is five small parts with one contract between each (reader ->
features -> model -> decoding + metric -> serving). The parts live by role
(`data/` readers and features, `layers/` heads, `models/` task models,
`metrics/`, `export/serving/`); a task module in `spanbert_keras/tasks/`
ties them together by subclassing `FinetuneTask`. The runner
(`spanbert_keras.finetuning.runner`) owns everything shared: the run
directory, resume, TensorBoard, the optimiser, `fit`, the predictions file,
the metrics line and the export.
"""

import abc
import dataclasses

from spanbert_keras.config import FinetuneConfig
from spanbert_keras.config import check_fields
from spanbert_keras.config import finetune_overrides
from spanbert_keras.config import merged_training_section
from spanbert_keras.config import read_yaml_mapping
from spanbert_keras.files import write_json


def export_training(config, task_info):
    """A fine-tuned model's `training` in `export_info.json`: its config and `task_info`."""
    return {"finetune": dataclasses.asdict(config), "task_info": task_info}


def is_small_encoder(encoder):
    """Whether `encoder` is narrower than BERT-base (768): it takes a task's small-encoder recipe.

    >>> from types import SimpleNamespace
    >>> is_small_encoder(SimpleNamespace(hidden_dim=128)), is_small_encoder(None)
    (True, False)
    """
    return encoder is not None and int(encoder.hidden_dim) < SMALL_ENCODER_BELOW


def finetune_config(values=None, task=None, source="config", train_file=None, encoder=None):
    """A `FinetuneConfig`: the task's defaults, then `values` (checked).

    The defaults are `task.config_defaults_for(options, train_file)`: the
    task's `config_defaults`, adjusted for the run's options and training
    file (CoLA's 4 epochs, MRQA's 5 evaluations an epoch); for an `encoder`
    narrower than BERT-base, the task's `small_encoder_defaults` replace
    them where they differ (options merged). Unknown keys and values of the
    wrong type are refused with an error that names them and `source`; a
    `task` key in `values` must name `task`.

    Example:

    >>> from spanbert_keras.tasks.base import finetune_config
    >>> finetune_config({"learning_rate": 1e-4, "options": {"version_2": True}}).learning_rate
    0.0001
    """
    values = merged_training_section(values, source)
    named = values.pop("task", None)
    if task is not None and named is not None and named != task.name:
        raise ValueError(f"{source} is a config of task {named!r}, not {task.name!r}.")
    options = values.get("options") if isinstance(values.get("options"), dict) else {}
    given = dict(task.config_defaults_for(options, train_file)) if task is not None else {}
    if task is not None and is_small_encoder(encoder):
        small = dict(task.small_encoder_defaults)
        given["options"] = {**given.get("options", {}), **small.pop("options", {})}
        given.update(small)
    given_options = given.get("options", {})
    given.update(values)
    if isinstance(values.get("options"), dict):
        given["options"] = {**given_options, **values["options"]}
    check_fields(FinetuneConfig, given, source)
    given["options"] = dict(given.get("options") or {})
    return FinetuneConfig(**given)


def load_finetune_config(path, task=None, train_file=None, encoder=None):
    """Reads a fine-tuning config from YAML (a run's `config.yaml` too).

    The file holds `FinetuneConfig` fields at the top level (and optionally
    `task: NAME`); missing fields take the task's defaults (see
    `finetune_config`).
    """
    values = read_yaml_mapping(path, "FinetuneConfig fields")
    return finetune_config(values, task, source=path, train_file=train_file, encoder=encoder)


def apply_finetune_overrides(config, overrides, task=None):
    """A new config with `KEY=VALUE` strings applied (see `spanbert_keras.config.finetune_overrides`).

    Example:

    >>> from spanbert_keras.config import FinetuneConfig
    >>> from spanbert_keras.tasks.base import apply_finetune_overrides
    >>> config = apply_finetune_overrides(FinetuneConfig(), ["epochs=2", "learning_rate=1e-4",
    ...                                                      "options.doc_stride=64"])
    >>> config.epochs, config.learning_rate, config.options
    (2, 0.0001, {'doc_stride': 64})
    """
    return finetune_config(finetune_overrides(config.to_dict(), overrides), task, source="overrides")


# Encoders narrower than this (BERT-base's width) take a task's `small_encoder_defaults`.
SMALL_ENCODER_BELOW = 768


class FinetuneTask(abc.ABC):
    """One fine-tuning task. Subclass it in `spanbert_keras/tasks/NAME.py` as `TASK`.

    Attributes:
        name: str, the CLI name (`spanbert-keras finetune NAME`).
        metric_name: the key of `score`'s result that selects the best dev
            evaluation (higher is better): a str, or a method
            `metric_name(task_info, config)` where it depends on the run
            (SQuAD v2.0's `best_f1`, each GLUE task's own).
        options_class: a dataclass of the task's own options (defaults: the
            authors'), or None.
        config_defaults: dict of `FinetuneConfig` fields that differ for
            this task (e.g. `{"sequence_length": 512}` for SQuAD); a task
            whose defaults depend on its options or training file overrides
            `config_defaults_for`.
        small_encoder_defaults: dict of fields (and `options`) measured to
            teach an encoder narrower than BERT-base (`tiny`, `austen-tiny`)
            the task; the paper's recipe, made for base and large, is the
            default otherwise. Settings given explicitly win over both.

    The runner calls, in this order:

    1. `read(path, strict)` -> `(examples, problems)`: a file into a list of
       example dicts (the dict contract is documented by the reader), and a
       list of one-line problem descriptions naming the file and line or
       record of each bad record that was skipped (`strict=True` raises
       `ValueError` on the first one instead). Never a silent drop.
    2. `prepare(train_examples, vocabulary, config, dev_examples)` ->
       `task_info`: a JSON-serialisable dict fixed for the run (labels,
       marker pieces, ...; TACRED's markers follow the authors' first-use
       order over the dev set, then the training set);
       the runner saves it as `task.json` in the run directory and passes it
       to every later call, so evaluation and export need no training data.
    3. `dataset(examples, vocabulary, task_info, config, training)` -> a
       batched `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)`;
       shuffled and `drop_remainder=True` when `training`.
    4. `build_model(backbone, task_info, config)` -> an uncompiled
       `keras.Model` whose encoder is `backbone`.
    5. `loss(task_info, config)` -> what `compile(loss=...)` takes. The
       runner calls `compile_args(task_info, config)`, which returns
       `{"loss": loss(...)}` unless a task overrides it to add other
       `compile` arguments (`loss_weights`, `metrics`).
    6. `predict(model, examples, vocabulary, task_info, config)` ->
       predictions, a JSON-serialisable dict keyed by example id, in the
       format the task's official scorer reads.
    7. `score(predictions, examples, task_info)` -> dict of float metrics.
       After the run's own dev set is scored, the runner calls
       `calibrate(task_info, metrics)` and saves what it returns as the new
       `task.json` (SQuAD v2.0 stores its dev-chosen no-answer threshold
       there), so later predictions and the export use it.
    8. `export(model, vocabulary, task_info, config, export_dir, overwrite)`
       -> dict of written paths: a SavedModel in TF Serving's layout that
       takes strings and loads without this package; its signatures are
       `serving(model, vocabulary, task_info, config)`'s, which
       `spanbert_keras.finetuning.pipeline` runs in Python.
    """

    name = None
    metric_name = None
    options_class = None
    config_defaults = {}
    small_encoder_defaults = {}

    def config_defaults_for(self, options, train_file=None):
        """The `config_defaults` of a run with these options (a dict) and training file."""
        return dict(self.config_defaults)

    def options(self, config):
        """The task's options object from `config.options`.

        Read by the rules of every other setting (`spanbert_keras.config.check_fields`):
        unknown keys refused, numbers in any usual notation coerced to the field's type.
        """
        if self.options_class is None:
            if config.options:
                raise ValueError(f"Task {self.name!r} takes no options; got {sorted(config.options)}.")
            return None
        known = {f.name for f in dataclasses.fields(self.options_class)}
        unknown = sorted(set(config.options) - known)
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for task {self.name!r}; known: {sorted(known)}."
            )
        values = dict(config.options)
        check_fields(self.options_class, values, f"task {self.name!r} options")
        return self.options_class(**values)

    @abc.abstractmethod
    def read(self, path, strict=False):
        """`(examples, problems)` from a file (step 1 above)."""

    def prepare(self, train_examples, vocabulary, config, dev_examples=()):
        return {}

    @abc.abstractmethod
    def dataset(self, examples, vocabulary, task_info, config, training):
        """A batched `tf.data.Dataset` of `(x, y[, sample_weight])` (step 3)."""

    @abc.abstractmethod
    def build_model(self, backbone, task_info, config):
        """An uncompiled `keras.Model` around `backbone` (step 4)."""

    @abc.abstractmethod
    def loss(self, task_info, config):
        """What `compile(loss=...)` takes (step 5)."""

    def compile_args(self, task_info, config):
        """`compile` keyword arguments besides the optimizer (default: the loss)."""
        return {"loss": self.loss(task_info, config)}

    @abc.abstractmethod
    def predict(self, model, examples, vocabulary, task_info, config):
        """Predictions keyed by example id, in the official scorer's format (step 6)."""

    @abc.abstractmethod
    def score(self, predictions, examples, task_info):
        """A dict of float metrics (step 7)."""

    def calibrate(self, task_info, metrics):
        """`task_info` updated from the run's dev `metrics` (default: unchanged)."""
        return task_info

    def write_predictions(self, predictions, path, examples=()):
        """Writes `predictions` (of `examples`) as JSON, atomically (override for other formats)."""
        return write_json(path, predictions)

    def task_learning_rate(self, task_info, config, model):
        """`(rate, variables)` trained at a rate of their own (default None: one rate).

        Coreference trains its scorer at `options.task_learning_rate` and the
        encoder at `learning_rate`, as the authors do.
        """
        return None

    @abc.abstractmethod
    def serving(self, model, vocabulary, task_info, config):
        """The task's `TaskServing`: the signatures its export writes and `pipeline` runs."""

    @abc.abstractmethod
    def export(self, model, vocabulary, task_info, config, export_dir, overwrite=False):
        """The written paths of a strings-in SavedModel (step 8)."""
