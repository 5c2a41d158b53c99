"""`save_pretrained`: a `SpanBertPretrainer` for `transformers` or keras-hub."""

import os

from spanbert_keras.checkpoints.huggingface import write_huggingface
from spanbert_keras.checkpoints.keras_hub import write_keras_hub_preset
from spanbert_keras.checkpoints.vocabulary import infer_lowercase
from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.files import staged_output

WRITERS = {"hf": write_huggingface, "keras-hub": write_keras_hub_preset}
# What marks a directory as written by `save_pretrained` (`convert`), see `files.staged_output`.
CONVERT_OWNER = "spanbert-keras convert"


def save_pretrained(model, output, vocabulary, lowercase=None, format="hf", overwrite=False,
                    inputs=()):
    """Writes a `SpanBertPretrainer` as a checkpoint other tools open.

    `format="hf"`: `config.json` (`BertForPreTraining`), `vocab.txt`,
    `tokenizer_config.json` and `model.safetensors` in the
    `BertForPreTraining` key layout with the SBO head under
    `cls.pair_target_predictions.*`; `transformers`
    (`BertForMaskedLM.from_pretrained(DIR)`), keras-hub
    (`BertBackbone.from_preset(DIR)`) and `load_pretrained` open it.
    `format="keras-hub"`: a keras-hub preset of the encoder and a
    `BertTokenizer` (`keras_hub.models.BertBackbone.from_preset(DIR)`).

    The directory is written complete or not at all (a staging directory
    renamed into place), only under fixed file names.

    Args:
        model: a `SpanBertPretrainer`.
        output: the directory to create (must not exist, or be empty,
            unless `overwrite`).
        vocabulary: its `Vocabulary` (or a `vocab.txt` path, a list of pieces).
        lowercase: whether its tokenizer lower-cases; default: inferred from
            the vocabulary (a cased vocabulary has uppercase pieces).
        format: `"hf"` or `"keras-hub"`.
        overwrite: bool, replace an existing non-empty `output` that
            `save_pretrained` (or `convert`) wrote; any other folder is refused.
        inputs: paths `output` must stay out of (what the model was read
            from): it may not be, contain or sit inside one of them.

    Returns:
        The output directory.
    """
    if format not in WRITERS:
        raise ValueError(f"`format` must be one of {sorted(WRITERS)}. Received: format={format!r}")
    vocabulary = load_vocabulary(vocabulary)
    rows = int(model.backbone.vocabulary_size)
    if vocabulary.size != rows:
        raise ValueError(
            f"The vocabulary has {vocabulary.size:,} pieces but the model's word embeddings "
            f"have {rows:,} rows."
        )
    if lowercase is None:
        lowercase = infer_lowercase(vocabulary)
    with staged_output(output, overwrite, inputs, CONVERT_OWNER) as stage:
        WRITERS[format](model, stage, vocabulary, lowercase)
    return os.fspath(output)
