"""Fine-tuning, one runner for every task: files -> encoder -> task model -> fit -> dev scores.

`run_finetuning("squad", config, train, dev, init, "runs/squad")` reads the
files through the task (`spanbert_keras.tasks`), loads the encoder from
`init`, builds the task's model, trains it with AdamW (no decay on LayerNorm
and biases, warm-up over `warmup_fraction` of the steps, then linear decay,
gradient clipping at `clip_norm`), predicts and scores the dev file
`eval_per_epoch` times per epoch, ends with the weights of the best of these
evaluations by the task's metric (`dev_metric_name`), scores them and, when
asked, exports them. A run directory holds the run's config and the task's
name, what the task fixed (`task.json`), the encoder's vocabulary and its
fingerprint, checkpoints (one after each dev evaluation), the best
evaluation's weights, TensorBoard logs, the history, and at the end
`model.keras` (the best evaluation's weights), its dev predictions and
`metrics.json` (written last: the run is finished); the layout is
`spanbert_keras.run_layout.RunDirectory`'s.

Every file is written atomically (temporary file, then rename), and the
lock, checkpoints, history, vocabulary fingerprint and final model follow the
rules every run directory shares (`spanbert_keras.training.checkpointing`).
The same command resumes an interrupted run (from the last evaluation,
with the best weights and score it had); a finished run is only re-scored (a
damaged `model.keras` is rebuilt from the last checkpoint and the best
weights).

With `eval_per_epoch` = E, each of `fit`'s epochs is an E-th of an epoch
(its steps rounded down to a multiple of E), so the checkpoints, the history
and TensorBoard's epochs count evaluations; the printed lines name the real
epoch and part (`epoch 2/4, part 3/5`).

`init` is anything `spanbert_keras.checkpoints.load_encoder` reads: a built-in
preset's name, a run directory, a `.keras` file or a released checkpoint.
"""

import os

import keras
import tensorflow as tf

from spanbert_keras.checkpoints.encoder import load_encoder
from spanbert_keras.checkpoints.encoder import load_keras_file
from spanbert_keras.config import FinetuneConfig
from spanbert_keras.config import TrainingConfig
from spanbert_keras.config import read_yaml_mapping
from spanbert_keras.data.bad_records import summarize
from spanbert_keras.export.archive import check_free
from spanbert_keras.export.archive import version_dirs
from spanbert_keras.files import TEMPORARY_PREFIX
from spanbert_keras.files import check_outside_inputs
from spanbert_keras.files import read_json
from spanbert_keras.files import read_yaml
from spanbert_keras.files import write_json
from spanbert_keras.files import write_yaml
from spanbert_keras.resources.presets import resolve_preset
from spanbert_keras.run_layout import RunDirectory
from spanbert_keras.tasks import get_task
from spanbert_keras.tasks.base import SMALL_ENCODER_BELOW
from spanbert_keras.tasks.base import FinetuneTask
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.tasks.base import is_small_encoder
from spanbert_keras.tasks.base import load_finetune_config
from spanbert_keras.training.callbacks import DevEvaluation
from spanbert_keras.training.checkpointing import EpochCheckpoint
from spanbert_keras.training.checkpointing import check_model_file
from spanbert_keras.training.checkpointing import check_run_vocabulary
from spanbert_keras.training.checkpointing import epoch_label
from spanbert_keras.training.checkpointing import fit_progress
from spanbert_keras.training.checkpointing import latest_best
from spanbert_keras.training.checkpointing import latest_checkpoint
from spanbert_keras.training.checkpointing import model_file_problem
from spanbert_keras.training.checkpointing import newest_checkpoint_epoch
from spanbert_keras.training.checkpointing import record_vocabulary
from spanbert_keras.training.checkpointing import restore_best
from spanbert_keras.training.checkpointing import restore_checkpoint
from spanbert_keras.training.checkpointing import run_lock
from spanbert_keras.training.checkpointing import run_vocabulary
from spanbert_keras.training.checkpointing import save_model_file
from spanbert_keras.training.distribute import check_global_batch
from spanbert_keras.training.distribute import check_workers_agree
from spanbert_keras.training.distribute import get_strategy
from spanbert_keras.training.distribute import lost_workers_as_errors
from spanbert_keras.training.distribute import shard_by_data
from spanbert_keras.training.distribute import weights_checksum
from spanbert_keras.training.distribute import worker_run_directory
from spanbert_keras.training.optimizer import build_optimizer
from spanbert_keras.training.schedule import WarmupLinearDecay

# May change when a run is resumed (the schedule is extended).
_FREE_ON_RESUME = ("epochs",)
# Fields added since runs were first written, with the value an older run's config.yaml means.
_BEFORE_FIELD = {"eval_per_epoch": 1}


# ------------------------------------------------------------------ encoder


def finetuning_backbone(backbone, config):
    """A copy of `backbone` with the run's dropout and dtype policy, same weights."""
    values = backbone.get_config()
    values.update(dropout=config.dropout, dtype=config.dtype_policy)
    copy = type(backbone).from_config(values)
    copy.set_weights(backbone.get_weights())
    return copy


# ---------------------------------------------------------------- optimiser


def finetune_optimizer(config, total_steps, task_rate=None):
    """AdamW of the fine-tuning recipe (`build_optimizer` with `FinetuneConfig` values).

    Warm-up: `int(warmup_fraction * total_steps)` steps, then linear decay to
    0 at `total_steps`; decay excluded from LayerNorm and biases unless
    `decay_norms_and_biases`; gradients clipped by their global norm at
    `clip_norm` (0 or None: no clipping). `task_rate`: optional `(rate,
    variables)` (`FinetuneTask.task_learning_rate`): those variables train
    as Adam without decay at `rate`, decayed linearly to 0 with no warm-up.

    Example:

    >>> from spanbert_keras.config import FinetuneConfig
    >>> opt = finetune_optimizer(FinetuneConfig(), total_steps=1000)
    >>> [round(float(opt.learning_rate), 9) for _ in range(1)]  # step 0 of 100 warm-up steps
    [2e-07]
    >>> opt.no_decay_names, opt.global_clipnorm
    (('bias', 'gamma', 'beta'), 1.0)
    """
    training = TrainingConfig(
        steps=total_steps,
        learning_rate=config.learning_rate,
        warmup_steps=int(config.warmup_fraction * total_steps),
        weight_decay=config.weight_decay,
        decay_norms_and_biases=config.decay_norms_and_biases,
        clip_norm=config.clip_norm,
        dtype_policy=config.dtype_policy,
        jit_compile=config.jit_compile,
    )
    task_schedule = None
    if task_rate is not None:
        task_schedule = WarmupLinearDecay(peak_learning_rate=task_rate[0], warmup_steps=0,
                                          total_steps=total_steps)
    optimizer = build_optimizer(training, total_steps=total_steps,
                                task_learning_rate=task_schedule)
    optimizer.global_clipnorm = float(config.clip_norm) if config.clip_norm else None
    if task_rate is not None:
        optimizer.set_task_variables(task_rate[1])
    return optimizer


# ------------------------------------------------------------ run directory


def read_examples(task, path, strict, what, log):
    """The examples of a task's file (`what`: "training", "dev"); skipped records are logged."""
    examples, problems = task.read(path, strict=strict)
    if problems:
        log(summarize(problems, f"bad record(s) skipped in {path} (--strict makes them errors)"))
    if not examples:
        raise ValueError(f"{path}: no usable {what} example.")
    log(f"{what}: {len(examples):,} examples from {path}")
    return examples


def saved_config(path, task):
    """A run's `config.yaml` as a `FinetuneConfig`; a field it predates takes the value it then had."""
    values = read_yaml_mapping(path, "FinetuneConfig fields")
    for key, value in _BEFORE_FIELD.items():
        values.setdefault(key, value)
    return finetune_config(values, task, source=path)


def _has_trained(run_dir):
    """Whether a run directory holds any training (a checkpoint or a model)."""
    return (newest_checkpoint_epoch(run_dir) is not None
            or os.path.isfile(RunDirectory(run_dir).model))


def _check_output(output_dir, inputs):
    """Refuses an output over the inputs, or a folder that is not a fine-tuning run directory.

    A folder that exists and holds anything but a run (and a lock or
    temporary files a run left before its settings were written) is the
    user's: nothing is written into it.
    """
    check_outside_inputs(output_dir, inputs)
    if not os.path.isdir(output_dir) or os.path.isfile(RunDirectory(output_dir).config):
        return
    foreign = sorted(name for name in os.listdir(output_dir)
                     if name != RunDirectory.LOCK_FILE and not name.startswith(TEMPORARY_PREFIX))
    if foreign:
        shown = ", ".join(foreign[:4]) + (" ..." if len(foreign) > 4 else "")
        raise FileExistsError(
            f"{output_dir} exists and is not a fine-tuning run directory (it holds {shown}): "
            "choose another --output; nothing was written."
        )


def _check_resume(run_dir, task, config, vocabulary, log):
    """Refuses to resume a run with another task, config or vocabulary.

    A run that never trained (its settings were written, then a check or the
    data stopped it) takes the new settings: the corrected command works.
    """
    run = RunDirectory(run_dir)
    config_path = run.config
    if os.path.isfile(config_path):
        if not _has_trained(run_dir):
            log(f"{run_dir} never trained: its settings are replaced by this command's.")
            for path in (run.config, run.task_info, run.vocab, run.vocab_fingerprint):
                if os.path.isfile(path):
                    os.remove(path)
            return
        old = saved_config(config_path, task).to_dict()
        new = config.to_dict()
        for key in sorted(set(old) | set(new)):
            if key not in _FREE_ON_RESUME and old.get(key) != new.get(key):
                raise ValueError(
                    f"{run_dir} holds a run with {key}={old.get(key)!r}, but this one asks "
                    f"for {new.get(key)!r}; resuming with another configuration is refused: "
                    "use another --output."
                )
    check_run_vocabulary(run_dir, vocabulary, "the one of --init")


def read_yaml_task(path):
    """The `task` named in a run's `config.yaml` (None if it names none)."""
    values = read_yaml(path) or {}
    return values.get("task") if isinstance(values, dict) else None


def fit_epochs(config):
    """`(fit's epochs, fit's epochs per real epoch)`: one of `fit`'s epochs per dev evaluation.

    Example:

    >>> fit_epochs(FinetuneConfig(epochs=4, eval_per_epoch=5))
    (20, 5)
    >>> fit_epochs(FinetuneConfig(epochs=4, eval_per_epoch=0))  # no evaluation: real epochs
    (4, 1)
    """
    parts = max(config.eval_per_epoch, 1)
    return config.epochs * parts, parts


def dev_metric_name(task, task_info, config):
    """The dev score that chooses the best weights (higher is better): the task's `metric_name`.

    `metric_name` is a str, or a method `metric_name(task_info, config)` for
    a task whose metric depends on the run (SQuAD v2.0's `best_f1`, each GLUE
    task's own).

    Example:

    >>> from spanbert_keras.tasks import get_task
    >>> dev_metric_name(get_task("tacred"), {}, FinetuneConfig())
    'micro_f1'
    """
    name = task.metric_name
    if callable(name):
        name = name(task_info, config)
    if not isinstance(name, str) or not name:
        raise ValueError(f"Task {task.name!r} names no metric_name (the dev score that chooses "
                         f"the best weights). Received: {name!r}")
    return name


def finished_metrics(run_dir, task, config):
    """The dev metrics of a run that finished with `config`, or None; quick (no weights read).

    Finished: its `config.yaml` is `config`, its newest checkpoint is the
    last epoch's, and `model.keras` and `metrics.json` (the runner's last
    file) are there.
    """
    task = task if isinstance(task, FinetuneTask) else get_task(task)
    run = RunDirectory(run_dir)
    config_path, metrics_path = run.config, run.metrics
    if not all(os.path.isfile(p) for p in (config_path, metrics_path, run.model)):
        return None
    try:
        if read_yaml_task(config_path) != task.name or saved_config(config_path, task) != config:
            return None
        metrics = read_json(metrics_path)
    except (OSError, ValueError):
        return None
    newest = newest_checkpoint_epoch(run_dir)
    if newest is None or newest < fit_epochs(config)[0] or not isinstance(metrics, dict):
        return None
    return metrics


def _finished_model(run_dir, epochs, log):
    """The saved model of a run that trained `epochs` of `fit`'s epochs, or None (unfinished, or a damaged file)."""
    path = RunDirectory(run_dir).model
    checkpoint = latest_checkpoint(run_dir, log=log)
    if checkpoint is None or checkpoint.epoch < epochs:
        return None
    problem = model_file_problem(path)
    if problem is None:
        try:
            return load_keras_file(path)
        except ValueError as error:
            problem = str(error)
    if problem != "missing":
        log(f"WARNING: {path} is damaged ({problem}); rebuilding it from the last checkpoint.")
    return None


def _count_batches(dataset):
    count = int(dataset.cardinality())
    if count >= 0:
        return count
    return int(dataset.reduce(0, lambda n, _: n + 1))


def resolve_config(task, config, train_file=None, encoder=None):
    """A `FinetuneConfig` from `run_finetuning`'s `config` (a config, a dict, a YAML path, None).

    A dict, a YAML file or None takes the task's defaults for its options,
    `train_file` and `encoder` (see `finetune_config`: an encoder narrower
    than BERT-base takes the task's small-encoder recipe); a
    `FinetuneConfig` is used as it is.
    """
    if config is None or isinstance(config, dict):
        return finetune_config(config, task, train_file=train_file, encoder=encoder)
    if isinstance(config, (str, os.PathLike)):
        return load_finetune_config(os.fspath(config), task, train_file=train_file,
                                    encoder=encoder)
    if isinstance(config, FinetuneConfig):
        return config
    raise TypeError(f"`config` must be a FinetuneConfig, a dict or a YAML path. Received: {config!r}")


# ------------------------------------------------------------------- runner


def run_finetuning(task_name, config, train_file, dev_file, init, output_dir, strict=False,
                   vocab=None, export_dir=None, overwrite_export=False, log=print, verbose=None,
                   strategy=None):
    """Fine-tunes (or resumes, or re-scores) a task; returns the dev metrics.

    Under a `tf.distribute` strategy, `batch_size` is the global batch (a
    multiple of the replicas), split over them; only the chief writes
    `output_dir` and `export_dir` (the other workers run on a private copy,
    see `spanbert_keras.training.distribute.worker_run_directory`).

    Args:
        task_name: one of `spanbert_keras.tasks.TASK_NAMES`, or a
            `FinetuneTask` (a task of one's own).
        config: a `FinetuneConfig`, a dict of its fields, a YAML path, or
            None (the task's defaults).
        train_file, dev_file: the task's data files.
        init: the encoder to start from (see the module docstring).
        output_dir: the run directory (created; resumed if it holds a run).
        strict: bool, a bad record is an error instead of a counted warning.
        vocab: optional vocabulary file for a `.keras` `init`.
        export_dir: optional `saved_models/NAME/VERSION` to export to.
        overwrite_export: bool, replace an existing export version.
        log: callable for progress messages.
        verbose: `fit`'s verbosity (default: a progress bar in a terminal,
            one line per epoch otherwise).
        strategy: `"auto"` (None), `"one_device"`, `"mirrored"`,
            `"multi_worker"` (the cluster of `TF_CONFIG`), `"tpu"`, or a
            `tf.distribute.Strategy` (see `spanbert_keras.training.distribute`).

    Returns:
        dict of float dev metrics (the task's `score`) of the weights the
        run ends with (the best dev evaluation's).
    """
    strategy = get_strategy(strategy, log=log)  # first: before any TensorFlow operation
    with worker_run_directory(output_dir, strategy, log=log) as own_dir, \
            lost_workers_as_errors(strategy):
        if own_dir != output_dir and export_dir is not None:  # the chief exports
            export_dir = os.path.join(RunDirectory(own_dir).export, os.path.basename(
                os.path.normpath(export_dir)))
        return _run_finetuning(task_name, config, train_file, dev_file, init, own_dir, strict,
                               vocab, export_dir, overwrite_export, log, verbose, strategy)


def _flat(values):
    """A config dict with its options as `options.KEY` entries.

    >>> _flat({"epochs": 4, "options": {"doc_stride": 64}})
    {'epochs': 4, 'options.doc_stride': 64}
    """
    flat = {k: v for k, v in values.items() if k != "options"}
    flat.update({f"options.{k}": v for k, v in (values.get("options") or {}).items()})
    return flat


def _recipe_for(task, given, config, train_file, backbone, log):
    """The config with the defaults for `backbone`'s size, and a line saying which recipe it is."""
    if not is_small_encoder(backbone) or not task.small_encoder_defaults:
        log(f"recipe: the paper's (encoder hidden size {backbone.hidden_dim})")
        return config
    tuned = resolve_config(task, given, train_file, encoder=backbone)
    paper = _flat(config.to_dict())
    changed = {k: v for k, v in _flat(tuned.to_dict()).items() if v != paper.get(k)}
    if changed:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
        log(f"recipe: small encoder (hidden {backbone.hidden_dim} < {SMALL_ENCODER_BELOW}): "
            f"{shown}, measured to teach one the task (the paper's is for base and large; "
            "settings given explicitly are kept)")
    return tuned


def _run_finetuning(task_name, config, train_file, dev_file, init, output_dir, strict, vocab,
                    export_dir, overwrite_export, log, verbose, strategy):
    task = task_name if isinstance(task_name, FinetuneTask) else get_task(task_name)
    given, config = config, resolve_config(task, config, train_file)
    check_global_batch(config.batch_size, strategy, "batch_size")
    task.options(config)  # unknown options are refused before any work
    if export_dir is not None:  # so is an export that could not be written
        check_free(version_dirs(export_dir)[:1], overwrite_export)
    inputs = [train_file, dev_file, vocab]
    if isinstance(init, (str, os.PathLike)) and os.path.exists(resolve_preset(init)):
        inputs.append(resolve_preset(init))
    _check_output(output_dir, inputs)
    if export_dir is not None:
        check_outside_inputs(export_dir, inputs)
    run = RunDirectory(output_dir)
    saved_config = run.config
    if os.path.isfile(saved_config) and read_yaml_task(saved_config) != task.name:
        raise ValueError(f"{output_dir} holds a {read_yaml_task(saved_config)!r} run, not "
                         f"{task.name!r}: use another --output.")
    with run_lock(output_dir, log=log):
        train_examples = read_examples(task, train_file, strict, "training", log)
        dev_examples = read_examples(task, dev_file, strict, "dev", log)
        backbone, vocabulary = load_encoder(init, vocab, log)
        config = _recipe_for(task, given, config, train_file, backbone, log)
        if config.sequence_length > backbone.max_sequence_length:
            raise ValueError(
                f"sequence_length={config.sequence_length} exceeds the encoder's position "
                f"table ({backbone.max_sequence_length}); lower it with --set sequence_length=N."
            )
        _check_resume(output_dir, task, config, vocabulary, log)
        task_path = run.task_info
        if os.path.isfile(task_path):
            task_info = read_json(task_path)
        else:
            task_info = task.prepare(train_examples, vocabulary, config, dev_examples)
        write_yaml(run.config, {"task": task.name, **config.to_dict()})
        record_vocabulary(output_dir, vocabulary)
        write_json(task_path, task_info)

        model = _finished_model(output_dir, fit_epochs(config)[0], log)
        if model is None:
            with strategy.scope():
                model = _train(task, task_info, config, backbone, vocabulary, train_examples,
                               dev_examples, output_dir, log, verbose)
        else:
            log(f"{output_dir} has already finished {config.epochs} epochs; scoring it.")
        metrics = predict_and_score(task, model, dev_examples, vocabulary, task_info, config,
                                    output_dir, log)
        task_info = task.calibrate(task_info, metrics)
        write_json(task_path, task_info)
        write_json(run.metrics, metrics)  # last: the run is finished
        if export_dir is not None:
            log(f"Exporting to {export_dir} ...")
            paths = task.export(model, vocabulary, task_info, config, export_dir,
                                overwrite=overwrite_export)
            log(f"SavedModel: {paths['saved_model'] if isinstance(paths, dict) else paths}")
    return metrics


def _train(task, task_info, config, backbone, vocabulary, examples, dev_examples, run_dir, log,
           verbose):
    keras.utils.set_random_seed(config.seed)  # the same head and dropout seeds on a restart
    model = task.build_model(finetuning_backbone(backbone, config), task_info, config)
    train = shard_by_data(task.dataset(examples, vocabulary, task_info, config, training=True))
    available = _count_batches(train)
    if available == 0:
        raise ValueError(
            f"The training data gives no full batch of {config.batch_size}; lower batch_size."
        )
    per_epoch = config.steps_per_epoch or available
    epochs, parts = fit_epochs(config)
    if per_epoch < parts:
        raise ValueError(f"eval_per_epoch={config.eval_per_epoch} exceeds the {per_epoch} steps of "
                         "an epoch; lower it.")
    interval = per_epoch // parts  # steps between two dev evaluations: one of fit's epochs
    total = interval * epochs
    run = RunDirectory(run_dir)
    checkpoint = latest_checkpoint(run_dir, log=log)
    start = min(checkpoint.epoch, epochs) if checkpoint is not None else 0
    check_workers_agree(tf.distribute.get_strategy(), start_epoch=start)
    optimizer = finetune_optimizer(config, total, task.task_learning_rate(task_info, config, model))
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile,
                  **task.compile_args(task_info, config))
    metric = dev_metric_name(task, task_info, config) if config.eval_per_epoch else None
    log(f"model: {model.count_params():,} parameters; batch {config.batch_size} x "
        f"{config.sequence_length}; {available:,} batches of training features")
    evaluations = (f"; dev scored {parts} time(s) an epoch (every {interval:,} steps), the best "
                   f"{metric} kept" if config.eval_per_epoch else "; dev scored at the end")
    rounded = (f" (the {per_epoch:,} rounded down to a multiple of eval_per_epoch)"
               if per_epoch % parts else "")
    log(f"schedule: {total:,} steps = {config.epochs} epochs x {interval * parts:,}{rounded}"
        f"{evaluations}; warm-up {int(config.warmup_fraction * total):,} steps to lr "
        f"{config.learning_rate}; starting at epoch {start / parts:g}")
    if checkpoint is not None:
        restore_checkpoint(model, checkpoint)
    if start < epochs:
        fit_verbose, progress = fit_progress(verbose, log, parts)
        evaluation = []
        if config.eval_per_epoch:
            def evaluate(trained):
                predictions = task.predict(trained, dev_examples, vocabulary, task_info, config)
                return task.score(predictions, dev_examples, task_info)

            evaluation = [DevEvaluation(evaluate, metric, run_dir, parts, log)]
        # The evaluation first: the others see its scores in the epoch's logs.
        callbacks = [*evaluation, keras.callbacks.TensorBoard(log_dir=run.logs),
                     *progress, EpochCheckpoint(run_dir)]
        # The batches a resumed run trained before are skipped: it sees those the run would have.
        model.fit(train.repeat().skip(start * interval), epochs=epochs, initial_epoch=start,
                  steps_per_epoch=interval, callbacks=callbacks, verbose=fit_verbose,
                  shuffle=False)
    best = latest_best(run_dir, log=log) if config.eval_per_epoch else None
    if best is not None:
        restore_best(model, best)
        log(f"Keeping the weights of the best dev evaluation, {best.evaluation} of {epochs} "
            f"({epoch_label(best.evaluation - 1, epochs, parts)}): {best.metric} "
            f"{best.score:.4g}")
    check_workers_agree(tf.distribute.get_strategy(), log=log,
                        final_weights=weights_checksum(model.weights))
    save_model_file(model, run.model)
    log(f"Saved {run.model}; TensorBoard: tensorboard --logdir {run.logs}")
    return model


def predict_and_score(task, model, examples, vocabulary, task_info, config, folder, log):
    """Predicts `examples`, writes the predictions into `folder`, returns the task's metrics."""
    predictions = task.predict(model, examples, vocabulary, task_info, config)
    path = task.write_predictions(predictions, os.path.join(folder, RunDirectory.PREDICTIONS_FILE),
                                  examples)
    log(f"Dev predictions: {path}")
    return {k: (float(v) if isinstance(v, float) else v)
            for k, v in task.score(predictions, examples, task_info).items()}


def load_finetuned(run_dir):
    """`(task, config, task_info, vocabulary, model)` of a finished fine-tuning run directory."""
    run = RunDirectory(run_dir)
    config_path, model_path = run.config, run.model
    if not os.path.isfile(config_path) or not os.path.isfile(run.task_info):
        raise FileNotFoundError(f"{run_dir} is not a fine-tuning run directory (no "
                                f"{RunDirectory.CONFIG_FILE} / {RunDirectory.TASK_FILE}).")
    if not os.path.isfile(model_path):
        raise FileNotFoundError(
            f"{run_dir} has no {RunDirectory.MODEL_FILE} yet: finish the run first.")
    check_model_file(model_path, "run the same `spanbert-keras finetune` command again: it "
                                 "rebuilds it from the last checkpoint in backup/")
    task = get_task(read_yaml_task(config_path))
    config = load_finetune_config(config_path, task)
    task_info = read_json(run.task_info)
    return task, config, task_info, run_vocabulary(run_dir), load_keras_file(model_path)


def is_finetuning_run(run_dir):
    """Whether `run_dir` is a fine-tuning run directory (it has a `task.json`)."""
    return os.path.isfile(RunDirectory(run_dir).task_info)


def evaluate_finetuned(run_dir, dev_file, strict=False, log=print):
    """Re-scores the saved model of a fine-tuning run on `dev_file`.

    Predictions go to `RUN/evaluation/` (the run's own dev predictions are
    left alone).

    Returns:
        dict of dev metrics.
    """
    task, config, task_info, vocabulary, model = load_finetuned(run_dir)
    examples = read_examples(task, dev_file, strict, "dev", log)
    folder = RunDirectory(run_dir).evaluation
    os.makedirs(folder, exist_ok=True)
    return predict_and_score(task, model, examples, vocabulary, task_info, config, folder, log)


def export_finetuned(run_dir, export_dir, overwrite=False, log=print):
    """Exports the saved model of a fine-tuning run as its task's strings-in SavedModel.

    Returns:
        The task's dict of written paths.
    """
    check_free(version_dirs(export_dir)[:1], overwrite)  # before loading anything
    task, config, task_info, vocabulary, model = load_finetuned(run_dir)
    log(f"Exporting the {task.name} model of {run_dir} to {export_dir} ...")
    paths = task.export(model, vocabulary, task_info, config, export_dir, overwrite=overwrite)
    log(f"SavedModel: {paths['saved_model'] if isinstance(paths, dict) else paths}")
    return paths
