"""Builds the built-in preset `austen-tiny`: pre-train, write it compactly into the package, score it.

    python pipelines/build_preset.py

1. pre-trains `pipelines/configs/austen-tiny.yaml` on the shipped corpus with
   the package's own pipeline (`run_pretraining`, the code behind
   `spanbert-keras pretrain`) in `runs/austen-tiny/` (interrupted: run the
   same command again, it resumes from the last epoch);
2. writes the model as a Hugging Face checkpoint (`save_pretrained`) with
   float16 weights, plus `pretrain_config.yaml`, `token_counts.txt` and
   `history.json`, into `spanbert_keras/resources/presets/austen-tiny/`;
3. loads that folder by name (`load_pretrained("austen-tiny")`), scores it on
   the held-out chapters (MLM / SBO loss and accuracy, `fill_spans` on 200
   held-out spans against the frequent pieces) and writes `evaluation.json`
   and the preset's `README.md` with the figures.
"""

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spanbert_keras.config import apply_overrides  # noqa: E402
from spanbert_keras.config import load_config  # noqa: E402
from spanbert_keras.resources.presets import PRESETS_DIR  # noqa: E402
from spanbert_keras.run_layout import RunDirectory  # noqa: E402
from spanbert_keras.training import pretrain  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "austen-tiny"
CONFIG = os.path.join("pipelines", "configs", f"{NAME}.yaml")
COMMAND = ".venv/bin/python pipelines/build_preset.py"
TIMING_FILE = "build_timing.json"
SUMMARY_SPLITS = ("train", "validation")


def _load():
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def train(config, run_dir):
    """`run_pretraining`, timed; the timing of the process that trained is kept in the run."""
    timing_path = os.path.join(run_dir, TIMING_FILE)
    timing = {"seconds": 0.0, "processes": 0, "loads": []}
    if os.path.exists(timing_path):
        with open(timing_path, encoding="utf-8") as f:
            timing = json.load(f)
    start, load = time.time(), _load()
    logs = pretrain.run_pretraining(config, run_dir, verbose=2)
    if logs:  # this process trained
        timing["seconds"] += time.time() - start
        timing["processes"] += 1
        timing["loads"] += [load, _load()]
        with open(timing_path, "w", encoding="utf-8") as f:
            json.dump(timing, f, indent=1)
    return timing


def write_preset(run_dir, folder, config):
    """The run's model as a float16 Hugging Face checkpoint, with the run's records."""
    import numpy as np
    from safetensors.numpy import load_file
    from safetensors.numpy import save_file

    from spanbert_keras.checkpoints import save_pretrained

    model, vocabulary, _ = pretrain.load_pretraining_run(run_dir)
    save_pretrained(model, folder, vocabulary, overwrite=True)
    weights = os.path.join(folder, "model.safetensors")
    tensors = {k: v.astype(np.float16) for k, v in load_file(weights).items()}
    save_file(tensors, weights, metadata={"format": "pt"})
    relative = dataclasses.replace(config.data, corpus=[
        os.path.relpath(path, ROOT) for path in config.data.corpus])
    dataclasses.replace(config, data=relative).save(os.path.join(folder, "pretrain_config.yaml"))
    for name in (RunDirectory.TOKEN_COUNTS_FILE, RunDirectory.HISTORY_FILE):
        shutil.copy(os.path.join(run_dir, name), os.path.join(folder, name))
    # The per-epoch TensorBoard scalars (training and held-out); the per-step
    # logs (text and histograms, megabytes) stay in the run directory.
    for split in SUMMARY_SPLITS:
        target = os.path.join(folder, RunDirectory.LOG_DIR, split)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(os.path.join(RunDirectory(run_dir).logs, split), target)


def evaluate(timing):
    """Held-out figures of the preset as shipped (float16 weights), loaded by name."""
    import tensorflow as tf

    from spanbert_keras.checkpoints import load_pretrained
    from spanbert_keras.checkpoints.presets import evaluate_preset
    from spanbert_keras.fill_spans import fill_spans_function
    from spanbert_keras.fill_spans import frequent_pieces
    from spanbert_keras.fill_spans import held_out_queries
    from spanbert_keras.fill_spans import score_fill_spans
    from spanbert_keras.resources.presets import preset_config

    held_out = evaluate_preset(NAME)
    config = preset_config(NAME)
    model = load_pretrained(NAME, log=None)
    vocabulary = model.import_report.vocabulary
    fill = fill_spans_function(model, vocabulary, config.data.sequence_length)
    spans, _ = score_fill_spans(fill, held_out_queries(config, vocabulary, 200), vocabulary,
                                frequent_pieces(config, vocabulary))
    return {
        "held_out": held_out,
        "fill_spans": spans,
        "training_minutes": round(timing["seconds"] / 60, 1),
        "training_processes": timing["processes"],
        "load_average_at_start_and_end": timing["loads"],
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
    }


def _table(rows):
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows[1:]])


def _size(path):
    if os.path.isdir(path):
        return sum(_size(os.path.join(path, name)) for name in os.listdir(path))
    return os.path.getsize(path)


def write_readme(folder, config, evaluation):
    with open(os.path.join(folder, RunDirectory.HISTORY_FILE), encoding="utf-8") as f:
        history = json.load(f)
    with open(os.path.join(folder, "pretrain_config.yaml"), encoding="utf-8") as f:
        config_text = f.read()
    held, spans = evaluation["held_out"], evaluation["fill_spans"]
    per_epoch = config.training.steps_per_epoch
    epochs = [["epoch", "steps", "loss", "MLM acc. (train)", "SBO acc. (train)",
               "held-out loss", "held-out MLM acc.", "held-out SBO acc."]]
    for i in range(len(history["loss"])):
        epochs.append([i + 1, (i + 1) * per_epoch, f"{history['loss'][i]:.3f}",
                       f"{history['mlm_accuracy'][i]:.3f}", f"{history['sbo_accuracy'][i]:.3f}",
                       f"{history['val_loss'][i]:.3f}", f"{history['val_mlm_accuracy'][i]:.3f}",
                       f"{history['val_sbo_accuracy'][i]:.3f}"])
    sizes = {name: _size(os.path.join(folder, name)) for name in sorted(os.listdir(folder))
             if name != "README.md"}
    data, model = config.data, config.model
    text = f"""# Preset `{NAME}`

The `tiny` SpanBERT ({model.num_layers} layers, hidden {model.hidden_dim}, {model.num_heads} heads,
feed-forward {model.intermediate_dim}; both heads, the MLM and the Span Boundary Objective) pre-trained
by this package's own pipeline on the shipped corpus (Jane Austen's six novels, see
`../../README.md`), with SpanBERT's span masking. The chapters held out
(`data.validation_fraction` {data.validation_fraction}, chosen by a hash of the file name and chapter
number) are the demo's held-out chapters too: no figure below is on text it trained on.

```python
from spanbert_keras.checkpoints import load_pretrained
model = load_pretrained("{NAME}")          # a SpanBertPretrainer, ready for fit / evaluate
```

```bash
.venv/bin/spanbert-keras import {NAME} --output runs/{NAME}            # a run directory
.venv/bin/spanbert-keras finetune squad --init {NAME} --train T.json --dev D.json --output runs/qa
```

## How it was made (one command)

```bash
{COMMAND}
```

runs `run_pretraining` (what `spanbert-keras pretrain` runs) with `{CONFIG}`,
i.e. the same as

```bash
.venv/bin/spanbert-keras pretrain --config {CONFIG} --output runs/{NAME}
```

then writes the model here as a Hugging Face checkpoint (`save_pretrained`) with its weights in
float16, and scores the files here, loaded by name. Training took
{evaluation['training_minutes']} minutes on {evaluation['cpus']} CPU cores
(TensorFlow {evaluation['tensorflow']}; load average
{', '.join(f'{x:.1f}' for x in evaluation['load_average_at_start_and_end'])} at start / end):
{config.training.steps:,} steps of {data.batch_size} blocks of {data.sequence_length} tokens
({config.training.steps * data.batch_size * data.sequence_length / 1e6:.1f} M tokens).

## Held-out figures (the float16 weights shipped here)

| what | MLM | SBO |
|---|---|---|
| loss, {held['batches']} held-out batches (fixed masks) | {held['mlm_loss']:.3f} | {held['sbo_loss']:.3f} |
| accuracy, the same batches | **{held['mlm_accuracy']:.3f}** | {held['sbo_accuracy']:.3f} |
| `fill_spans` top-1 / top-5, {spans['sentences']} held-out spans ({spans['masked_wordpieces']} pieces) | {spans['mlm_top1']:.3f} / {spans['mlm_top5']:.3f} | {spans['sbo_top1']:.3f} / {spans['sbo_top5']:.3f} |
| always the most frequent pieces, same spans | {spans['unigram_top1']:.3f} / {spans['unigram_top5']:.3f} | |

Reproduce the first two rows with
`spanbert_keras.checkpoints.presets.evaluate_preset("{NAME}")` (also `evaluation.json`).

## Training history (`history.json`; the same per-epoch scalars for TensorBoard in `logs/`, the per-step logs in `runs/{NAME}/logs/` after a rebuild)

{_table(epochs)}

## Configuration (`pretrain_config.yaml`)

```yaml
{config_text.rstrip()}
```

## Files

{_table([["file", "bytes", "what"]] + [[f"`{name}`", f"{size:,}", FILES.get(name, "")] for name, size in sizes.items()])}
"""
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


FILES = {
    "config.json": "the encoder's configuration (`transformers`' BERT keys)",
    "model.safetensors": "the weights, float16, `BertForPreTraining` layout + the SBO head",
    "vocab.txt": "the WordPiece vocabulary learned from the corpus",
    "tokenizer_config.json": "cased tokenizer",
    "pretrain_config.yaml": "the pre-training configuration",
    "token_counts.txt": "the corpus' count of each id: the random replacement tokens' distribution",
    "history.json": "per-epoch training and held-out logs",
    "evaluation.json": "the figures above",
    "logs": "TensorBoard: per-epoch training and held-out scalars (`tensorboard --logdir logs`)",
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", default=os.path.join("runs", NAME))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    config = apply_overrides(load_config(CONFIG), args.set)
    config, _, _ = pretrain.prepare_run(config, args.run_dir)
    timing = train(config, args.run_dir)
    folder = os.path.join(PRESETS_DIR, NAME)
    write_preset(args.run_dir, folder, config)
    evaluation = evaluate(timing)
    with open(os.path.join(folder, "evaluation.json"), "w", encoding="utf-8") as f:
        json.dump(evaluation, f, indent=1)
    write_readme(folder, config, evaluation)
    print(json.dumps(evaluation["held_out"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
