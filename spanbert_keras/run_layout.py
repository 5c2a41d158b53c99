"""The layout of a run directory: the one place its file and folder names are defined.

`RunDirectory` names every file and folder that `spanbert-keras pretrain`,
`finetune` and `import` write into a run directory, and the paths of a given
one. What the files hold and the rules they are written by (locks,
checkpoints, best weights, the history) are
`spanbert_keras.training.checkpointing`'s; importing a checkpoint as a run is
`spanbert_keras.checkpoints.run_import`'s.

Nothing here imports TensorFlow, or any module of the package but
`spanbert_keras.files`: every module that reads or writes a run directory
imports it.
"""

import os
import re

from spanbert_keras.files import OUTPUT_MARKER


class RunDirectory:
    """A run directory's layout: the names of its files and folders, and their paths.

    One folder holds everything a run needs to resume, be evaluated, be
    exported or be fine-tuned from, without the original config file.
    Which stage writes what:

        RUN/
          lock               while a process works here: its PID and host (every stage)
          config.yaml        the run's configuration, checked on resume: the resolved
                             `PretrainConfig` (pretrain, import) or the `FinetuneConfig`
                             and the task's name (finetune)
          vocab.txt          the run's vocabulary (every stage)
          vocab.sha256       its fingerprint (`sha256sum -c vocab.sha256` checks it)
          backup/            epoch-NNNNNN/: the last two checkpoints (pretrain: one per
                             epoch; finetune: one per dev evaluation), each complete or
                             absent: model.weights.h5 (weights and optimiser),
                             seeds.npz (the layers' dropout seeds), checkpoint.json
                             (the epoch, each file's size and SHA-256)
          best/              eval-NNNNNN/: the weights of the best dev evaluation so far
                             (finetune; the newest two), each complete or absent:
                             weights.npz, best.json (the scores, each file's SHA-256)
          logs/              TensorBoard (`tensorboard --logdir RUN/logs`); finetune's
                             dev scores of every evaluation in its `validation` run
          history.json       the logs of every epoch (pretrain) or evaluation interval
                             (finetune, dev scores as `val_NAME`), written after each
          model.keras        the final model: the trained `SpanBertPretrainer`
                             (pretrain) or the best evaluation's task model (finetune),
                             written at the end
          encoder.keras      the encoder alone, for fine-tuning (pretrain, import)
          token_counts.txt   the corpus' count of each vocabulary id (line = id): the
                             random replacement tokens' distribution (pretrain)
          imported.weights.h5  the imported weights a new pre-training starts from (import)
          imported.json      where they came from, which parts were fresh, the casing
                             (import, `import --task`)
          task.json          what the task fixed for the run: labels, options (finetune)
          predictions.json   the dev predictions in the official format, with the
                             task's extra files (finetune)
          metrics.json       the dev scores (finetune; written last: the run is finished)
          evaluation/        `evaluate`'s predictions of a finished fine-tuning run
          export/            a non-chief worker's export, in its private copy of the run
          .spanbert-keras-output  marks a run directory `import` (or `import --task`)
                             wrote whole, which `import --overwrite` may replace
                             (`spanbert_keras.files.staged_output`)

    `import --task` writes the files of a finished fine-tuning run (config,
    vocabulary, `task.json`, `model.keras`, `imported.json`). The rules every
    run directory shares (atomic writes, locking, checkpoints, best weights,
    the history) are `spanbert_keras.training.checkpointing`'s.

    The class attributes are the names (`RunDirectory.MODEL_FILE`); an
    instance gives the paths in one run directory (`run.model`).

    Args:
        path: str or `os.PathLike`, the run directory (it need not exist).

    Example:

    >>> import os
    >>> run = RunDirectory("runs/tiny")
    >>> run.config, run.vocab, run.model
    ('runs/tiny/config.yaml', 'runs/tiny/vocab.txt', 'runs/tiny/model.keras')
    >>> run.checkpoint(3)
    'runs/tiny/backup/epoch-000003'
    >>> RunDirectory.checkpoint_epoch("epoch-000003"), RunDirectory.checkpoint_epoch("other")
    (3, None)
    >>> os.fspath(run), RunDirectory.HISTORY_FILE
    ('runs/tiny', 'history.json')
    """

    CONFIG_FILE = "config.yaml"
    VOCAB_FILE = "vocab.txt"
    VOCAB_FINGERPRINT_FILE = "vocab.sha256"
    LOCK_FILE = "lock"
    BACKUP_DIR = "backup"
    CHECKPOINT_WEIGHTS_FILE = "model.weights.h5"  # in backup/epoch-NNNNNN/
    CHECKPOINT_SEEDS_FILE = "seeds.npz"
    CHECKPOINT_INFO_FILE = "checkpoint.json"
    BEST_DIR = "best"
    BEST_WEIGHTS_FILE = "weights.npz"  # in best/eval-NNNNNN/
    BEST_INFO_FILE = "best.json"
    LOG_DIR = "logs"
    HISTORY_FILE = "history.json"
    MODEL_FILE = "model.keras"
    ENCODER_FILE = "encoder.keras"
    TOKEN_COUNTS_FILE = "token_counts.txt"
    IMPORTED_WEIGHTS_FILE = "imported.weights.h5"
    IMPORT_REPORT_FILE = "imported.json"
    TASK_FILE = "task.json"
    PREDICTIONS_FILE = "predictions.json"
    METRICS_FILE = "metrics.json"
    EVALUATION_DIR = "evaluation"
    EXPORT_DIR = "export"
    OUTPUT_MARKER_FILE = OUTPUT_MARKER

    _CHECKPOINT = re.compile(r"epoch-(\d{6,})")
    _BEST = re.compile(r"eval-(\d{6,})")

    def __init__(self, path):
        self.path = os.fspath(path)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"RunDirectory({self.path!r})"

    def __eq__(self, other):
        return isinstance(other, RunDirectory) and self.path == other.path

    def __hash__(self):
        return hash(self.path)

    @classmethod
    def names(cls):
        """`{attribute: name}` of every file and folder of the layout.

        Example:

        >>> RunDirectory.names()["CONFIG_FILE"]
        'config.yaml'
        """
        return {key: value for key, value in vars(cls).items()
                if key.endswith(("_FILE", "_DIR")) and isinstance(value, str)}

    def _join(self, name):
        return os.path.join(self.path, name)

    # ------------------------------------------------------------ every run

    @property
    def config(self):
        """`RUN/config.yaml`: the run's configuration."""
        return self._join(self.CONFIG_FILE)

    @property
    def vocab(self):
        """`RUN/vocab.txt`: the run's vocabulary."""
        return self._join(self.VOCAB_FILE)

    @property
    def vocab_fingerprint(self):
        """`RUN/vocab.sha256`: the vocabulary's SHA-256, in `sha256sum`'s format."""
        return self._join(self.VOCAB_FINGERPRINT_FILE)

    @property
    def lock(self):
        """`RUN/lock`: held by the process working on the run."""
        return self._join(self.LOCK_FILE)

    @property
    def backup(self):
        """`RUN/backup/`: the folder of the checkpoints."""
        return self._join(self.BACKUP_DIR)

    def checkpoint(self, epoch):
        """`RUN/backup/epoch-NNNNNN/`: the checkpoint of the state after `epoch` epochs."""
        return os.path.join(self.backup, f"epoch-{int(epoch):06d}")

    @classmethod
    def checkpoint_epoch(cls, name):
        """The epoch of a checkpoint's folder name (`"epoch-000003"`: 3), else None."""
        match = cls._CHECKPOINT.fullmatch(name)
        return int(match.group(1)) if match else None

    @property
    def best(self):
        """`RUN/best/`: the folder of the best dev evaluations' weights."""
        return self._join(self.BEST_DIR)

    def best_weights(self, evaluation):
        """`RUN/best/eval-NNNNNN/`: the weights of dev evaluation `evaluation` (from 1)."""
        return os.path.join(self.best, f"eval-{int(evaluation):06d}")

    @classmethod
    def best_evaluation(cls, name):
        """The evaluation of a best weights' folder name (`"eval-000002"`: 2), else None."""
        match = cls._BEST.fullmatch(name)
        return int(match.group(1)) if match else None

    @property
    def logs(self):
        """`RUN/logs/`: TensorBoard's event files."""
        return self._join(self.LOG_DIR)

    @property
    def history(self):
        """`RUN/history.json`: the logs of every epoch trained."""
        return self._join(self.HISTORY_FILE)

    @property
    def model(self):
        """`RUN/model.keras`: the final model."""
        return self._join(self.MODEL_FILE)

    # --------------------------------------------------- pre-training, import

    @property
    def encoder(self):
        """`RUN/encoder.keras`: the pre-trained encoder alone."""
        return self._join(self.ENCODER_FILE)

    @property
    def token_counts(self):
        """`RUN/token_counts.txt`: the corpus' count of each vocabulary id."""
        return self._join(self.TOKEN_COUNTS_FILE)

    @property
    def imported_weights(self):
        """`RUN/imported.weights.h5`: the weights `spanbert-keras import` wrote."""
        return self._join(self.IMPORTED_WEIGHTS_FILE)

    @property
    def import_report(self):
        """`RUN/imported.json`: where imported weights came from."""
        return self._join(self.IMPORT_REPORT_FILE)

    # ------------------------------------------------------------ fine-tuning

    @property
    def task_info(self):
        """`RUN/task.json`: what the task fixed for a fine-tuning run."""
        return self._join(self.TASK_FILE)

    @property
    def predictions(self):
        """`RUN/predictions.json`: the dev predictions of a fine-tuning run."""
        return self._join(self.PREDICTIONS_FILE)

    @property
    def metrics(self):
        """`RUN/metrics.json`: the dev scores of a finished fine-tuning run."""
        return self._join(self.METRICS_FILE)

    @property
    def evaluation(self):
        """`RUN/evaluation/`: the predictions of `evaluate` on a fine-tuning run."""
        return self._join(self.EVALUATION_DIR)

    @property
    def export(self):
        """`RUN/export/`: a non-chief worker's export, in its private copy of the run."""
        return self._join(self.EXPORT_DIR)

    @property
    def output_marker(self):
        """`RUN/.spanbert-keras-output`: the mark of a run directory `import` wrote."""
        return self._join(self.OUTPUT_MARKER_FILE)
