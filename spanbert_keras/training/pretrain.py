"""Pre-training from a config, top to bottom: config -> data -> model -> fit.

A run directory holds everything a run needs to resume, be evaluated or be
exported, without the original config file:

    RUN/
      config.yaml        the resolved config (architecture checked on resume)
      vocab.txt          the vocabulary
      backup/            `BackupAndRestore`: weights, optimiser state, epoch
      logs/              TensorBoard (`tensorboard --logdir RUN/logs`)
      model.keras        the trained `SpanBertPretrainer` (written at the end)
      encoder.keras      the encoder alone, for fine-tuning
      history.json       the per-epoch logs of `fit`
      token_counts.txt   the corpus' count of each vocabulary id (line = id): the
                         random replacement tokens' distribution
      imported.weights.h5  weights `spanbert-keras import` wrote: a new run starts from them
"""

import dataclasses
import json
import math
import os

import keras
import numpy as np

from spanbert_keras.config import PretrainConfig
from spanbert_keras.config import load_config
from spanbert_keras.data.packing import check_corpus_files
from spanbert_keras.data.pretraining_dataset import finite_batches
from spanbert_keras.data.pretraining_dataset import pretraining_dataset
from spanbert_keras.data.span_masker import SpanMasker
from spanbert_keras.data.vocabulary import Vocabulary
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.data.vocabulary import corpus_token_counts
from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.training.build import build_pretrainer
from spanbert_keras.training.callbacks import tensorboard_callbacks
from spanbert_keras.training.flops import flops_per_token

CONFIG_FILE = "config.yaml"
VOCAB_FILE = "vocab.txt"
BACKUP_DIR = "backup"
LOG_DIR = "logs"
MODEL_FILE = "model.keras"
ENCODER_FILE = "encoder.keras"
HISTORY_FILE = "history.json"
TOKEN_COUNTS_FILE = "token_counts.txt"
IMPORTED_WEIGHTS = "imported.weights.h5"  # written by spanbert_keras.checkpoints
# What must not change when a run is resumed.
_FIXED_ON_RESUME = {
    "model": None,  # the whole section
    "data": ("sequence_length",),
}


def schedule_of(config, steps=None):
    """(total steps, steps per epoch, epochs) of a run."""
    total = int(steps if steps is not None else config.training.steps)
    if total < 1:
        raise ValueError(f"The number of training steps must be positive. Received: {total}")
    per_epoch = max(1, min(int(config.training.steps_per_epoch), total))
    return total, per_epoch, math.ceil(total / per_epoch)


def _check_same_run(saved, config, run_dir):
    saved, new = saved.to_dict(), config.to_dict()
    for section, keys in _FIXED_ON_RESUME.items():
        for key in keys or saved[section].keys():
            if saved[section].get(key) != new[section].get(key):
                raise ValueError(
                    f"{run_dir} holds a run with {section}.{key}={saved[section].get(key)!r}, "
                    f"but the config asks for {new[section].get(key)!r}. Resuming with a "
                    "different architecture is refused: use another output directory."
                )


def prepare_run(config, run_dir, corpus=None, log=print):
    """Creates or reopens a run directory; returns (config, vocabulary, files).

    The corpus comes from `corpus` or `config.data.corpus`; the vocabulary
    from the run directory (resume), `config.data.vocabulary`, or is learned
    from the corpus.
    """
    files = check_corpus_files(list(corpus or config.data.corpus or []) or _no_corpus())
    config = dataclasses.replace(
        config, data=dataclasses.replace(config.data, corpus=list(files))
    )
    os.makedirs(run_dir, exist_ok=True)
    config_path = os.path.join(run_dir, CONFIG_FILE)
    vocab_path = os.path.join(run_dir, VOCAB_FILE)
    if os.path.exists(config_path):
        _check_same_run(load_config(config_path), config, run_dir)
    if os.path.exists(vocab_path):
        vocabulary = Vocabulary.load(vocab_path)
        if config.data.vocabulary and load_vocabulary(config.data.vocabulary).tokens != vocabulary.tokens:
            raise ValueError(
                f"{run_dir} was trained with another vocabulary than {config.data.vocabulary}; "
                "use another output directory."
            )
    elif config.data.vocabulary:
        vocabulary = load_vocabulary(config.data.vocabulary)
    else:
        log(f"Learning a {config.data.vocabulary_size}-piece WordPiece vocabulary from {len(files)} file(s)...")
        vocabulary = build_vocabulary(files, vocab_size=config.data.vocabulary_size)
    vocabulary.save(vocab_path)  # the run's vocabulary is always RUN/vocab.txt
    if config.data.sequence_length > config.model.max_sequence_length:
        raise ValueError(
            f"data.sequence_length={config.data.sequence_length} exceeds the model's "
            f"position table (model.max_sequence_length={config.model.max_sequence_length})."
        )
    config.save(config_path)
    replacement_counts_of(run_dir, config, vocabulary, files, log=log)
    return config, vocabulary, files


def replacement_counts_of(run_dir, config, vocabulary, files=None, log=print):
    """The corpus' token counts a run draws random replacement tokens from (None: uniform).

    Counted once (`corpus_token_counts`, over every document of the run's
    corpus) and kept in `RUN/token_counts.txt`, so a resumed run, `evaluate`,
    `export` and `preview` use the same distribution.
    """
    if config.masking.random_token_distribution == "uniform":
        return None
    path = os.path.join(run_dir, TOKEN_COUNTS_FILE)
    if os.path.exists(path):
        counts = np.loadtxt(path, dtype=np.int64, ndmin=1)
        if counts.shape != (vocabulary.size,):
            raise ValueError(
                f"{path} holds {counts.size} counts but the run's vocabulary has "
                f"{vocabulary.size} ids; delete the file to count the corpus again."
            )
        return counts
    files = files or config.data.corpus
    log(f"Counting the corpus' tokens (the random replacement tokens' distribution) in "
        f"{len(files)} file(s)...")
    counts = corpus_token_counts(files, vocabulary)
    staged = path + ".tmp"
    np.savetxt(staged, counts, fmt="%d")
    os.replace(staged, path)
    return counts


def _no_corpus():
    from spanbert_keras.resources import DEMO_CORPUS

    raise ValueError(
        "No corpus was given: pass corpus files (--corpus FILE...) or set data.corpus "
        f"in the config. The shipped demo corpus is {DEMO_CORPUS}"
    )


def initial_epoch_of(run_dir):
    """The epoch a resumed run starts at (0 for a new run)."""
    path = os.path.join(run_dir, BACKUP_DIR, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f)["epoch"])


def datasets(config, vocabulary, files, start_epoch=0, num_epochs=None, steps_per_epoch=None,
             replacement_counts=None):
    """(train, validation) datasets of a run; validation masks are fixed.

    `validation` is None when the validation split holds no full batch.
    `replacement_counts`: see `replacement_counts_of`.
    """
    data, masking = config.data, config.masking
    common = dict(
        replacement_counts=replacement_counts,
        max_pair_targets=config.model.max_pair_targets,
        sequence_length=data.sequence_length,
        batch_size=data.batch_size,
        masking=masking,
        validation_fraction=data.validation_fraction,
        max_sequence_length=config.model.max_sequence_length,
    )
    train = pretraining_dataset(
        files, vocabulary, split="train", seed=data.seed, start_epoch=start_epoch,
        num_epochs=num_epochs, steps_per_epoch=steps_per_epoch,
        shuffle_buffer=data.shuffle_buffer, **common,
    )
    validation, count = finite_batches(pretraining_dataset(
        files, vocabulary, split="validation", seed=data.seed + 1, num_epochs=1,
        shuffle=False, **common,
    ), config.training.eval_steps)
    return train, validation if count else None


def _describe(config, model, vocabulary, total, per_epoch, epochs, start_epoch, log):
    data = config.data
    tokens_per_step = data.batch_size * data.sequence_length
    predictions = config.masking.max_predictions or SpanMasker.default_max_predictions(
        data.sequence_length, config.masking.mask_rate)
    flops = flops_per_token(config.model, vocabulary.size, seq_len=data.sequence_length,
                            targets_per_token=predictions / data.sequence_length)
    log(f"model: {config.model.preset} ({config.model.num_layers} layers, hidden "
        f"{config.model.hidden_dim}), {model.count_params():,} parameters, "
        f"vocabulary {vocabulary.size:,}")
    log(f"batch: {data.batch_size} x {data.sequence_length} tokens = {tokens_per_step:,} "
        f"tokens/step, up to {data.batch_size * predictions:,} targets/step "
        f"({predictions} per block), {flops * tokens_per_step / 1e9:,.1f} GFLOP/step")
    log(f"schedule: {total:,} steps = {epochs} epochs x {per_epoch:,} steps; "
        f"starting at epoch {start_epoch}; peak lr {config.training.learning_rate} "
        f"after {config.training.warmup_steps:,} warm-up steps")


def run_pretraining(config, run_dir, corpus=None, steps=None, log=print, verbose="auto"):
    """Pre-trains (or resumes) a SpanBERT model; returns the fit `History` logs.

    Args:
        config: a `PretrainConfig` (or the path of a YAML config).
        run_dir: str, the run directory (created; resumed if it holds a run).
        corpus: optional list of corpus files (default `config.data.corpus`).
        steps: optional int overriding `config.training.steps`.
        log: callable for progress messages.
        verbose: `fit`'s verbosity (progress bar by default).

    Returns:
        dict of lists, the per-epoch logs of this call's `fit` (empty when the
        run was already complete).
    """
    if not isinstance(config, PretrainConfig):
        config = load_config(config)
    if steps is not None:
        config = dataclasses.replace(
            config, training=dataclasses.replace(config.training, steps=int(steps)))
    config, vocabulary, files = prepare_run(config, run_dir, corpus, log=log)
    total, per_epoch, epochs = schedule_of(config)
    start_epoch = initial_epoch_of(run_dir)
    model = build_pretrainer(
        config.model, vocabulary.size, config.training,
        sequence_length=config.data.sequence_length, total_steps=epochs * per_epoch,
    )
    _describe(config, model, vocabulary, total, per_epoch, epochs, start_epoch, log)
    imported = os.path.join(run_dir, IMPORTED_WEIGHTS)
    if start_epoch == 0 and os.path.exists(imported):
        model.load_weights(imported)
        log(f"Starting from the imported weights in {imported} (not a random initialisation).")
    if start_epoch >= epochs and os.path.exists(os.path.join(run_dir, MODEL_FILE)):
        log(f"{run_dir} has already finished {epochs} epochs; nothing to do.")
        return {}
    train, validation = datasets(
        config, vocabulary, files, start_epoch=start_epoch,
        replacement_counts=replacement_counts_of(run_dir, config, vocabulary, files, log=log),
        num_epochs=max(epochs - start_epoch, 0), steps_per_epoch=per_epoch,
    )
    if validation is None:
        log("WARNING: the validation split holds no full batch; training without "
            "held-out evaluation (raise data.validation_fraction or lower data.batch_size).")
    # Kept after the last epoch, so that a finished run can be extended.
    callbacks = [keras.callbacks.BackupAndRestore(
        os.path.join(run_dir, BACKUP_DIR), delete_checkpoint=False)]
    callbacks += tensorboard_callbacks(
        os.path.join(run_dir, LOG_DIR), vocabulary, eval_data=validation,
        text_every_n_steps=config.training.text_summary_every,
    )
    history = model.fit(
        train, epochs=epochs, steps_per_epoch=per_epoch, validation_data=validation,
        callbacks=callbacks, verbose=verbose,
    )
    model.save(os.path.join(run_dir, MODEL_FILE))
    model.backbone.save(os.path.join(run_dir, ENCODER_FILE))
    logs = {k: [float(v) for v in values] for k, values in history.history.items()}
    _append_history(run_dir, logs)
    log(f"Saved {os.path.join(run_dir, MODEL_FILE)}; TensorBoard: "
        f"tensorboard --logdir {os.path.join(run_dir, LOG_DIR)}")
    return logs


def _append_history(run_dir, logs):
    path = os.path.join(run_dir, HISTORY_FILE)
    previous = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
    for key, values in logs.items():
        previous.setdefault(key, []).extend(values)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(previous, f, indent=1)


def load_pretrainer(run_dir):
    """Loads a run: returns (model, vocabulary, config).

    Uses `model.keras` when training finished, else the last
    `BackupAndRestore` weights (a run that was interrupted), else the weights
    of `spanbert-keras import` (a run not trained yet).
    """
    config_path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isdir(run_dir) or not os.path.exists(config_path):
        raise FileNotFoundError(
            f"{run_dir} is not a spanbert-keras run directory (no {CONFIG_FILE}); "
            "pass the --output directory of `spanbert-keras pretrain`."
        )
    config = load_config(config_path)
    vocabulary = Vocabulary.load(os.path.join(run_dir, VOCAB_FILE))
    model_path = os.path.join(run_dir, MODEL_FILE)
    if os.path.exists(model_path):
        model = keras.saving.load_model(model_path)
    else:
        weights = os.path.join(run_dir, BACKUP_DIR, "latest.weights.h5")
        if not os.path.exists(weights):
            weights = os.path.join(run_dir, IMPORTED_WEIGHTS)
        if not os.path.exists(weights):
            raise FileNotFoundError(
                f"{run_dir} holds no trained weights yet (neither {MODEL_FILE} nor "
                f"{BACKUP_DIR}/latest.weights.h5 nor {IMPORTED_WEIGHTS})."
            )
        total, per_epoch, epochs = schedule_of(config)
        model = build_pretrainer(config.model, vocabulary.size, config.training,
                                 sequence_length=config.data.sequence_length,
                                 total_steps=epochs * per_epoch)
        model.load_weights(weights)
    if model.backbone.vocabulary_size != vocabulary.size:
        raise ValueError(
            f"The checkpoint in {run_dir} has {model.backbone.vocabulary_size} token "
            f"embeddings but its vocabulary has {vocabulary.size} tokens."
        )
    return model, vocabulary, config


def evaluate_run(run_dir, corpus=None, steps=None, log=print, verbose="auto"):
    """Held-out MLM / SBO loss and accuracy of a run.

    Args:
        run_dir: a run directory.
        corpus: optional files to evaluate on (all their documents); default:
            the validation split of the run's own corpus.
        steps: optional int, the most batches to evaluate.

    Returns:
        dict with `loss`, `mlm_loss`, `sbo_loss`, `mlm_accuracy`,
        `sbo_accuracy`.
    """
    model, vocabulary, config = load_pretrainer(run_dir)
    data = config.data
    files = check_corpus_files(corpus) if corpus else data.corpus
    dataset = pretraining_dataset(
        files, vocabulary, sequence_length=data.sequence_length, batch_size=data.batch_size,
        masking=config.masking, split="all" if corpus else "validation",
        replacement_counts=replacement_counts_of(run_dir, config, vocabulary, log=log),
        max_pair_targets=config.model.max_pair_targets,
        validation_fraction=data.validation_fraction, seed=data.seed + 1, num_epochs=1,
        shuffle=False,
    )
    dataset, count = finite_batches(dataset, steps)
    if count == 0:
        raise ValueError(
            f"The evaluation data holds no full batch of {data.batch_size} blocks of "
            f"{data.sequence_length} tokens: give a larger corpus."
        )
    results = model.evaluate(dataset, return_dict=True, verbose=verbose)
    return {k: float(v) for k, v in results.items()}
