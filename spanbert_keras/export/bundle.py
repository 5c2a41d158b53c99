"""One export, as the CLI and the pipeline make it: the SavedModel pair and the TFLite file.

`export_bundle` writes `saved_models/NAME/VERSION/` (text),
`saved_models/NAME-ids/VERSION/` (portable ids-only) and, when asked,
`saved_models/NAME[-QUANTIZATION].tflite` (the `encode` signature): one rule
places every file, whoever calls it. The export is one unit: every output is
checked before any work, written to a staging name beside its place, and
all of them are renamed into place only once all succeeded, so a failure
(a conversion error, a full disk) leaves none of them behind.
"""

import contextlib
import os
import shutil

from spanbert_keras.export.archive import check_free
from spanbert_keras.export.archive import tflite_path
from spanbert_keras.export.archive import version_dirs
from spanbert_keras.export.saved_model import export_saved_model
from spanbert_keras.export.tflite import export_tflite
from spanbert_keras.files import move_into_place
from spanbert_keras.files import new_folders_removed_on_error
from spanbert_keras.files import stage_dir


def check_bundle_free(export_dir, tflite=False, quantization=None, overwrite=False):
    """Refuses an export whose outputs exist (unless `overwrite`) or cannot be written.

    Returns:
        The TFLite file's path (None without `tflite`).
    """
    tflite_file = tflite_path(export_dir, quantization) if tflite else None
    check_free(version_dirs(export_dir), overwrite)
    check_free([tflite_file] if tflite_file else [], overwrite, kind="file")
    return tflite_file


def export_bundle(
    model,
    vocabulary,
    export_dir,
    config=None,
    tflite=False,
    quantization=None,
    include_masker=False,
    overwrite=False,
    replacement_counts=None,
    sequence_length=None,
    log=print,
):
    """Exports a pretrainer for TF Serving and, with `tflite=True`, for LiteRT.

    Args:
        model: a `SpanBertPretrainer`.
        vocabulary: its `Vocabulary` (or list of wordpieces / `vocab.txt`).
        export_dir: `saved_models/NAME/VERSION`.
        config: optional `PretrainConfig`: the packed length
            (`config.data.sequence_length`), the masker of `mask_and_score`,
            and a copy in `export_info.json`.
        tflite: bool, also write the TFLite file.
        quantization: None, `"dynamic_range"` or `"float16"` (TFLite only).
        include_masker: bool, add the `mask_and_score` signature.
        overwrite: bool, replace an existing version / TFLite file.
        replacement_counts: the run's corpus token counts, for the masker
            of `mask_and_score`.
        sequence_length: optional int, the packed length of text inputs
            (up to the encoder's position table); default: the run's
            training length (`config.data.sequence_length`), else the
            position table. Longer inputs are cut, and flagged `truncated`.
        log: callable for progress messages.

    Returns:
        A dict: `saved_model`, `portable_saved_model`, `export_info` (see
        `export_saved_model`) and `tflite` (the file's path, or None).
    """
    length = sequence_length
    if length is None and config is not None:
        length = config.data.sequence_length
    positions = model.backbone.max_sequence_length
    log(f"Text inputs are packed to {length or positions} pieces"
        + (" (the run's training length)" if sequence_length is None and config is not None
           else "")
        + f"; longer ones are cut and flagged `truncated` (the encoder takes up to {positions}:"
        " --sequence-length).")
    tflite_file = check_bundle_free(export_dir, tflite, quantization, overwrite)
    outputs = list(version_dirs(export_dir)) + ([tflite_file] if tflite_file else [])
    staged = []
    with new_folders_removed_on_error({os.path.dirname(path) for path in outputs}):
        try:
            log(f"Exporting the SavedModel and the portable ids-only SavedModel to {export_dir} ...")
            paths = export_saved_model(
                model,
                vocabulary,
                export_dir,
                sequence_length=length,
                include_masker=include_masker,
                config=config,
                overwrite=overwrite,
                replacement_counts=replacement_counts,
                into=staged,
            )
            if tflite_file is not None:
                log(f"Converting the encode signature to TFLite ({quantization or 'float32'}) ...")
                stage = stage_dir(tflite_file)
                staged.append((stage, tflite_file))
                export_tflite(model, stage, signature="encode", quantization=quantization,
                              sequence_length=length, overwrite=False)
            move_into_place(staged)
            staged = []
        finally:  # what failed part-way: no staging name is left
            for stage, _ in staged:
                if os.path.isdir(stage):
                    shutil.rmtree(stage, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(stage)
    log(f"SavedModel (TF Serving layout): {paths['saved_model']}")
    log(f"  signatures: {', '.join(sorted(paths['export_info'].get('signatures', {})))}")
    log(f"portable SavedModel (ids in, no tensorflow-text op): {paths['portable_saved_model']}")
    if tflite_file is not None:
        log(f"TFLite (encode signature): {tflite_file}")
    return dict(paths, tflite=tflite_file)
