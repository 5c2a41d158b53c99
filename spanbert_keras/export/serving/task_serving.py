"""What the classification and tagging SavedModels share: tracing, writing, describing.

A task's serving class (`RelationServing`, `TextClassificationServing`,
`TokenTaggingServing`) holds the Keras model and the task's in-graph
features, and lists its signatures (`endpoints`). The same traced functions
serve the task's `predict` (so `predictions.json` is what the SavedModel
answers) and the export, which writes them with `keras.export.ExportArchive`
into one TF Serving version directory (`archive.write_version`: staged,
`export_info.json`, moved into place), the vocabulary in `assets/vocab.txt`.
"""

import abc
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from spanbert_keras.data.features import MODEL_INPUTS
from spanbert_keras.export.archive import VOCAB_ASSET
from spanbert_keras.export.archive import describe_export
from spanbert_keras.export.archive import version_dirs
from spanbert_keras.export.archive import vocabulary_table
from spanbert_keras.export.archive import write_version


class TaskServing(abc.ABC):
    """The signatures of one task model (plain methods; `functions` traces them).

    Subclasses define `endpoints()`: `{signature name: (method, [tf.TensorSpec,
    ...])}` (the first is also `serving_default` if none is so named),
    `descriptions`: `{signature name: one line}`, and `row_lengths`: `{output:
    the output holding its length per row}` for outputs padded per row
    (`rows` cuts them back).

    Args:
        model: the task's Keras model (any dtype policy; outputs float32).
        features: the task's in-graph features (a `tf.Module` with a
            `vocabulary` and a `sequence_length`).
    """

    descriptions = {}
    row_lengths = {}

    def __init__(self, model, features):
        self.model = model
        self.features = features
        self._functions = None

    @abc.abstractmethod
    def endpoints(self):
        """`{signature name: (method, [tf.TensorSpec, ...])}`."""

    def logits(self, features):
        """The model's float32 output on the features' encoder inputs."""
        outputs = self.model({k: features[k] for k in MODEL_INPUTS}, training=False)
        return tf.cast(outputs, tf.float32)

    def functions(self):
        """`{name: tf.function}` of every signature, traced once."""
        if self._functions is None:
            self._functions = {}
            for name, (method, spec) in self.endpoints().items():
                function = tf.function(method, input_signature=spec, autograph=False)
                function.get_concrete_function()
                self._functions[name] = function
        return self._functions

    def rows(self, outputs):
        """A signature's batched outputs as one dict per row: str, numbers and lists, unpadded."""
        outputs = {key: value.numpy() if hasattr(value, "numpy") else value
                   for key, value in outputs.items()}
        count = len(next(iter(outputs.values()))) if outputs else 0
        return [self.describe_row({key: _plain(value[row][: outputs[self.row_lengths[key]][row]]
                                               if key in self.row_lengths else value[row])
                                   for key, value in outputs.items()})
                for row in range(count)]

    def describe_row(self, row):
        """One row of `rows` (a task adds what reads better, e.g. grouped entities)."""
        return row

    def write(self, path):
        """Writes the SavedModel to `path` (the vocabulary file becomes its asset)."""
        vocab_dir = tempfile.mkdtemp(prefix="spanbert-vocab-")
        try:
            vocab_file = self.features.vocabulary.save(os.path.join(vocab_dir, VOCAB_ASSET))
            archive = keras.export.ExportArchive()
            archive.track(self.model)
            archive.track(self.features)
            archive.track(vocabulary_table(vocab_file))
            for name, function in self.functions().items():
                archive.add_endpoint(name, function)
            archive.write_out(path, verbose=False)
        finally:
            shutil.rmtree(vocab_dir, ignore_errors=True)

    def export(self, export_dir, task, settings, training=None, overwrite=False):
        """Writes `saved_models/NAME/VERSION`; returns `{"saved_model", "export_info"}`.

        `task`, `settings` (the task's own fields: labels, options, ...) and
        `training` go to `export_info.json` (`archive.describe_export`); the
        signatures and ops are added by `archive.write_export_info`.
        """
        vocabulary = self.features.vocabulary
        backbone = self.model.backbone
        if vocabulary.size != backbone.vocabulary_size:
            raise ValueError(
                f"The vocabulary has {vocabulary.size} wordpieces but the model was built for "
                f"{backbone.vocabulary_size}; export the model with its own vocabulary."
            )
        version_dir, _ = version_dirs(export_dir)
        info = {
            **describe_export(version_dir, task, self.model, vocabulary,
                              self.features.sequence_length, settings, training),
            "signature_descriptions": dict(self.descriptions),
        }
        version_dir, info = write_version(export_dir, self.write, info, overwrite)
        return {"saved_model": version_dir, "export_info": info}


def _plain(value):
    """NumPy values and bytes as plain Python values and str."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def string_spec(name, rank=1):
    return tf.TensorSpec([None] * rank, tf.string, name=name)


def int_spec(name):
    return tf.TensorSpec([None], tf.int32, name=name)
