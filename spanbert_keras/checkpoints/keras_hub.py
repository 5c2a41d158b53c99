"""keras-hub presets of BERT encoders: read and write.

A preset directory holds `config.json` (the backbone's Keras config),
`metadata.json`, `model.weights.h5` and, with a tokenizer, `tokenizer.json`
(its `lowercase`) and `assets/tokenizer/vocabulary.txt`. A preset holds the
encoder only, so the heads of a model read from one are fresh.

keras-hub's own `BertBackbone` computes the tanh approximation of GeLU (its
BERT presets come from Google's TensorFlow checkpoints, which used it); a
preset written here stores our `SpanBertBackbone` (exact GeLU), which
`keras_hub.models.BertBackbone.from_preset` opens, as a `SpanBertBackbone`,
wherever `spanbert_keras` is imported. keras-hub finds the tokenizer and
task classes of a preset by its backbone class: `import spanbert_keras`
registers keras-hub's BERT classes for ours
(`spanbert_keras.models.keras_hub_tasks`), so `keras_hub.models.
BertTokenizer.from_preset(DIR)`, `BertTextClassifier.from_preset(DIR,
num_classes=2)` and `BertMaskedLM.from_preset(DIR)` open the preset (the
tasks' heads fresh). The Hugging Face directory that `save_pretrained`
writes opens with `BertBackbone.from_preset` and `BertTokenizer.from_preset`
as keras-hub's own classes, without this package (keras-hub's BERT then
computes the tanh form of GeLU).
"""

import os

from spanbert_keras.checkpoints.checkpoint import Checkpoint
from spanbert_keras.checkpoints.huggingface import encoder_config
from spanbert_keras.checkpoints.names import encoder_names
from spanbert_keras.checkpoints.paths import read_json
from spanbert_keras.checkpoints.vocabulary import checkpoint_vocabulary
from spanbert_keras.checkpoints.vocabulary import infer_lowercase
from spanbert_keras.checkpoints.vocabulary import read_lowercase

METADATA_FILE = "metadata.json"
PRESET_CONFIG_FILE = "config.json"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_ASSETS = os.path.join("assets", "tokenizer")
VOCABULARY_ASSET = os.path.join(TOKENIZER_ASSETS, "vocabulary.txt")


def is_keras_hub_preset(directory):
    """True when `directory` looks like a keras-hub preset (not a Hugging Face checkpoint)."""
    if not os.path.isfile(os.path.join(directory, METADATA_FILE)):
        return False
    try:
        config = read_json(os.path.join(directory, PRESET_CONFIG_FILE), "preset config")
    except (FileNotFoundError, ValueError):
        return False
    return "class_name" in config and "model_type" not in config


def read_keras_hub_preset(directory, vocabulary=None):
    """Reads a keras-hub BERT preset directory (`BertBackbone.from_preset`).

    Args:
        directory: the preset directory.
        vocabulary: optional vocabulary in place of the preset's tokenizer
            vocabulary.

    Returns:
        A `Checkpoint` holding the encoder (and pooler).
    """
    import keras_hub

    try:
        backbone = keras_hub.models.BertBackbone.from_preset(directory)
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(
            f"{directory} is a keras-hub preset, but not one of a BERT encoder that keras-hub "
            f"can load: {error}"
        ) from None
    tensors = {name.key: name.to_torch() for name in encoder_names(backbone)}
    if vocabulary is None and not os.path.isfile(os.path.join(directory, VOCABULARY_ASSET)):
        raise FileNotFoundError(
            f"The preset {directory} has no tokenizer vocabulary ({VOCABULARY_ASSET}); "
            "pass the vocabulary (--vocab)."
        )
    vocabulary = checkpoint_vocabulary(
        vocabulary if vocabulary is not None else os.path.join(directory, VOCABULARY_ASSET),
        directory, int(backbone.vocabulary_size), directory)
    lowercase = read_lowercase(os.path.join(directory, TOKENIZER_FILE), "lowercase", directory)
    return Checkpoint(
        source=directory, layout=f"keras-hub preset ({type(backbone).__name__})",
        config=encoder_config(backbone), config_source=os.path.join(directory, PRESET_CONFIG_FILE),
        tensors=tensors, skipped=[], vocabulary=vocabulary,
        lowercase=infer_lowercase(vocabulary) if lowercase is None else lowercase,
        lowercase_from="inferred from the vocabulary" if lowercase is None else TOKENIZER_FILE,
    )


def write_keras_hub_preset(model, directory, vocabulary, lowercase):
    """Writes the encoder of a `SpanBertPretrainer` and a `BertTokenizer` as a preset.

    Use `save_pretrained(..., format="keras-hub")`, which writes into a
    staging directory and checks the vocabulary.
    """
    import keras_hub

    model.backbone.save_to_preset(directory)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=list(vocabulary.tokens),
                                               lowercase=bool(lowercase))
    tokenizer.save_to_preset(directory)
