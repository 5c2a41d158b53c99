"""What every export shares: TF Serving's version directories, staging, `export_info.json`.

TF Serving watches `saved_models/NAME/VERSION/` (VERSION an integer) and
loads a version as soon as it appears, so an export is written to a staging
directory beside it (a name that is not an integer) and renamed into place
once complete. Each version directory holds an `export_info.json`: what was
exported, its signatures (read back from the saved graph), the
tensorflow-text ops the graph needs and the oldest TF Serving release that
links them.

Every export, pre-trained encoder or fine-tuned task, writes the same
fields (`describe_export` builds them, `write_export_info` adds the graph's):

| field | meaning |
|---|---|
| `schema_version` | 1 |
| `format` | `"tf_saved_model"` |
| `name`, `version` | the `saved_models/NAME/VERSION` it was written to |
| `task` | `"pretraining"`, a fine-tuning task (`"squad"`, `"tacred"`, `"glue"`, `"ner"`, `"coref"`) or `"question_answering"` (a QA model exported outside a run) |
| `inputs` | `"text"` (strings in, tokenised in the graph) or `"ids"` (token ids in) |
| `portable` | true when the graph holds no tensorflow-text op (a plain `import tensorflow` loads it) |
| `load` | the Python line that loads it |
| `companion` | the other SavedModel of the same export (the ids-only one of a text model and back), relative; null if none |
| `model` | the Keras class and its encoder's shape: `class`, `num_layers`, `hidden_dim`, `num_heads`, `intermediate_dim`, `max_sequence_length`, `dtype_policy` |
| `sequence_length` | the packed length of text inputs |
| `vocabulary_size`, `vocabulary_file`, `special_token_ids` | the vocabulary, in `assets/` |
| `settings` | what the signatures do that is the task's own: labels, windows, the no-answer threshold, top-k, the masker, ... |
| `training` | the configuration the model was trained with (a pre-training config, or a fine-tuning config and its task's `task_info`); null if unknown |
| `signatures` | every signature's description, inputs and outputs (names, dtypes, shapes) |
| `tensorflow_text_ops`, `other_custom_ops`, `min_tf_serving_version`, `tf_serving_release_for_op` | the ops beyond core TensorFlow and the oldest TF Serving that links them |
| `versions` | TensorFlow, Keras and tensorflow-text at export |
"""

import dataclasses
import json
import os
import shutil

import tensorflow as tf

from spanbert_keras.data.vocabulary import SPECIAL_TOKENS
from spanbert_keras.files import check_directory_path
from spanbert_keras.files import member_path
from spanbert_keras.files import move_into_place
from spanbert_keras.files import stage_dir

VOCAB_ASSET = "vocab.txt"
INFO_FILE = "export_info.json"
PORTABLE_SUFFIX = "-ids"
SCHEMA_VERSION = 1
# The fields `describe_export` writes, in order, and those `write_export_info` adds.
DESCRIPTION_FIELDS = (
    "schema_version", "format", "name", "version", "task", "inputs", "portable", "load",
    "companion", "model", "sequence_length", "vocabulary_size", "vocabulary_file",
    "special_token_ids", "settings", "training",
)
GRAPH_FIELDS = ("signatures", "tensorflow_text_ops", "other_custom_ops",
                "min_tf_serving_version", "tf_serving_release_for_op", "versions")
LOAD_TEXT = "import tensorflow as tf, tensorflow_text; tf.saved_model.load(path)"
LOAD_IDS = "import tensorflow as tf; tf.saved_model.load(path)"

# The oldest TF Serving release whose model server links each tensorflow-text
# op (from the tf-text archive each TF Serving release pins; 2.8 is the
# oldest release checked). Ops not listed here need a custom server build.
TF_SERVING_RELEASE_FOR_OP = {
    "CaseFoldUTF8": "2.8.0",
    "NormalizeUTF8": "2.8.0",
    "RegexSplitWithOffsets": "2.8.0",
    "WordpieceTokenizeWithOffsets": "2.8.0",
    "FastWordpieceTokenizeWithOffsets": "2.10.0",
    "FastBertNormalize": "2.12.0",
    "TFText>RoundRobinTrim": "2.20.0",
}


def version_dirs(export_dir):
    """`(saved_models/NAME/VERSION, saved_models/NAME-ids/VERSION)`, absolute, checked."""
    if export_dir is None or not str(export_dir).strip():
        raise ValueError("`export_dir` must be a path like saved_models/NAME/VERSION.")
    parts = os.fspath(export_dir).replace(os.sep, "/").rstrip("/").split("/")
    if len(parts) < 2 or any(part in ("", ".", "..") for part in parts[-2:]):
        raise ValueError(
            "`export_dir` must end in NAME/VERSION, two plain directory names "
            f"(saved_models/NAME/VERSION). Received: {export_dir}"
        )
    version_dir = os.path.abspath(os.fspath(export_dir))
    version = os.path.basename(version_dir)
    name_dir = os.path.dirname(version_dir)
    name = os.path.basename(name_dir)
    if not version.isdigit():
        raise ValueError(
            "`export_dir` must end in an integer version directory, as TF Serving "
            f"expects (saved_models/NAME/VERSION, e.g. saved_models/{name}/1). "
            f"Received: {export_dir}"
        )
    if not name or name.endswith(PORTABLE_SUFFIX):
        raise ValueError(
            f"The model name (the directory above VERSION) must be non-empty and not "
            f"end in {PORTABLE_SUFFIX!r} (reserved for the portable ids-only model). "
            f"Received: {export_dir}"
        )
    check_directory_path(version_dir)
    portable_dir = os.path.join(os.path.dirname(name_dir), name + PORTABLE_SUFFIX, version)
    return version_dir, portable_dir


def export_path(root, name, version=1):
    """`root/NAME/VERSION` for an export NAME given apart from its root (the pipeline's).

    NAME must be a plain directory name: nothing given on the command line
    writes outside the export root.

    Example:

    >>> export_path("saved_models", "spanbert-demo")
    'saved_models/spanbert-demo/1'
    >>> export_path("saved_models", "../../x")
    Traceback (most recent call last):
    ...
    ValueError: the export name names '../../x', which is not a plain file name in saved_models; refused.
    """
    return os.path.join(member_path(root, name, "the export name"), str(int(version)))


def tflite_path(export_dir, quantization=None):
    """Where the TFLite file of an export goes: `saved_models/NAME[-QUANTIZATION].tflite`.

    Example:

    >>> import os
    >>> from spanbert_keras.export.archive import tflite_path
    >>> os.path.relpath(tflite_path("saved_models/cat/3", "float16"))
    'saved_models/cat-float16.tflite'
    """
    version_dir, _ = version_dirs(export_dir)
    name_dir = os.path.dirname(version_dir)
    suffix = "" if quantization is None else f"-{quantization}"
    return os.path.join(os.path.dirname(name_dir), os.path.basename(name_dir) + suffix + ".tflite")


def check_free(paths, overwrite, kind="directory"):
    """Refuses existing outputs unless `overwrite`, and an output of the wrong kind.

    Args:
        paths: the outputs.
        overwrite: bool, existing outputs may be replaced.
        kind: `"directory"` or `"file"`, what each output is.
    """
    for path in paths:
        check_directory_path(os.path.dirname(os.path.abspath(path)))
        if not os.path.lexists(path):
            continue
        if not overwrite:
            raise FileExistsError(
                f"{path} already exists; choose another version number or pass "
                "overwrite=True (--overwrite) to replace it."
            )
        if (kind == "directory") != os.path.isdir(path):
            raise FileExistsError(f"{path} exists and is not a {kind}.")


def vocabulary_table(vocab_file):
    """An id -> wordpiece lookup table read from `vocab_file`.

    Track it in a `keras.export.ExportArchive` and its file becomes the
    SavedModel's `assets/vocab.txt` (the archive keeps a table's asset, and
    drops a plain `tf.saved_model.Asset`).
    """
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(
            os.fspath(vocab_file),
            key_dtype=tf.int64,
            key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
            value_dtype=tf.string,
            value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
        ),
        default_value="[UNK]",
    )


def write_version(export_dir, write, info, overwrite=False):
    """Writes one SavedModel version as a unit: staged, described, then moved into place.

    Args:
        export_dir: `saved_models/NAME/VERSION`.
        write: callable writing the SavedModel into the directory it is given.
        info: the model's fields of `export_info.json` (see `write_export_info`).
        overwrite: bool, replace an existing version.

    Returns:
        `(version directory, the export_info dict written)`.
    """
    version_dir, _ = version_dirs(export_dir)
    check_free((version_dir,), overwrite)
    stage = stage_dir(version_dir)
    try:
        write(stage)
        info = write_export_info(stage, info)
        move_into_place([(stage, version_dir)])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return version_dir, info


def describe_export(version_dir, task, model, vocabulary, sequence_length, settings,
                    training=None, inputs="text", companion=None):
    """The fields of `export_info.json` that describe the model (the table above).

    Args:
        version_dir: the final `saved_models/NAME/VERSION`.
        task: str, `"pretraining"` or the task's name.
        model: the exported Keras model (its `backbone` gives the shape).
        vocabulary: the `Vocabulary` written to `assets/`.
        sequence_length: int, the packed length of text inputs.
        settings: JSON-ready dict, the task's own fields.
        training: the training configuration (a config object with
            `to_dict`, a dataclass or a JSON-ready dict) or None.
        inputs: `"text"` or `"ids"`.
        companion: the other SavedModel's version directory, or None.
    """
    backbone = model.backbone
    return {
        "schema_version": SCHEMA_VERSION,
        "format": "tf_saved_model",
        "name": os.path.basename(os.path.dirname(version_dir)),
        "version": int(os.path.basename(version_dir)),
        "task": task,
        "inputs": inputs,
        "portable": inputs == "ids",
        "load": LOAD_IDS if inputs == "ids" else LOAD_TEXT,
        "companion": None if companion is None else os.path.relpath(companion, version_dir),
        "model": {
            "class": type(model).__name__,
            "num_layers": backbone.num_layers,
            "hidden_dim": backbone.hidden_dim,
            "num_heads": backbone.num_heads,
            "intermediate_dim": backbone.intermediate_dim,
            "max_sequence_length": backbone.max_sequence_length,
            "dtype_policy": model.dtype_policy.name,
        },
        "sequence_length": int(sequence_length),
        "vocabulary_size": vocabulary.size,
        "vocabulary_file": f"assets/{VOCAB_ASSET}",
        "special_token_ids": {token: vocabulary.token_to_id(token) for token in SPECIAL_TOKENS},
        "settings": _plain_json(settings),
        "training": _plain_json(training),
    }


def _plain_json(value):
    """A config object, dataclass or dict as plain JSON values (None stays None)."""
    if value is None:
        return None
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    elif dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    if not isinstance(value, dict):
        raise TypeError("A configuration must be a config object, a dataclass or a dict. "
                        f"Received: {type(value).__name__}")
    return json.loads(json.dumps(value, default=str))


def write_export_info(path, info):
    """Completes `info` with the graph's signatures and ops; writes `export_info.json`.

    Returns:
        The written dict: `info` plus `signatures`, `tensorflow_text_ops`,
        `other_custom_ops`, `min_tf_serving_version`,
        `tf_serving_release_for_op` and `versions`.
    """
    import keras

    ops, signatures = saved_model_signatures(path)
    text_ops, other_ops = _classify_custom_ops(ops)
    releases = [TF_SERVING_RELEASE_FOR_OP.get(op) for op in text_ops]
    if not text_ops and not other_ops:
        min_serving = "any (no tensorflow-text or other custom op)"
    elif other_ops or None in releases:
        min_serving = "none: needs a model server built with these ops"
    else:
        min_serving = max(releases, key=lambda v: tuple(int(p) for p in v.split(".")))
    info = dict(info)
    descriptions = info.pop("signature_descriptions", {})
    if tuple(info) != DESCRIPTION_FIELDS:  # every export writes one schema
        raise ValueError(f"export_info fields {list(info)} are not the schema's "
                         f"{list(DESCRIPTION_FIELDS)}; build them with describe_export.")
    info.update(
        signatures={
            name: dict(description=descriptions.get(name, ""), **signature)
            for name, signature in signatures.items()
        },
        tensorflow_text_ops=text_ops,
        other_custom_ops=other_ops,
        min_tf_serving_version=min_serving,
        tf_serving_release_for_op={op: TF_SERVING_RELEASE_FOR_OP.get(op) for op in text_ops},
        versions={
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "tensorflow_text": _tensorflow_text_version(),
        },
    )
    with open(os.path.join(path, INFO_FILE), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def read_export_info(export_dir):
    """Reads `export_info.json` of an exported version directory."""
    path = os.path.join(os.fspath(export_dir), INFO_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No {INFO_FILE} in {export_dir}; is it a version directory written "
            "by spanbert-keras export?"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def saved_model_signatures(export_dir):
    """Op types and signatures of a SavedModel, read from its `saved_model.pb`.

    Returns:
        (sorted list of every op type in the graph and its functions,
        dict signature name -> {"inputs": {name: {"dtype", "shape"}},
        "outputs": {...}}); shapes use -1 for unknown sizes.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(os.fspath(export_dir), "saved_model.pb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No saved_model.pb in {export_dir}.")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    signatures = {}
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
        for key, signature in meta_graph.signature_def.items():
            if key.startswith("__"):  # __saved_model_init_op
                continue
            signatures[key] = {
                "inputs": {k: _tensor_info(v) for k, v in sorted(signature.inputs.items())},
                "outputs": {k: _tensor_info(v) for k, v in sorted(signature.outputs.items())},
            }
    return sorted(ops), dict(sorted(signatures.items()))


def _tensor_info(info):
    shape = None
    if not info.tensor_shape.unknown_rank:
        shape = [int(d.size) for d in info.tensor_shape.dim]
    return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}


def _classify_custom_ops(ops):
    """(tensorflow-text ops, other non-core ops) among graph op types."""
    custom = [op for op in ops if not hasattr(tf.raw_ops, op)]
    text_ops = _tensorflow_text_op_names()
    in_text = [op for op in custom if op.replace(">", "_") in text_ops]
    return in_text, [op for op in custom if op not in in_text]


_TEXT_OPS = None


def _tensorflow_text_op_names():
    """Names of the ops tensorflow-text's kernel libraries register."""
    global _TEXT_OPS
    if _TEXT_OPS is None:
        import glob

        import tensorflow_text

        names = set()
        folder = os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops")
        for library in sorted(glob.glob(os.path.join(folder, "_*.so"))):
            module = tf.load_op_library(library)
            names.update(a for a in dir(module) if a[:1].isupper())
        _TEXT_OPS = names
    return _TEXT_OPS


def _tensorflow_text_version():
    try:
        import tensorflow_text

        return tensorflow_text.__version__
    except (ImportError, AttributeError):
        return None
