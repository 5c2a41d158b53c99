"""Pre-training from a config, top to bottom: config -> data -> model -> fit.

A run directory holds everything a run needs to resume, be evaluated or be
exported, without the original config file: its configuration, vocabulary,
checkpoints, TensorBoard logs, history, token counts and, at the end,
`model.keras` and `encoder.keras` (the layout:
`spanbert_keras.run_layout.RunDirectory`). Locking, checkpoints, the
history, the vocabulary's fingerprint and the final files follow the rules
every run directory shares (`spanbert_keras.training.checkpointing`): the
same command resumes a run interrupted at any moment, with the weights an
uninterrupted run would have.
Input that would train on nothing (a corpus without text, a vocabulary of
special pieces only, a training split without a batch, non-positive steps)
is refused before anything is written.

Under a multi-worker strategy the chief alone learns the vocabulary and
counts the corpus' tokens, into the shared run directory; the other workers
wait for both there and copy them into their private run directory
(`take_chiefs_files`), so every worker trains with the same.
"""

import dataclasses
import math
import os
import sys
import time
import warnings
import zlib

import keras
import numpy as np
import tensorflow as tf

from spanbert_keras.config import PretrainConfig
from spanbert_keras.config import load_config
from spanbert_keras.data.packing import check_corpus_files
from spanbert_keras.data.pretraining_dataset import finite_batches
from spanbert_keras.data.pretraining_dataset import pretraining_dataset
from spanbert_keras.data.pretraining_preprocessor import SpanBertPretrainingPreprocessor
from spanbert_keras.data.span_masker import SpanMasker
from spanbert_keras.data.vocabulary import build_vocabulary
from spanbert_keras.data.vocabulary import corpus_token_counts
from spanbert_keras.data.vocabulary import load_vocabulary
from spanbert_keras.files import atomic_path
from spanbert_keras.files import sha256_of
from spanbert_keras.files import write_yaml
from spanbert_keras.run_layout import RunDirectory
from spanbert_keras.training.build import build_pretrainer
from spanbert_keras.training.callbacks import tensorboard_callbacks
from spanbert_keras.training.checkpointing import EpochCheckpoint
from spanbert_keras.training.checkpointing import check_model_file
from spanbert_keras.training.checkpointing import check_run_vocabulary
from spanbert_keras.training.checkpointing import fit_progress
from spanbert_keras.training.checkpointing import latest_checkpoint
from spanbert_keras.training.checkpointing import lock_owner
from spanbert_keras.training.checkpointing import model_file_problem
from spanbert_keras.training.checkpointing import record_vocabulary
from spanbert_keras.training.checkpointing import restore_checkpoint
from spanbert_keras.training.checkpointing import run_lock
from spanbert_keras.training.checkpointing import run_vocabulary
from spanbert_keras.training.checkpointing import save_model_file
from spanbert_keras.training.distribute import CHIEF_APPEARS_SECONDS
from spanbert_keras.training.distribute import check_workers_agree
from spanbert_keras.training.distribute import distribute_batches
from spanbert_keras.training.distribute import get_strategy
from spanbert_keras.training.distribute import lost_workers_as_errors
from spanbert_keras.training.distribute import shard_by_data
from spanbert_keras.training.distribute import task_id
from spanbert_keras.training.distribute import wait_for_chief
from spanbert_keras.training.distribute import weights_checksum
from spanbert_keras.training.distribute import worker_run_directory
from spanbert_keras.training.flops import flops_per_token
from spanbert_keras.training.optimizer import effective_warmup_steps

# What must not change when a run is resumed.
_FIXED_ON_RESUME = {
    "model": None,  # the whole section
    "data": ("sequence_length",),
}


def schedule_of(config, steps=None):
    """(total steps, steps per epoch, epochs) of a run; non-positive counts are refused.

    >>> from spanbert_keras.config import PretrainConfig, TrainingConfig
    >>> schedule_of(PretrainConfig(training=TrainingConfig(steps=250, steps_per_epoch=100)))
    (250, 100, 3)
    >>> schedule_of(PretrainConfig(training=TrainingConfig(steps=250, steps_per_epoch=0)))
    Traceback (most recent call last):
    ...
    ValueError: training.steps_per_epoch must be positive (the steps between checkpoints). Received: 0
    """
    total = int(steps if steps is not None else config.training.steps)
    if total < 1:
        raise ValueError(f"The number of training steps must be positive. Received: {total}")
    per_epoch = int(config.training.steps_per_epoch)
    if per_epoch < 1:
        raise ValueError("training.steps_per_epoch must be positive (the steps between "
                         f"checkpoints). Received: {per_epoch}")
    per_epoch = min(per_epoch, total)
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


def prepare_run(config, run_dir, corpus=None, log=print, chief=None):
    """Creates or reopens a run directory; returns (config, vocabulary, files).

    The corpus comes from `corpus` or `config.data.corpus`; the vocabulary
    from the run directory (resume: checked against its fingerprint),
    `config.data.vocabulary`, or is learned from the corpus. `chief`: on a
    worker other than the chief of a multi-worker run, `(the chief's run
    directory, this worker's index)`: the vocabulary and token counts the
    chief writes there are taken (`take_chiefs_files`) instead of being
    learned and counted again. Everything is
    checked before anything is written: the schedule, the corpus (files with
    text), the architecture and vocabulary of a run being resumed, a
    vocabulary with wordpieces, and a training split that gives a batch.
    """
    schedule_of(config)
    files = check_corpus_files(list(corpus or config.data.corpus or []) or _no_corpus())
    config = dataclasses.replace(
        config, data=dataclasses.replace(config.data, corpus=list(files))
    )
    if config.data.sequence_length > config.model.max_sequence_length:
        raise ValueError(
            f"data.sequence_length={config.data.sequence_length} exceeds the model's "
            f"position table (model.max_sequence_length={config.model.max_sequence_length})."
        )
    run = RunDirectory(run_dir)
    with run_lock(run_dir, log=log):
        config_path = run.config
        if os.path.exists(config_path):
            _check_same_run(load_config(config_path), config, run_dir)
        if chief is not None:
            take_chiefs_files(config, chief[0], run_dir, log=log, worker=chief[1])
        recorded = os.path.exists(run.vocab)
        unigram = config.masking.random_token_distribution != "uniform"
        passes = None  # the passes over the corpus, when there are any
        if recorded:
            vocabulary = run_vocabulary(run_dir)
            if config.data.vocabulary:
                check_run_vocabulary(run_dir, load_vocabulary(config.data.vocabulary),
                                     config.data.vocabulary)
        elif config.data.vocabulary:
            vocabulary = load_vocabulary(config.data.vocabulary)
        else:
            passes = CorpusPasses(files, 1 + unigram, log)
            vocabulary = passes.run(
                f"learning a {config.data.vocabulary_size:,}-piece WordPiece vocabulary",
                lambda: build_vocabulary(files, vocab_size=config.data.vocabulary_size,
                                         show_progress=sys.stdout.isatty()),
                lambda learned: f"{learned.size:,} pieces")
        vocabulary.check_has_wordpieces()
        counts = replacement_counts_of(run_dir, config, vocabulary, files, log=log, save=False,
                                       passes=passes)
        _check_training_batch(config, vocabulary, files, counts)
        # Checked: write the run's files (the vocabulary is always RUN/vocab.txt).
        if not recorded or not os.path.exists(run.vocab_fingerprint):
            record_vocabulary(run_dir, vocabulary)
        write_yaml(config_path, config.to_dict())
        if counts is not None:
            _write_counts(run.token_counts, counts, vocabulary)
    return config, vocabulary, files


def _check_training_batch(config, vocabulary, files, counts):
    """Refuses a corpus whose training split gives no batch (nothing to train on)."""
    data = config.data
    train = pretraining_dataset(
        files, split="train", num_epochs=1, steps_per_epoch=1, shuffle=False,
        batch_size=data.batch_size,
        **_dataset_settings(config, run_preprocessor(config, vocabulary, counts)),
    )
    if next(iter(train.take(1)), None) is None:
        raise ValueError(
            f"The training split of {', '.join(files)} gives no batch of {data.batch_size} "
            f"blocks of {data.sequence_length} tokens: every document is held out for "
            f"validation (data.validation_fraction={data.validation_fraction}) or holds no "
            "token. Give more text or lower data.validation_fraction."
        )


def replacement_counts_of(run_dir, config, vocabulary, files=None, log=print, save=True,
                          passes=None):
    """The corpus' token counts a run draws random replacement tokens from (None: uniform).

    Counted once (`corpus_token_counts`, over every document of the run's
    corpus) and kept in `RUN/token_counts.txt` with the fingerprint of the
    vocabulary they count, so a resumed run, `evaluate`, `export` and
    `preview` use the same distribution (and a file counting another
    vocabulary is counted again). `passes`: the `CorpusPasses` this count
    belongs to (default: a count is a pass of its own), for the progress lines.
    """
    if config.masking.random_token_distribution == "uniform":
        return None
    path = RunDirectory(run_dir).token_counts
    counts = recorded_counts(path, vocabulary)
    if counts is not None:
        return counts
    files = files or config.data.corpus
    passes = passes or CorpusPasses(files, 1, log)
    counts = passes.run(
        "counting the corpus' tokens (the random replacement tokens' distribution)",
        lambda: corpus_token_counts(files, vocabulary),
        lambda found: f"{int(found.sum()):,} tokens")
    if save:
        _write_counts(path, counts, vocabulary)
    return counts


def recorded_counts(path, vocabulary, exact=False):
    """The token counts of a `token_counts.txt` file when they count `vocabulary`, else None.

    A file without a fingerprint (written by an older version) is taken as
    counting `vocabulary` unless `exact`; one of the right fingerprint but
    the wrong number of ids is refused.
    """
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        first = f.readline().split()
    counted = first[-1] if first[:1] == ["#"] else None
    if counted != vocabulary.fingerprint and (exact or counted is not None):
        return None
    counts = np.loadtxt(path, dtype=np.int64, ndmin=1)
    if counts.shape != (vocabulary.size,):
        raise ValueError(
            f"{path} holds {counts.size} counts but the run's vocabulary has "
            f"{vocabulary.size} ids; delete the file to count the corpus again."
        )
    return counts


class CorpusPasses:
    """Progress lines of the passes a run's preparation makes over its corpus.

    One line when a pass starts (what it does, which pass of how many, the
    corpus' files and size) and one when it ends (its time, what it found,
    the passes left): nothing per document.

    Example:

    >>> import tempfile
    >>> path = tempfile.mkstemp(suffix=".txt")[1]
    >>> with open(path, "w") as f:
    ...     _ = f.write("Some text.\\n")
    >>> passes = CorpusPasses([path], 2, print)
    >>> passes.run("counting", lambda: 42, lambda n: f"{n} things")  # doctest: +ELLIPSIS
    pass 1 of 2 over the corpus (1 file, 11 bytes): counting...
    pass 1 of 2 done in ... s: 42 things; 1 pass left
    42
    """

    def __init__(self, files, total, log=print):
        self.files, self.total, self.log, self.done = list(files), int(total), log, 0
        self.size = sum(tf.io.gfile.stat(path).length for path in self.files)

    def run(self, doing, work, found=lambda value: ""):
        self.done += 1
        self.total = max(self.total, self.done)
        count = len(self.files)
        self.log(f"pass {self.done} of {self.total} over the corpus ({count} file"
                 f"{'s' * (count != 1)}, {_size(self.size)}): {doing}...")
        start = time.monotonic()
        value = work()
        left = self.total - self.done
        summary = found(value)
        self.log(f"pass {self.done} of {self.total} done in {time.monotonic() - start:.1f} s"
                 + (f": {summary}" if summary else "")
                 + (f"; {left} pass{'es' * (left != 1)} left" if left else ""))
        return value


def _size(size):
    """
    >>> _size(11), _size(12_345_678)
    ('11 bytes', '12.3 MB')
    """
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def take_chiefs_files(config, chief_dir, run_dir, log=print, timeout=None, worker=1):
    """A worker other than the chief: the chief's vocabulary and token counts, into `run_dir`.

    What the chief prepares once, and the other workers must not prepare
    themselves (learning a vocabulary gives another one in each process):
    when the worker's private run directory `run_dir` does not hold the
    vocabulary yet and the config names none, the worker waits for the
    chief to write `vocab.txt` and its fingerprint into the shared run
    directory `chief_dir`; when the run draws random tokens with the corpus'
    frequencies, it waits the same way for the chief's `token_counts.txt` of
    that vocabulary (instead of counting the corpus again). Both are copied
    into `run_dir`, where `prepare_run` then finds them as a resumed run
    does. A wait ends when the chief stops working on the run (releases its
    lock) without writing the file, when the chief has not taken the shared
    run directory within `CHIEF_APPEARS_SECONDS` (the workers do not share
    it), or after `timeout` seconds
    (`spanbert_keras.training.distribute.wait_for_chief`).

    Args:
        config: the `PretrainConfig`.
        chief_dir: str, the run directory the chief writes (shared).
        run_dir: str, this worker's private copy of it.
        log: callable for progress messages.
        timeout: seconds to wait for each file (default
            `spanbert_keras.training.distribute.chief_wait_seconds()`).
        worker: int, this worker's index, for the messages.

    Raises:
        ChiefFileMissingError: (a `TimeoutError`) the chief did not write a
            file; the message names it.
    """
    def chief_running():
        return lock_owner(chief_dir) is not None

    waits = dict(timeout=timeout, chief_running=chief_running, log=log,
                 appear_within=CHIEF_APPEARS_SECONDS)

    run, chiefs = RunDirectory(run_dir), RunDirectory(chief_dir)
    if os.path.exists(run.vocab):
        vocabulary = run_vocabulary(run_dir)  # copied with the run directory
    elif config.data.vocabulary:
        vocabulary = load_vocabulary(config.data.vocabulary)  # the same file for every worker
    else:
        path = chiefs.vocab
        vocabulary = wait_for_chief(
            chiefs.vocab_fingerprint,
            f"the fingerprint of {path}, the vocabulary the chief learns from the corpus",
            read=lambda _: _finished_vocabulary(chief_dir), **waits)
        record_vocabulary(run_dir, vocabulary)
        log(f"worker {worker}: the chief's vocabulary {path} ({vocabulary.size:,} pieces, "
            f"sha256 {vocabulary.fingerprint})")
    if config.masking.random_token_distribution == "uniform":
        return
    own = run.token_counts
    if recorded_counts(own, vocabulary) is not None:
        return
    path = chiefs.token_counts
    counts = wait_for_chief(
        path, f"the corpus' token counts of the vocabulary {vocabulary.fingerprint[:12]}...",
        read=lambda name: recorded_counts(name, vocabulary, exact=True), **waits)
    _write_counts(own, counts, vocabulary)
    log(f"worker {worker}: the chief's token counts {path} ({int(counts.sum()):,} tokens)")


def _finished_vocabulary(run_dir):
    """The `Vocabulary` of `run_dir` once both vocab.txt and its fingerprint are written, else None."""
    run = RunDirectory(run_dir)
    try:
        with open(run.vocab_fingerprint, encoding="utf-8") as f:
            recorded = (f.read().split() or [""])[0]
        path = run.vocab
        if sha256_of(path) != recorded:
            return None  # vocab.txt and its fingerprint are written one after the other
        return load_vocabulary(path)
    except FileNotFoundError:
        return None


def _write_counts(path, counts, vocabulary):
    with atomic_path(path) as temporary:
        np.savetxt(temporary, counts, fmt="%d", header=f"vocab.txt sha256 {vocabulary.fingerprint}")


def _no_corpus():
    from spanbert_keras.resources import DEMO_CORPUS

    raise ValueError(
        "No corpus was given: pass corpus files (--corpus FILE...) or set data.corpus "
        f"in the config. The shipped demo corpus is {DEMO_CORPUS}"
    )


def run_preprocessor(config, vocabulary, replacement_counts=None):
    """The run's `SpanBertPretrainingPreprocessor`: its datasets mask with it, its model keeps it.

    `replacement_counts`: see `replacement_counts_of` (None for "uniform"
    random tokens).
    """
    return SpanBertPretrainingPreprocessor.from_masking_config(
        vocabulary, config.masking, replacement_counts,
        sequence_length=config.data.sequence_length,
        max_pair_targets=config.model.max_pair_targets,
        seed=config.data.seed,  # static masking of text (the datasets seed every example)
    )


def datasets(config, preprocessor, files, start_epoch=0, num_epochs=None, steps_per_epoch=None):
    """(train, validation) datasets of a run; validation masks are fixed.

    `preprocessor`: the run's (`run_preprocessor`). `validation` is None
    when the validation split holds no full batch. Inside a `tf.distribute`
    strategy's scope, `train` is distributed: one input pipeline per worker
    (`training_batches`), the global batch split over the replicas
    (`spanbert_keras.training.distribute.distribute_batches`).
    """
    data = config.data
    train = distribute_batches(
        lambda batch_size, input_context: training_batches(
            config, preprocessor, files, batch_size, input_context, start_epoch=start_epoch,
            num_epochs=num_epochs, steps_per_epoch=steps_per_epoch),
        data.batch_size,
    )
    validation, count = finite_batches(pretraining_dataset(
        files, split="validation", seed=data.seed + 1, num_epochs=1,
        shuffle=False, batch_size=data.batch_size, **_dataset_settings(config, preprocessor),
    ), config.training.eval_steps)
    return train, shard_by_data(validation) if count else None


def training_batches(config, preprocessor, files, batch_size, input_context=None, start_epoch=0,
                     num_epochs=None, steps_per_epoch=None):
    """The training batches of one input pipeline (a worker's share of the corpus and masks).

    `datasets` hands it to `distribute_batches`; with `input_context=None`
    and the global batch size it gives the batches of a one-machine run.
    """
    data = config.data
    return pretraining_dataset(
        files, split="train", seed=data.seed, batch_size=batch_size,
        input_context=input_context, start_epoch=start_epoch, num_epochs=num_epochs,
        steps_per_epoch=steps_per_epoch, shuffle_buffer=data.shuffle_buffer,
        **_dataset_settings(config, preprocessor),
    )


def _dataset_settings(config, preprocessor):
    return dict(
        preprocessor=preprocessor,
        validation_fraction=config.data.validation_fraction,
        max_sequence_length=config.model.max_sequence_length,
    )


def _describe(config, model, vocabulary, total, per_epoch, epochs, start_epoch, log):
    data = config.data
    tokens_per_step = data.batch_size * data.sequence_length
    predictions = config.masking.max_predictions or SpanMasker.default_max_predictions(
        data.sequence_length, config.masking.mask_rate)
    flops = flops_per_token(config.model, vocabulary.size, seq_len=data.sequence_length,
                            targets_per_token=predictions / data.sequence_length)
    log(f"model: {config.model.size} ({config.model.num_layers} layers, hidden "
        f"{config.model.hidden_dim}), {model.count_params():,} parameters, "
        f"vocabulary {vocabulary.size:,}")
    log(f"batch: {data.batch_size} x {data.sequence_length} tokens = {tokens_per_step:,} "
        f"tokens/step, up to {data.batch_size * predictions:,} targets/step "
        f"({predictions} per block), {flops * tokens_per_step / 1e9:,.1f} GFLOP/step")
    warmup = effective_warmup_steps(config.training, epochs * per_epoch)
    shortened = (f" (training.warmup_steps={config.training.warmup_steps:,} is longer than the "
                 "run: shortened)" if warmup < config.training.warmup_steps else "")
    log(f"schedule: {total:,} steps = {epochs} epochs x {per_epoch:,} steps; "
        f"starting at epoch {start_epoch}; peak lr {config.training.learning_rate} "
        f"after {warmup:,} warm-up steps{shortened}")


def run_pretraining(config, run_dir, corpus=None, steps=None, log=print, verbose=None,
                    strategy=None):
    """Pre-trains (or resumes) a SpanBERT model; returns the fit `History` logs.

    Under a `tf.distribute` strategy, `data.batch_size` is the global batch
    (a multiple of the replicas); each worker reads its own share of the
    corpus with its own masks; only the chief writes `run_dir` (the other
    workers run on a private copy, see
    `spanbert_keras.training.distribute.worker_run_directory`), and a run
    resumes under any number of replicas.

    Args:
        config: a `PretrainConfig` (or the path of a YAML config).
        run_dir: str, the run directory (created; resumed if it holds a run).
        corpus: optional list of corpus files (default `config.data.corpus`).
        steps: optional int overriding `config.training.steps`.
        log: callable for progress messages.
        verbose: `fit`'s verbosity (default: a progress bar in a terminal,
            one line per epoch otherwise).
        strategy: `"auto"` (None), `"one_device"`, `"mirrored"`,
            `"multi_worker"` (the cluster of `TF_CONFIG`), `"tpu"`, or a
            `tf.distribute.Strategy` (see `spanbert_keras.training.distribute`).

    Returns:
        dict of lists, the per-epoch logs of this call's `fit` (empty when the
        run was already complete).

    Raises:
        FileExistsError: another process is training in `run_dir`.
        ValueError: bad input (see `prepare_run`), a run of another
            architecture or vocabulary, no intact checkpoint.
        WorkerLostError: another worker of a multi-worker run was lost.
    """
    strategy = get_strategy(strategy, log=log)  # first: before any TensorFlow operation
    with worker_run_directory(run_dir, strategy, log=log) as own_dir, strategy.scope(), \
            lost_workers_as_errors(strategy):
        chief = None if own_dir == run_dir else (run_dir, task_id(strategy))
        return _run_pretraining(config, own_dir, corpus, steps, log, verbose, chief)


def _run_pretraining(config, run_dir, corpus, steps, log, verbose, chief=None):
    if not isinstance(config, PretrainConfig):
        config = load_config(config)
    if steps is not None:
        config = dataclasses.replace(
            config, training=dataclasses.replace(config.training, steps=int(steps)))
    schedule_of(config)
    run = RunDirectory(run_dir)
    with run_lock(run_dir, log=log):
        config, vocabulary, files = prepare_run(config, run_dir, corpus, log=log, chief=chief)
        total, per_epoch, epochs = schedule_of(config)
        checkpoint = latest_checkpoint(run_dir, log=log)
        start_epoch = checkpoint.epoch if checkpoint is not None else 0
        check_workers_agree(tf.distribute.get_strategy(), start_epoch=start_epoch,
                            vocabulary=zlib.crc32("\n".join(vocabulary.tokens).encode()))
        finals = [run.model, run.encoder]
        problems = {path: model_file_problem(path) for path in finals}
        if start_epoch >= epochs:
            if not any(problems.values()):
                log(f"{run_dir} has already finished {epochs} epochs; nothing to do.")
                return {}
            for path, problem in problems.items():
                if problem not in (None, "missing"):
                    log(f"WARNING: {path} is damaged ({problem}); rebuilding it from the last "
                        "checkpoint.")
        preprocessor = run_preprocessor(
            config, vocabulary, replacement_counts_of(run_dir, config, vocabulary, files, log=log))
        keras.utils.set_random_seed(config.data.seed)  # the same initial weights on a restart
        model = build_pretrainer(
            config.model, vocabulary.size, config.training,
            sequence_length=config.data.sequence_length, total_steps=epochs * per_epoch,
            preprocessor=preprocessor,
        )
        _describe(config, model, vocabulary, total, per_epoch, epochs, start_epoch, log)
        imported = run.imported_weights
        if checkpoint is not None:
            restore_checkpoint(model, checkpoint)
        elif os.path.exists(imported):
            model.load_weights(imported)
            log(f"Starting from the imported weights in {imported} (not a random initialisation).")
        logs = {}
        if start_epoch < epochs:
            train, validation = datasets(
                config, preprocessor, files, start_epoch=start_epoch,
                num_epochs=epochs - start_epoch, steps_per_epoch=per_epoch,
            )
            if validation is None:
                log("WARNING: the validation split holds no full batch; training without "
                    "held-out evaluation (raise data.validation_fraction or lower "
                    "data.batch_size).")
            fit_verbose, progress = fit_progress(verbose, log)
            callbacks = tensorboard_callbacks(
                run.logs, vocabulary, eval_data=validation,
                text_every_n_steps=config.training.text_summary_every,
            ) + progress + [EpochCheckpoint(run_dir)]  # kept after the last epoch: extendable
            history = model.fit(
                train, epochs=epochs, initial_epoch=start_epoch, steps_per_epoch=per_epoch,
                validation_data=validation, callbacks=callbacks, verbose=fit_verbose,
                shuffle=False,
            )
            logs = {k: [float(v) for v in values] for k, values in history.history.items()}
        check_workers_agree(tf.distribute.get_strategy(), log=log,
                            final_weights=weights_checksum(model.weights))
        save_model_file(model, finals[0])
        save_model_file(model.backbone, finals[1])
        log(f"Saved {finals[0]} and {finals[1]}; TensorBoard: "
            f"tensorboard --logdir {run.logs}")
    return logs


def load_pretraining_run(run_dir, log=print):
    """Loads a run: returns (model, vocabulary, config).

    Uses `model.keras` when training finished, else the last intact
    checkpoint (a run that was interrupted), else the weights of
    `spanbert-keras import` (a run not trained yet). The vocabulary is
    checked against the run's fingerprint; a damaged `model.keras` is an
    error that says how to rebuild it.
    """
    run = RunDirectory(run_dir)
    config_path = run.config
    if not os.path.isdir(run_dir) or not os.path.exists(config_path):
        raise FileNotFoundError(
            f"{run_dir} is not a spanbert-keras run directory (no {RunDirectory.CONFIG_FILE}); "
            "pass the --output directory of `spanbert-keras pretrain`."
        )
    config = load_config(config_path)
    vocabulary = run_vocabulary(run_dir)
    model_path = run.model
    if os.path.exists(model_path):
        check_model_file(model_path, "run the same `spanbert-keras pretrain` command again: it "
                                     "rebuilds it from the last checkpoint in backup/")
        model = keras.saving.load_model(model_path)
    else:
        checkpoint = latest_checkpoint(run_dir, log=log)
        imported = run.imported_weights
        if checkpoint is None and not os.path.exists(imported):
            raise FileNotFoundError(
                f"{run_dir} holds no trained weights yet (neither {RunDirectory.MODEL_FILE} nor "
                f"a checkpoint in {RunDirectory.BACKUP_DIR}/ nor "
                f"{RunDirectory.IMPORTED_WEIGHTS_FILE})."
            )
        total, per_epoch, epochs = schedule_of(config)
        model = build_pretrainer(config.model, vocabulary.size, config.training,
                                 sequence_length=config.data.sequence_length,
                                 total_steps=epochs * per_epoch)
        if checkpoint is not None:
            restore_checkpoint(model, checkpoint)
        else:
            model.load_weights(imported)
    if model.backbone.vocabulary_size != vocabulary.size:
        raise ValueError(
            f"The checkpoint in {run_dir} has {model.backbone.vocabulary_size} token "
            f"embeddings but its vocabulary has {vocabulary.size} tokens."
        )
    if model.preprocessor is None:  # a checkpoint, or a model.keras of an older version
        model.preprocessor = _recorded_preprocessor(run, config, vocabulary)
    return model, vocabulary, config


def _recorded_preprocessor(run, config, vocabulary):
    """The run's preprocessor from its files; without its corpus counts (a run imported and not
    trained yet), one that packs text and reads [MASK] runs but does not mask."""
    counts = None
    if config.masking.random_token_distribution != "uniform":
        counts = recorded_counts(run.token_counts, vocabulary)
        if counts is None:
            return SpanBertPretrainingPreprocessor(
                vocabulary, sequence_length=config.data.sequence_length,
                max_pair_targets=config.model.max_pair_targets)
    return run_preprocessor(config, vocabulary, counts)


def load_pretrainer(run_dir, log=print):
    """Deprecated name of `load_pretraining_run` (beside `load_pretrained` it read as a typo).

    Kept for one release; warns.
    """
    warnings.warn("spanbert_keras.load_pretrainer is renamed load_pretraining_run; the old name "
                  "goes in the next release.", DeprecationWarning, stacklevel=2)
    return load_pretraining_run(run_dir, log=log)


def evaluate_run(run_dir, corpus=None, steps=None, log=print, verbose=None):
    """Held-out MLM / SBO loss and accuracy of a run.

    Args:
        run_dir: a run directory.
        corpus: optional files to evaluate on (all their documents); default:
            the validation split of the run's own corpus.
        steps: optional int, the most batches to evaluate.
        log: callable for messages.
        verbose: `evaluate`'s verbosity (default: a progress bar in a
            terminal, nothing otherwise).

    Returns:
        dict with `loss`, `mlm_loss`, `sbo_loss`, `mlm_accuracy`,
        `sbo_accuracy`.
    """
    model, vocabulary, config = load_pretraining_run(run_dir, log=log)
    data = config.data
    files = check_corpus_files(corpus) if corpus else data.corpus
    # An imported run has no corpus of its own: the files evaluated give the counts.
    counts = replacement_counts_of(run_dir, config, vocabulary, files=data.corpus or files,
                                   log=log, save=bool(data.corpus))
    dataset = pretraining_dataset(
        files, preprocessor=run_preprocessor(config, vocabulary, counts),
        batch_size=data.batch_size, split="all" if corpus else "validation",
        validation_fraction=data.validation_fraction, seed=data.seed + 1, num_epochs=1,
        shuffle=False,
    )
    dataset, count = finite_batches(dataset, steps)
    if count == 0:
        raise ValueError(
            f"The evaluation data holds no full batch of {data.batch_size} blocks of "
            f"{data.sequence_length} tokens: give a larger corpus."
        )
    results = model.evaluate(dataset, return_dict=True, verbose=fit_progress(verbose, log)[0])
    return {k: float(v) for k, v in results.items()}
