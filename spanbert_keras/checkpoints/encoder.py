"""The one resolver of "an encoder to start from": preset names, run directories, files, checkpoints.

`load_encoder(init)` returns `(backbone, vocabulary)` from:

- a built-in preset's name (`"austen-tiny"`, see `spanbert_keras.resources.presets`);
- a `spanbert-keras pretrain` (or `import`) run directory: its
  `encoder.keras`, else the encoder of its `model.keras` / last backup, and
  its `vocab.txt`;
- a fine-tuning run directory: the encoder of its `model.keras`;
- a `.keras` file of an encoder (`SpanBertBackbone` / keras-hub
  `BertBackbone`) or of a model with a `.backbone` (a pretrainer, a task
  model), with `vocab.txt` beside it or given as `vocab`;
- a released checkpoint (Hugging Face directory, the authors' `model.pt`,
  a keras-hub preset), read by `load_pretrained`.

Fine-tuning (`--init`), `SpanBertBackbone.from_preset`,
`SpanBertTokenizer.from_preset` and the task models' `from_preset` all use
it: importing this package registers it with `spanbert_keras.preset_loading`.
"""

import os

import keras

from spanbert_keras import preset_loading
from spanbert_keras.checkpoint_sizes import SAFETENSORS_FILE
from spanbert_keras.checkpoints.keras_hub import is_keras_hub_preset
from spanbert_keras.checkpoints.load import load_pretrained
from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.resources.presets import resolve_preset
from spanbert_keras.run_layout import RunDirectory
from spanbert_keras.training.checkpointing import run_vocabulary
from spanbert_keras.training.pretrain import load_pretraining_run


def load_keras_file(path):
    """`keras.saving.load_model(path)` uncompiled; a damaged file is one `ValueError` naming it."""
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # h5 / zip / deserialisation errors of a damaged file
        raise ValueError(f"{path}: cannot be loaded as a Keras model ({error})") from None


def _is_backbone(obj):
    return hasattr(obj, "token_embedding") and hasattr(obj, "transformer_layers")


def _from_checkpoint(path, vocab, log):
    model = load_pretrained(path, vocabulary=vocab, log=log)
    return model.backbone, model.import_report.vocabulary


def load_encoder(init, vocab=None, log=print):
    """The encoder and its vocabulary from `init` (see the module docstring).

    Args:
        init: a run directory, a `.keras` file, a released checkpoint or
            the name of a built-in preset (`"austen-tiny"`).
        vocab: optional `vocab.txt` (or `Vocabulary`) in place of the one
            `init` comes with.
        log: callable for messages.

    Returns:
        `(backbone, vocabulary)`; their sizes agree.
    """
    path = resolve_preset(init)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--init not found: {path}")
    run = RunDirectory(path)
    if os.path.isdir(path) and os.path.isfile(run.config):
        vocabulary = load_vocabulary(vocab) if vocab else run_vocabulary(path)
        encoder, model = run.encoder, run.model
        if os.path.isfile(encoder):
            backbone = load_keras_file(encoder)
        elif os.path.isfile(model) and not _is_pretraining_run(path):
            backbone = load_keras_file(model).backbone  # a fine-tuning run
        else:
            backbone = load_pretraining_run(path)[0].backbone
    elif os.path.isfile(path) and path.endswith(".keras"):
        loaded = load_keras_file(path)
        backbone = loaded if _is_backbone(loaded) else getattr(loaded, "backbone", None)
        if backbone is None or not _is_backbone(backbone):
            raise ValueError(
                f"{path} holds a {type(loaded).__name__}, not an encoder or a model with one."
            )
        beside = os.path.join(os.path.dirname(os.path.abspath(path)), RunDirectory.VOCAB_FILE)
        if vocab is None and not os.path.isfile(beside):
            raise FileNotFoundError(
                f"No vocabulary for {path}: put its vocab.txt beside it or pass --vocab."
            )
        vocabulary = load_vocabulary(vocab or beside)
    else:
        backbone, vocabulary = _from_checkpoint(path, vocab, log)
    if backbone.vocabulary_size != vocabulary.size:
        raise ValueError(
            f"The encoder of {path} has {backbone.vocabulary_size} token embeddings but "
            f"its vocabulary has {vocabulary.size} pieces."
        )
    return backbone, vocabulary




def _is_pretraining_run(path):
    return not os.path.isfile(RunDirectory(path).task_info)


def _local(preset):
    """The local path a preset argument names (a built-in name resolved), or None."""
    if not isinstance(preset, (str, os.PathLike)):
        return None
    path = resolve_preset(preset)
    return path if os.path.exists(path) else None


def _encoder(preset):
    """Ours: a built-in preset's name, a run directory, a `.keras` file, a checkpoint keras-hub
    cannot read (the authors' `model.pt`, `.bin` files); None for the rest (keras-hub reads a
    Hugging Face safetensors folder or a keras-hub preset without needing a vocabulary)."""
    path = _local(preset)
    if path is None:
        return None
    ours = (resolve_preset(preset) != os.fspath(preset)
            or os.path.isfile(RunDirectory(path).config) or path.endswith(".keras"))
    if not ours and os.path.isdir(path) and (
            is_keras_hub_preset(path)
            or os.path.isfile(os.path.join(path, SAFETENSORS_FILE))):
        return None
    return load_encoder(preset, log=None)


def _task_model(preset):
    path = _local(preset)
    if path is None or not os.path.isfile(RunDirectory(path).task_info):
        return None
    model = RunDirectory(path).model
    if not os.path.isfile(model):
        raise FileNotFoundError(
            f"{path} has no {RunDirectory.MODEL_FILE} yet: finish the run first.")
    return load_keras_file(model)


def _pretrainer(preset):
    path = _local(preset)
    if path is None:
        return None
    if os.path.isfile(RunDirectory(path).task_info):
        raise ValueError(f"{path} is a fine-tuning run: it has no pre-training heads; load its "
                         "encoder with SpanBertBackbone.from_preset.")
    if os.path.isfile(RunDirectory(path).config):
        return load_pretraining_run(path)[0]
    return load_pretrained(preset, log=None)  # by name: with the preset's own preprocessor


preset_loading.register("encoder", _encoder)
preset_loading.register("task_model", _task_model)
preset_loading.register("pretrainer", _pretrainer)
