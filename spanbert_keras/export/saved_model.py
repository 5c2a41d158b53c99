"""SavedModel export for TF Serving: the text model and the portable ids-only model.

`export_saved_model(model, vocabulary, "saved_models/NAME/VERSION")` writes two
SavedModels laid out as TF Serving's model server watches them:
`saved_models/NAME/VERSION/` (strings in: tokenisation in the graph, the
vocabulary in `assets/`) and `saved_models/NAME-ids/VERSION/` (ids in, no
tensorflow-text op: a stock TF Serving and a plain `import tensorflow` load
it). The signatures are the model's serving module's
(`spanbert_keras.export.serving.pretraining`); the directories, staging and
`export_info.json` are `spanbert_keras.export.archive`'s.
"""

import os
import shutil
import tempfile

import numpy as np

from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.export.archive import VOCAB_ASSET
from spanbert_keras.export.archive import check_free
from spanbert_keras.export.archive import describe_export
from spanbert_keras.export.archive import version_dirs
from spanbert_keras.export.archive import write_export_info
from spanbert_keras.export.serving.pretraining import DESCRIPTIONS
from spanbert_keras.export.serving.pretraining import PretrainingServing
from spanbert_keras.export.serving.pretraining import build_preprocessor
from spanbert_keras.export.serving.pretraining import check_model
from spanbert_keras.files import move_into_place
from spanbert_keras.files import stage_dir


def export_saved_model(
    model,
    vocabulary,
    export_dir,
    sequence_length=None,
    include_masker=False,
    masking_config=None,
    config=None,
    overwrite=False,
    top_k=5,
    replacement_counts=None,
    into=None,
):
    """Writes the text SavedModel and the portable ids-only SavedModel of a pretrainer.

    Args:
        model: a `SpanBertPretrainer` (its `backbone`, `mlm_head` and
            `sbo_head` are exported; any dtype policy, outputs are float32).
        vocabulary: the model's `Vocabulary`, list of wordpieces or
            `vocab.txt` path.
        export_dir: `.../saved_models/NAME/VERSION`, VERSION an integer. The
            portable model goes to `.../saved_models/NAME-ids/VERSION`.
        sequence_length: int, `L`, the packed length of text inputs (and the
            cut of `encode`). Default: `config.data.sequence_length` if a
            config is given, else the encoder's position table.
        include_masker: bool, add the `mask_and_score` signature.
        masking_config: a `MaskingConfig` for `mask_and_score` (default:
            `config.masking`, else SpanBERT's defaults).
        config: optional `PretrainConfig` (or dict), recorded in
            `export_info.json`.
        overwrite: bool, replace an existing VERSION (of either model).
        top_k: int, predictions returned per masked position.
        replacement_counts: the run's corpus token counts, for the random
            tokens of `mask_and_score`'s masker (without them its random
            tokens are uniform).
        into: optional list: the `(staging, final)` directory pairs are
            appended to it instead of being moved into place, for a caller
            that places them with its other outputs as one unit
            (`spanbert_keras.files.move_into_place`; `export_bundle`).

    Returns:
        A dict: `saved_model` and `portable_saved_model` (the two version
        directories), `export_info` (the text model's `export_info.json`
        content).

    Raises:
        FileExistsError: the version exists and `overwrite` is False.
        ValueError: VERSION is not an integer, `sequence_length` does not fit
            the model, the vocabulary does not match the model, ...
        FileNotFoundError: `vocabulary` is a path that does not exist.

    Example:

    >>> import tempfile, os
    >>> from spanbert_keras.config import ModelConfig
    >>> from spanbert_keras.export import export_saved_model
    >>> from spanbert_keras.training.build import build_pretrainer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
    >>> model = build_pretrainer(ModelConfig(num_layers=1, hidden_dim=16,
    ...     num_heads=2, intermediate_dim=32, max_sequence_length=16), len(vocab))
    >>> root = tempfile.mkdtemp()
    >>> paths = export_saved_model(model, vocab,
    ...                            os.path.join(root, "saved_models", "cat", "1"))
    >>> sorted(os.listdir(os.path.join(root, "saved_models")))
    ['cat', 'cat-ids']
    """
    check_model(model)
    vocabulary = load_vocabulary(vocabulary)
    backbone = model.backbone
    if vocabulary.size != backbone.vocabulary_size:
        raise ValueError(
            f"The vocabulary has {vocabulary.size} wordpieces but the model was built "
            f"for {backbone.vocabulary_size}; export the model with its own vocabulary."
        )
    length = _resolve_length(sequence_length, config, backbone.max_sequence_length)
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive int. Received: top_k={top_k!r}")
    version_dir, portable_dir = version_dirs(export_dir)
    check_free((version_dir, portable_dir), overwrite)
    preprocessor = build_preprocessor(vocabulary, length, model, masking_config, config,
                                      replacement_counts, include_masker)

    vocab_dir = tempfile.mkdtemp(prefix="spanbert-vocab-")
    staged = []
    try:
        vocab_file = vocabulary.save(os.path.join(vocab_dir, VOCAB_ASSET))
        serving = PretrainingServing(model, preprocessor, int(top_k), vocab_file)
        functions = serving.functions()
        infos = {}
        for kind, final in (("text", version_dir), ("ids", portable_dir)):
            stage = stage_dir(final)
            staged.append((stage, final))
            serving.write_archive(functions, stage, text=kind == "text")
            companion = portable_dir if kind == "text" else version_dir
            infos[kind] = write_export_info(
                stage, _info(kind, final, companion, serving, config)
            )
        portable_ops = infos["ids"]["tensorflow_text_ops"] + infos["ids"]["other_custom_ops"]
        if portable_ops:
            raise RuntimeError(
                f"The portable SavedModel holds non-core ops {portable_ops}; "
                "this is a bug in the exporter."
            )
        # Both written: move them into place (a half-written version is never
        # visible to a model server; staging names are not integers).
        if into is None:
            move_into_place(staged)
        else:
            into.extend(staged)
        staged = []
    finally:
        shutil.rmtree(vocab_dir, ignore_errors=True)
        for stage, _ in staged:
            shutil.rmtree(stage, ignore_errors=True)
    return {
        "saved_model": version_dir,
        "portable_saved_model": portable_dir,
        "export_info": infos["text"],
    }


def _info(kind, final, companion, serving, config):
    """The fields of `export_info.json` that describe the model (the archive adds the graph's)."""
    model = serving.model
    settings = {
        "top_k": serving.top_k,
        "max_pair_targets": model.max_pair_targets,
        "sbo_weight": model.sbo_weight,
        # mask_and_score's masker; the ids-only model has no such signature.
        "masker": serving.preprocessor.masking_settings() if kind == "text" else None,
    }
    return {
        **describe_export(final, "pretraining", model, serving.vocabulary, serving.length,
                          settings, training=config, inputs=kind, companion=companion),
        "signature_descriptions": DESCRIPTIONS,
    }


def _resolve_length(sequence_length, config, positions):
    if sequence_length is None:
        data = getattr(config, "data", None)
        sequence_length = getattr(data, "sequence_length", None) or positions
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, (int, np.integer)):
        raise ValueError(
            f"`sequence_length` must be an int. Received: sequence_length={sequence_length!r}"
        )
    if not 3 <= sequence_length <= positions:
        raise ValueError(
            f"`sequence_length` must be in [3, {positions}] (the encoder's position "
            f"table). Received: sequence_length={sequence_length}"
        )
    return int(sequence_length)
