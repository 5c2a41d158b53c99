"""What the TACRED, GLUE and NER tasks share: labels, datasets, prediction, export.

The three tasks are one shape (reader -> in-graph features -> encoder +
head -> decoding + metric -> serving), so `EncoderTask` implements the
`FinetuneTask` steps once and a task fills in its parts:

- `select(examples, task_info)`: the examples as its features want them
  (GLUE and NER choose columns here, with the options saved in `task_info`:
  `read` runs before a task knows its options);
- `feature_inputs(examples)` / `targets(examples, task_info)`: tensors whose
  slices are the examples, and the labels with their weights (0 for a label
  the model does not know);
- `features(vocabulary, task_info, config)`: the task's in-graph features;
  `model_batch(features, inputs, y, weights)`: a batch for `fit`;
- `serving(model, vocabulary, task_info, config)` and
  `serving_inputs(examples)`: the exported signature, which `predict` also
  runs (so the predictions file holds what the SavedModel answers), and
  `decode(outputs, row)`: one example's prediction.

Problems found after reading (a label unknown to the model at evaluation
time, a cut entity, ...) are counted warnings naming the file and line.
"""

import abc
import dataclasses
import warnings

import keras
import numpy as np
import tensorflow as tf

from spanbert_keras.data.bad_records import summarize
from spanbert_keras.data.features import MODEL_INPUTS
from spanbert_keras.tasks.base import FinetuneTask
from spanbert_keras.tasks.base import export_training


def warn_count(lines, what):
    """One warning for a list of problem lines (nothing if it is empty)."""
    if lines:
        # Attributed to our module (the caller of warn_count), so tests treat an
        # unexpected one as an error.
        warnings.warn(summarize(lines, what), stacklevel=2)


def encode_labels(examples, labels, key="label"):
    """Label ids (0 and weight 0 where unknown), weights, and the unknown ones' lines.

    Example:

    >>> ids, weights, unknown = encode_labels(
    ...     [{"label": "b", "where": "f: line 2"}, {"label": "z", "where": "f: line 3"}],
    ...     ["a", "b"])
    >>> ids.tolist(), weights.tolist(), unknown
    ([1, 0], [1.0, 0.0], ["f: line 3: label 'z' is not one of the model's 2 labels"])
    """
    index = {label: i for i, label in enumerate(labels)}
    ids = np.zeros(len(examples), np.int32)
    weights = np.zeros(len(examples), np.float32)
    unknown = []
    for row, example in enumerate(examples):
        label = example[key]
        if label in index:
            ids[row], weights[row] = index[label], 1.0
        else:
            unknown.append(f"{example['where']}: label {label!r} is not one of the model's "
                           f"{len(labels)} labels")
    return ids, weights, unknown


def strings(rows, width=None):
    """A string tensor `[N]` of `rows`, or `[N, width]` of lists padded with "" (UTF-8)."""
    if width is None:
        return tf.constant(list(rows), tf.string, shape=[len(rows)])
    padded = [list(row) + [""] * (width - len(row)) for row in rows]
    return tf.constant(padded, tf.string, shape=[len(rows), width])


def options_dict(options):
    return dataclasses.asdict(options) if options is not None else {}


class EncoderTask(FinetuneTask):
    """A `FinetuneTask` whose model is the encoder with one head (see the module docstring)."""

    model_class = None
    predict_signature = "serving_default"
    unknown_label_message = "evaluation label(s) the model was not trained on (never predicted)"

    # ------------------------------------------------------------ the parts
    def select(self, examples, task_info):
        return examples

    @abc.abstractmethod
    def feature_inputs(self, examples):
        """The examples as the model's raw inputs: a dict of tensors (strings, ragged words, ...)."""

    def targets(self, examples, task_info):
        """`(y, weights, problem lines)`; default: class ids of `task_info["labels"]`."""
        return encode_labels(examples, task_info["labels"])

    @abc.abstractmethod
    def features(self, vocabulary, task_info, config):
        """The task's in-graph features (a `tf.Module` mapping raw inputs to the model's)."""

    def model_batch(self, features, inputs, y, weights):
        """`(x, y, sample_weight)` of a batch; default: the features of `inputs` as x."""
        out = features(**inputs)
        return {k: out[k] for k in MODEL_INPUTS}, y, weights

    @abc.abstractmethod
    def serving_inputs(self, examples):
        """The examples as the `predict_signature`'s inputs (a dict of tensors)."""

    def decode(self, outputs, row):
        return outputs["label"][row].decode("utf-8")

    def prediction_problems(self, outputs, examples, task_info):
        """Problem lines of a predicted chunk (default: none)."""
        return []

    def num_classes(self, task_info):
        return len(task_info["labels"])

    def export_settings(self, task_info, config):
        """The task's own fields of `export_info.json` (`settings`); default: none."""
        return {}

    # ------------------------------------------------------- FinetuneTask
    def dataset(self, examples, vocabulary, task_info, config, training):
        examples = self.select(examples, task_info)
        features = self.features(vocabulary, task_info, config)
        y, weights, unknown = self.targets(examples, task_info)
        warn_count(unknown, self.unknown_label_message)
        dataset = tf.data.Dataset.from_tensor_slices((self.feature_inputs(examples), y, weights))
        if training:
            dataset = dataset.shuffle(max(len(examples), 1), seed=config.seed,
                                      reshuffle_each_iteration=True)
        dataset = dataset.batch(config.batch_size, drop_remainder=training)

        def to_model(inputs, y, weights):
            return self.model_batch(features, inputs, y, weights)

        return dataset.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
            tf.data.AUTOTUNE
        )

    def build_model(self, backbone, task_info, config):
        return self.model_class(backbone, num_classes=self.num_classes(task_info),
                                dropout=config.dropout)

    def loss(self, task_info, config):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def predict(self, model, examples, vocabulary, task_info, config):
        examples = self.select(examples, task_info)
        function = self.serving(model, vocabulary, task_info, config).functions()[
            self.predict_signature
        ]
        predictions, problems = {}, []
        size = max(int(config.batch_size), 1)
        for start in range(0, len(examples), size):
            chunk = examples[start : start + size]
            outputs = function(**self.serving_inputs(chunk))
            outputs = {key: value.numpy() for key, value in outputs.items()}
            for row, example in enumerate(chunk):
                predictions[example["id"]] = self.decode(outputs, row)
            problems += self.prediction_problems(outputs, chunk, task_info)
        warn_count(problems, "prediction(s) made on cut inputs")
        return predictions

    def gold_and_predicted(self, predictions, examples, task_info, key="label"):
        """The gold labels and the predictions of the selected examples, in order."""
        examples = self.select(examples, task_info)
        missing = [e["id"] for e in examples if e["id"] not in predictions]
        if missing:
            raise ValueError(
                f"No prediction for {len(missing)} example(s), e.g. ids {missing[:5]}."
            )
        if task_info.get("labels") is not None and key == "label":
            warn_count(encode_labels(examples, task_info["labels"])[2],
                       self.unknown_label_message)
        return [e[key] for e in examples], [predictions[e["id"]] for e in examples]

    def export(self, model, vocabulary, task_info, config, export_dir, overwrite=False):
        serving = self.serving(model, vocabulary, task_info, config)
        return serving.export(export_dir, self.name, self.export_settings(task_info, config),
                              export_training(config, task_info), overwrite=overwrite)
