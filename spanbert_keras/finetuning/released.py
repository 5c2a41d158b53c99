"""The authors' fine-tuned models as fine-tuning run directories: `spanbert-keras import --task`.

The authors released SpanBERT fine-tuned on SQuAD 1.1, SQuAD 2.0 and TACRED
(`download_finetuned.sh DIR squad1|squad2|tacred`): directories of
`pytorch_model.bin`, `config.json` and `vocab.txt` as their `run_squad.py` /
`run_tacred.py` write them. QA models are `BertForQuestionAnswering`
(`bert.*` and `qa_outputs` [2, hidden]: start is row 0, end row 1); TACRED
models are `BertForSequenceClassification` (`bert.*` with the pooler trained
in fine-tuning, `classifier` [labels, hidden] on the pooled [CLS]).

`import_finetuned` writes the run directory a `spanbert-keras finetune` run
ends with (`config.yaml` with the authors' settings, `task.json`, the
vocabulary, `model.keras`), so `evaluate --dev` scores it and `export`
makes its strings-in SavedModel. No label file is saved with their TACRED
model: its label ids (`no_relation` first, then by training frequency) and
its entity markers (numbered over the dev set, then the training set) are
rebuilt from the TACRED files it was trained on, which must be given. A
SQuAD 2.0 model's no-answer threshold is chosen on a dev file when one is
given, as a fine-tuning run chooses it.
"""

import json

import numpy as np

from spanbert_keras.checkpoints.load import pretrainer_from_checkpoint
from spanbert_keras.checkpoints.load import read_checkpoint
from spanbert_keras.checkpoints.run_import import IMPORT_OWNER
from spanbert_keras.files import check_output_directory
from spanbert_keras.files import staged_output
from spanbert_keras.files import write_json
from spanbert_keras.files import write_yaml
from spanbert_keras.finetuning.runner import finetuning_backbone
from spanbert_keras.finetuning.runner import predict_and_score
from spanbert_keras.finetuning.runner import read_examples
from spanbert_keras.run_layout import RunDirectory
from spanbert_keras.tasks import get_task
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.training.checkpointing import record_vocabulary
from spanbert_keras.training.checkpointing import save_model_file

# The names of `download_finetuned.sh`'s models: our task, its options, the head's tensors.
FINETUNED_KINDS = {
    "squad": ("squad", {"version_2": False}, "qa_outputs"),
    "squad2": ("squad", {"version_2": True}, "qa_outputs"),
    "tacred": ("tacred", {}, "classifier"),
}


def _head_arrays(checkpoint, prefix, kind):
    """The head's kernel ([hidden, outputs], Keras' layout) and bias."""
    weight = checkpoint.task_head.get(prefix + ".weight")
    bias = checkpoint.task_head.get(prefix + ".bias")
    if weight is None or bias is None:
        found = sorted(checkpoint.task_head) or "none"
        raise ValueError(
            f"{checkpoint.source} is not a fine-tuned {kind} model: it lacks `{prefix}.weight` "
            f"and `{prefix}.bias` (task-head tensors found: {found})."
        )
    return np.asarray(weight, "float32").T, np.asarray(bias, "float32")


def _task_dense(model, name):
    return model.span_head.dense if name == "squad" else model.head.dense


def import_finetuned(path, kind, run_dir, train_file=None, dev_file=None, vocabulary=None,
                     overwrite=False, strict=False, log=print):
    """Writes one of the authors' fine-tuned checkpoints as a fine-tuning run directory.

    Args:
        path: the directory (or its `pytorch_model.bin` / `.safetensors`).
        kind: `"squad"` (v1.1), `"squad2"` or `"tacred"`, as
            `download_finetuned.sh` names them.
        run_dir: the run directory to create (written whole or not at all).
        train_file: TACRED's `train.json` (needed for `tacred`: the label
            ids and markers are rebuilt from it).
        dev_file: TACRED's `dev.json` (needed for `tacred`); for QA, an
            optional dev file that is scored (`metrics.json`), and for
            `squad2` chooses the no-answer threshold stored in `task.json`.
        vocabulary: optional vocabulary in place of the checkpoint's.
        overwrite: bool, replace an existing run directory.
        strict: bool, a bad record of a data file is an error.
        log: callable for messages.

    Returns:
        dict: the dev metrics when a dev file was scored, else `{}`.
    """
    if kind not in FINETUNED_KINDS:
        raise ValueError(f"--task must be one of {sorted(FINETUNED_KINDS)}. Received: {kind!r}")
    task_name, options, prefix = FINETUNED_KINDS[kind]
    if task_name == "tacred" and not (train_file and dev_file):
        raise ValueError(
            "Importing a fine-tuned TACRED model needs --train and --dev (TACRED's train.json "
            "and dev.json): no label file is saved with it, and its label ids and entity "
            "markers follow those files."
        )
    inputs = (path, vocabulary, train_file, dev_file)
    check_output_directory(run_dir, overwrite, inputs, IMPORT_OWNER)  # before reading anything
    task = get_task(task_name)
    checkpoint = read_checkpoint(path, vocabulary)
    kernel, bias = _head_arrays(checkpoint, prefix, kind)
    pretrainer = pretrainer_from_checkpoint(checkpoint, log=None)
    parts = ", ".join(p for p in ("encoder", "pooler") if p in pretrainer.import_report.from_file)
    log(f"Loaded {checkpoint.source} ({checkpoint.layout}): {parts} and the {prefix} head from "
        f"the file; vocabulary {checkpoint.vocabulary.size:,} pieces.")
    config = finetune_config({"options": options}, task)  # the authors' settings
    positions = pretrainer.backbone.max_sequence_length
    if config.sequence_length > positions:
        log(f"sequence_length {config.sequence_length} is longer than the encoder's "
            f"{positions} positions: {positions} is used.")
        config = finetune_config({"options": options, "sequence_length": positions}, task)
    vocabulary = checkpoint.vocabulary
    train = read_examples(task, train_file, strict, "training", log) if train_file else []
    dev = read_examples(task, dev_file, strict, "dev", log) if dev_file else []
    task_info = task.prepare(train, vocabulary, config, dev)
    model = task.build_model(finetuning_backbone(pretrainer.backbone, config), task_info, config)
    dense = _task_dense(model, task_name)
    if tuple(dense.kernel.shape) != kernel.shape:
        labels = task_info.get("labels")
        raise ValueError(
            f"{checkpoint.source}: `{prefix}.weight` is {list(kernel.T.shape)}, but the model "
            f"needs {list(dense.kernel.shape[::-1])}"
            + (f" ({len(labels)} relations in {train_file})" if labels else "") + "."
        )
    dense.kernel.assign(kernel)
    dense.bias.assign(bias)
    report = pretrainer.import_report.to_dict()
    report.update(task=kind, head=sorted(checkpoint.task_head))
    metrics = {}
    with staged_output(run_dir, overwrite, inputs, IMPORT_OWNER) as stage:
        staged = RunDirectory(stage)
        write_yaml(staged.config, {"task": task.name, **config.to_dict()})
        record_vocabulary(stage, vocabulary)
        if dev and task_name == "squad":
            metrics = predict_and_score(task, model, dev, vocabulary, task_info, config, stage, log)
            write_json(staged.metrics, metrics)
            task_info = task.calibrate(task_info, metrics)
        write_json(staged.task_info, task_info)
        save_model_file(model, staged.model)
        with open(staged.import_report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    log(f"Wrote the fine-tuning run directory {run_dir} ({kind}). Score it with: spanbert-keras "
        f"evaluate --run {run_dir} --dev FILE; serve it: spanbert-keras export "
        f"--run {run_dir} --output saved_models/NAME/1")
    return metrics
