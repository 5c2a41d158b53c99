"""Checkpoints in and out of run directories: `spanbert-keras import` and `convert`.

`import_checkpoint` writes a run directory that `pretrain` continues
from, and `evaluate`, `export` and `convert` read, before any training: its
configuration (the model the checkpoint describes, with the default
training), the checkpoint's vocabulary, the imported weights
(`imported.weights.h5`: encoder and heads, fresh where the file had none),
the report of where they came from (`imported.json`) and the encoder alone
(`encoder.keras`) for fine-tuning; the layout is
`spanbert_keras.run_layout.RunDirectory`'s.
"""

import json
import os

from spanbert_keras.checkpoints.load import load_pretrained
from spanbert_keras.checkpoints.save import CONVERT_OWNER
from spanbert_keras.checkpoints.save import save_pretrained
from spanbert_keras.checkpoints.vocabulary import infer_lowercase
from spanbert_keras.files import check_output_directory
from spanbert_keras.files import staged_output
from spanbert_keras.resources.presets import resolve_preset
from spanbert_keras.run_layout import RunDirectory
from spanbert_keras.training.checkpointing import record_vocabulary
from spanbert_keras.training.pretrain import load_pretraining_run

# What marks a run directory as `import`'s own (see `files.staged_output`).
IMPORT_OWNER = "spanbert-keras import"


def import_checkpoint(path, run_dir, vocabulary=None, overwrite=False, log=print):
    """Reads a checkpoint (`load_pretrained`) and writes it as a run directory.

    Args:
        path: the checkpoint directory or file.
        run_dir: the run directory to create (must not exist, or be empty,
            unless `overwrite`: then a run directory `import` wrote before is
            replaced); written complete or not at all, never over the
            checkpoint or the vocabulary it reads.
        vocabulary: optional vocabulary in place of the checkpoint's.
        overwrite: bool, replace an existing run directory (its training too).
        log: callable for messages.

    Returns:
        The `ImportReport`.
    """
    inputs = (resolve_preset(path), vocabulary)
    check_output_directory(run_dir, overwrite, inputs, IMPORT_OWNER)  # before reading anything
    model = load_pretrained(path, vocabulary=vocabulary, log=log)
    report = model.import_report
    with staged_output(run_dir, overwrite, inputs, IMPORT_OWNER) as stage:
        staged = RunDirectory(stage)
        report.config.save(staged.config)
        record_vocabulary(stage, report.vocabulary)
        model.save_weights(staged.imported_weights)
        model.backbone.save(staged.encoder)
        with open(staged.import_report, "w", encoding="utf-8") as f:
            json.dump(report.to_dict(), f, indent=1)
            f.write("\n")
    if report.lowercase:
        log("NOTE: the vocabulary is uncased; this package's tokenizer does not lower-case, "
            "so lower-case (and strip accents from) any corpus you pre-train it on.")
    log(f"Wrote the run directory {run_dir}. Continue pre-training with: spanbert-keras "
        f"pretrain --config {RunDirectory(run_dir).config} --corpus FILE... "
        f"--output {run_dir}")
    return report


def run_lowercase(run_dir, vocabulary):
    """The casing of a run: from its import report if it has one, else the vocabulary's."""
    path = RunDirectory(run_dir).import_report
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            value = json.load(f).get("lowercase")
        if isinstance(value, bool):
            return value
    return infer_lowercase(vocabulary)


def convert_run(run_dir, to, output, overwrite=False, log=print):
    """Writes a run directory's model as a Hugging Face checkpoint or a keras-hub preset.

    Args:
        run_dir: a run directory (`pretrain`'s or `import`'s).
        to: `"hf"` or `"keras-hub"` (see `save_pretrained`).
        output: the directory to create.
        overwrite: bool, replace an existing `output`.
        log: callable for messages.

    Returns:
        The output directory.
    """
    check_output_directory(output, overwrite, [run_dir], CONVERT_OWNER)  # before reading it
    model, vocabulary, _ = load_pretraining_run(run_dir)
    save_pretrained(model, output, vocabulary, lowercase=run_lowercase(run_dir, vocabulary),
                    format=to, overwrite=overwrite, inputs=[run_dir])
    what = {"hf": "Hugging Face checkpoint (BertForPreTraining layout, SBO head included)",
            "keras-hub": "keras-hub preset (encoder and tokenizer)"}[to]
    log(f"Wrote {output}: a {what}.")
    return output
