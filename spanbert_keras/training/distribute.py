"""Training on several devices or machines with `tf.distribute`: the strategy and what it implies.

One `tf.distribute.Strategy` per process, chosen by name (`--strategy`):

| name | strategy | replicas |
|---|---|---|
| `one_device` | `OneDeviceStrategy` | the first GPU, else the CPU |
| `mirrored` | `MirroredStrategy` | every GPU of this machine (else every logical CPU device) |
| `multi_worker` | `MultiWorkerMirroredStrategy` | every GPU (or the CPU) of every worker `TF_CONFIG` names |
| `tpu` | `TPUStrategy` | the TPU cores (`TPU_NAME`, default `local`: a TPU VM) |
| `auto` | `multi_worker` when `TF_CONFIG` names a cluster of several tasks, else `mirrored` when several GPUs are visible, else no strategy | |

The cluster comes from the `TF_CONFIG` environment variable as TensorFlow
defines it: `{"cluster": {"worker": ["host1:port", "host2:port"]},
"task": {"type": "worker", "index": 0}}` on the first machine, index 1 on the
second; every worker runs the same command. Worker 0 (or the `chief` task, if
the cluster has one) is the chief: it alone writes the run directory. Every
other worker runs the same program on a private copy of the run directory
(`worker_run_directory`), removed at the end, so collective operations (saving
reads variables across workers) stay in step and nothing it writes reaches
the real run. What the chief prepares once for every worker (a vocabulary
learned from the corpus, the corpus' token counts) the other workers wait
for in the shared run directory and read from there (`wait_for_chief`), so
every worker uses the same.

Under every strategy the batch size in the configs is the global batch,
split evenly over the replicas (`check_global_batch`); each worker's input
pipeline reads its own share of the corpus files (of the blocks, when there
are fewer files than workers) with its own masking seeds
(`distribute_batches`).

TensorFlow is imported only when a strategy is made, so the command line
can check `--strategy` and `TF_CONFIG` before loading it.
"""

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import zlib

from spanbert_keras.run_layout import RunDirectory

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
_CLUSTER_TASKS = ("chief", "worker")
# Run-directory entries a non-chief worker does not copy: TensorBoard logs, the
# lock, temporary files of atomic writes.
_NOT_COPIED = (RunDirectory.LOG_DIR, RunDirectory.LOCK_FILE, ".*", "*.tmp")
_STRATEGY = {}  # the process' strategy, by resolved name
# How long a worker waits for a file the chief writes (seconds): the environment
# variable, else the default (learning a vocabulary from a large corpus takes a while).
CHIEF_WAIT_VARIABLE = "SPANBERT_KERAS_CHIEF_WAIT"
CHIEF_WAIT_SECONDS = 7200.0
# How long a worker gives the chief to take the shared run directory (its lock).
CHIEF_APPEARS_SECONDS = 120.0


class WorkerLostError(RuntimeError):
    """Another worker of a multi-worker run stopped answering (it was killed or lost)."""


class ChiefFileMissingError(TimeoutError):
    """A worker waited in vain for a file the chief writes into the shared run directory."""


def tf_config_cluster(environ=None):
    """The cluster and task of `TF_CONFIG`, or None when it names no cluster.

    Args:
        environ: mapping to read `TF_CONFIG` from (default `os.environ`).

    Returns:
        None, or a dict `{"cluster": {type: [address, ...]}, "task":
        {"type": str, "index": int}, "workers": int}` where `workers` counts
        the chief and worker tasks.

    Raises:
        ValueError: `TF_CONFIG` is not JSON or its task is not in its cluster.

    Example:

    >>> tf_config_cluster({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]},'
    ...                                 ' "task": {"type": "worker", "index": 1}}'})["workers"]
    2
    >>> tf_config_cluster({}) is None
    True
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {raw[:200]!r}") from None
    if not isinstance(values, dict) or not isinstance(values.get("cluster") or {}, dict):
        raise ValueError(
            'TF_CONFIG must be a JSON object {"cluster": {"worker": ["host:port", ...]}, '
            f'"task": {{"type": "worker", "index": 0}}}}. Received: {raw[:200]!r}'
        )
    cluster = values.get("cluster") or {}
    if not cluster:
        return None
    task = values.get("task") or {}
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise ValueError(
            f"TF_CONFIG's task {task!r} is not one of its cluster's tasks "
            f"({ {k: len(v) for k, v in cluster.items()} }): set task.type and task.index "
            "to this machine's entry."
        )
    workers = sum(len(cluster.get(name) or []) for name in _CLUSTER_TASKS)
    return {"cluster": cluster, "task": {"type": kind, "index": index}, "workers": workers}


def resolve_strategy_name(name="auto", cluster=None, num_gpus=0):
    """The strategy `name` stands for: `auto` resolved, others checked.

    Args:
        name: one of `STRATEGIES`.
        cluster: `tf_config_cluster()`'s result.
        num_gpus: int, GPUs visible to this process.

    Returns:
        One of `"default"` (no strategy: one device), `"one_device"`,
        `"mirrored"`, `"multi_worker"`, `"tpu"`.

    Example:

    >>> resolve_strategy_name("auto", None, num_gpus=4)
    'mirrored'
    >>> resolve_strategy_name("auto", {"workers": 2}, num_gpus=1)
    'multi_worker'
    >>> resolve_strategy_name("auto", None, num_gpus=1)
    'default'
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    if name != "auto":
        return name
    if cluster is not None and cluster["workers"] > 1:
        return "multi_worker"
    return "mirrored" if num_gpus > 1 else "default"


def _make_strategy(name, log):
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name in ("one_device", "mirrored"):  # (listing logical devices starts TensorFlow)
        devices = [d.name for d in (tf.config.list_logical_devices("GPU")
                                    or tf.config.list_logical_devices("CPU"))]
        if name == "one_device":
            return tf.distribute.OneDeviceStrategy(devices[0])
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if tf_config_cluster() is None:
            log("WARNING: --strategy multi_worker without a TF_CONFIG cluster: one worker.")
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:
            raise RuntimeError(
                f"{error}. MultiWorkerMirroredStrategy must be made before any TensorFlow "
                "operation runs: call spanbert_keras.training.distribute.get_strategy() first "
                "thing in the program."
            ) from None
    tpu = os.environ.get("TPU_NAME", "local")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as error:
        first = (str(error).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"--strategy tpu: no TPU found at TPU_NAME={tpu!r} ({first}).") from None
    return tf.distribute.TPUStrategy(resolver)


def get_strategy(strategy="auto", log=print):
    """The process' `tf.distribute.Strategy` for a name of `STRATEGIES` (or a strategy).

    Made once per process and reused: TensorFlow's collective operations do
    not survive a second multi-device strategy in one process. Call it before
    any other TensorFlow work when using `multi_worker`.

    Args:
        strategy: a name of `STRATEGIES`, None (`"auto"`), or a
            `tf.distribute.Strategy`, returned as it is.
        log: callable for the one line describing the strategy.

    Returns:
        A `tf.distribute.Strategy` (TensorFlow's default strategy when there
        is nothing to distribute).

    Example:

    >>> import tensorflow as tf
    >>> default = tf.distribute.get_strategy()  # no strategy: one device
    >>> get_strategy(default) is default, default.num_replicas_in_sync
    (True, 1)
    """
    if strategy is None:
        strategy = "auto"
    if not isinstance(strategy, str):
        return strategy
    import tensorflow as tf

    cluster = tf_config_cluster()
    name = resolve_strategy_name(strategy, cluster, len(tf.config.list_physical_devices("GPU")))
    if name not in _STRATEGY:
        _STRATEGY[name] = _make_strategy(name, log)
        if name != "default":
            log(f"strategy: {describe(_STRATEGY[name])}")
    return _STRATEGY[name]


def describe(strategy):
    """One line: the strategy, its replicas and workers."""
    replicas = strategy.num_replicas_in_sync
    workers = num_workers(strategy)
    return (f"{type(strategy).__name__}, {replicas} replica{'s' * (replicas != 1)} "
            f"({workers} worker{'s' * (workers != 1)})")


def num_workers(strategy):
    """The number of machines (input pipelines) of `strategy`."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not _is_multi_worker(strategy):
        return 1
    spec = resolver.cluster_spec().as_dict()
    return sum(len(spec.get(name) or []) for name in _CLUSTER_TASKS)


def _is_multi_worker(strategy):
    from spanbert_keras.models.distributed import is_multi_worker  # imports TensorFlow

    return is_multi_worker(strategy)


def is_chief(strategy):
    """True on the worker that writes checkpoints, logs and run files (always, on one machine)."""
    return bool(strategy.extended.should_checkpoint)


def task_id(strategy):
    """This worker's index in its cluster (0 on one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return int(getattr(resolver, "task_id", 0) or 0) if resolver is not None else 0


def check_global_batch(batch_size, strategy, what="data.batch_size"):
    """Refuses a global batch the replicas cannot share evenly.

    Example:

    >>> class TwoReplicas:
    ...     num_replicas_in_sync = 2
    >>> check_global_batch(8, TwoReplicas())
    4
    >>> check_global_batch(7, TwoReplicas())
    Traceback (most recent call last):
    ...
    ValueError: data.batch_size=7 is the global batch: it must be a multiple of the 2 replicas (each gets an equal share); use 6 or 8.
    """
    replicas = int(strategy.num_replicas_in_sync)
    batch_size = int(batch_size)
    if batch_size < replicas or batch_size % replicas:
        lower = batch_size // replicas * replicas
        choices = f"{lower} or {lower + replicas}" if lower else str(replicas)
        raise ValueError(
            f"{what}={batch_size} is the global batch: it must be a multiple of the "
            f"{replicas} replicas (each gets an equal share); use {choices}."
        )
    return batch_size // replicas


def distribute_batches(make_dataset, global_batch_size, strategy=None):
    """Batches of `global_batch_size` for `fit` under `strategy`, one input pipeline per worker.

    Each worker's pipeline is `make_dataset(batch_size, input_context)` with
    the worker's share of the global batch (`global / workers`) and its
    `tf.distribute.InputContext` (None on a single worker), so it reads its
    own files (or blocks) and draws its own masks; its batches are then cut
    into one piece per local replica. On one worker the global batches (and
    their masks) are therefore the same whatever the number of replicas,
    and a run can be resumed under another replica count.

    Args:
        make_dataset: callable `(batch_size, input_context) -> tf.data.Dataset`
            of batches of exactly `batch_size` (`drop_remainder`).
        global_batch_size: int, divisible by the replicas.
        strategy: default `tf.distribute.get_strategy()` (the one whose scope is open).

    Returns:
        The dataset itself when there is one replica, else a distributed dataset.
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    per_replica = check_global_batch(global_batch_size, strategy)
    if strategy.num_replicas_in_sync == 1:
        return make_dataset(int(global_batch_size), None)

    def dataset_fn(context):
        pipelines = context.num_input_pipelines
        dataset = make_dataset(int(global_batch_size) // pipelines, context if pipelines > 1 else None)
        if int(global_batch_size) // pipelines != per_replica:
            dataset = dataset.rebatch(per_replica, drop_remainder=True)
        return dataset

    return strategy.distribute_datasets_from_function(dataset_fn)


def shard_by_data(dataset):
    """`dataset` with `AutoShardPolicy.DATA`: every worker reads it all and keeps its share.

    For in-memory datasets (fine-tuning examples, cached held-out batches),
    which have no files to share out.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


@contextlib.contextmanager
def worker_run_directory(run_dir, strategy, log=print):
    """The run directory this process writes: `run_dir` on the chief, a private copy elsewhere.

    A non-chief worker of a multi-worker run gets a temporary copy of
    `run_dir` as it is now (configuration, vocabulary, checkpoints: what a
    resumed run restores; not the TensorBoard logs), runs the same program
    on it, and the copy is removed at the end. So every worker restores the
    chief's last checkpoint, and only the chief writes `run_dir`. The copy
    is made in the temporary directory (`TMPDIR`), which must hold a run's
    checkpoints; the copies of workers of this machine that were killed
    are removed first. The run
    directory must therefore be one the workers share (a network
    filesystem): to resume a multi-worker run (`check_workers_agree` stops a
    run whose workers would resume from different epochs), and for the
    other workers to read what the chief prepares for them (`wait_for_chief`).

    Yields:
        The directory to run in.
    """
    if is_chief(strategy):
        yield run_dir
        return
    _remove_copies_of_dead_workers(log)
    own = tempfile.mkdtemp(prefix=f"spanbert-keras-worker{task_id(strategy)}-{os.getpid()}-")
    try:
        copy = os.path.join(own, os.path.basename(os.path.normpath(run_dir)) or "run")
        if os.path.isdir(run_dir):
            shutil.copytree(run_dir, copy, ignore=shutil.ignore_patterns(*_NOT_COPIED))
        log(f"worker {task_id(strategy)}: the chief writes {run_dir}; this worker writes a "
            f"copy, {copy}, removed at the end")
        yield copy
    finally:
        shutil.rmtree(own, ignore_errors=True)


def _remove_copies_of_dead_workers(log):
    folder = tempfile.gettempdir()
    for name in os.listdir(folder):
        match = re.fullmatch(r"spanbert-keras-worker\d+-(\d+)-\w+", name)
        if match and not _alive(int(match.group(1))):
            shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
            log(f"Removed {os.path.join(folder, name)}, the copy of a worker that was stopped.")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_workers_agree(strategy, log=None, **values):
    """Stops a multi-worker run whose workers hold different `values` (ints), naming them.

    A collective operation: every worker must call it, with the same names.
    `log`: callable told when they agree (nothing is said on one worker).

    Example (one worker: nothing to compare):

    >>> import tensorflow as tf
    >>> check_workers_agree(tf.distribute.get_strategy(), start_epoch=3)
    """
    if not _is_multi_worker(strategy) or not values:
        return
    import tensorflow as tf

    names = sorted(values)
    local = tf.constant([[int(values[name]) for name in names]], tf.int64)

    @tf.function
    def gather():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_gather(local, 0))

    rows = strategy.experimental_local_results(gather())[0].numpy()
    for column, name in enumerate(names):
        seen = rows[:, column].tolist()
        if len(set(seen)) > 1:
            raise ValueError(
                f"The workers disagree on {name}: {seen} (one value per replica). Every worker "
                "must see the chief's run directory (a shared filesystem) to resume a run."
            )
    if log is not None:
        log(f"the {num_workers(strategy)} workers agree: "
            + ", ".join(f"{name} {values[name]}" for name in names))


def weights_checksum(variables):
    """CRC-32 of the values of `variables` (this worker's copy): equal on workers in step.

    Example:

    >>> import numpy as np
    >>> weights_checksum([np.zeros(3, "float32")]) == weights_checksum([np.zeros(3, "float32")])
    True
    """
    import numpy as np

    checksum = 0
    for variable in variables:
        value = variable.numpy() if hasattr(variable, "numpy") else variable
        checksum = zlib.crc32(np.ascontiguousarray(value).tobytes(), checksum)
    return checksum


@contextlib.contextmanager
def lost_workers_as_errors(strategy):
    """Turns TensorFlow's error for an unreachable peer worker into a `WorkerLostError`.

    When a worker of a multi-worker run dies, the others fail at their next
    collective operation; restarting every worker with the same command
    resumes from the last checkpoint.
    """
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError) as error:
        if not _is_multi_worker(strategy):
            raise
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        raise WorkerLostError(
            f"another worker of the cluster stopped answering ({type(error).__name__}: "
            f"{first}). Restart every worker with the same command: training resumes from "
            "the last checkpoint."
        ) from None


def chief_wait_seconds(environ=None):
    """How long a worker waits for the chief's files: `SPANBERT_KERAS_CHIEF_WAIT` or 7200 s.

    Example:

    >>> chief_wait_seconds({"SPANBERT_KERAS_CHIEF_WAIT": "600"}), chief_wait_seconds({})
    (600.0, 7200.0)
    """
    raw = (os.environ if environ is None else environ).get(CHIEF_WAIT_VARIABLE, "").strip()
    if not raw:
        return CHIEF_WAIT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"{CHIEF_WAIT_VARIABLE} must be a positive number of seconds. "
                         f"Received: {raw!r}")
    return seconds


def wait_for_chief(path, what, read=None, timeout=None, chief_running=None, appear_within=None,
                   log=None, poll=0.5, report_every=60.0):
    """Waits until the chief has written `path` into the shared run directory; returns it read.

    A worker other than the chief calls it for what the chief prepares once
    for every worker. The chief writes each file atomically, so a file that
    is there is whole; `read` may still answer None for one that is not the
    awaited one yet (the counts of another vocabulary, say): the wait goes on.

    Args:
        path: str, the file the chief writes.
        what: str, what the file holds, for the messages.
        read: callable `path -> value`, None while `path` is not (yet) the
            one awaited; default: `path` itself once it exists.
        timeout: seconds to wait at most (default `chief_wait_seconds()`).
        chief_running: optional callable `() -> bool`: whether the chief is
            working on the run (holds its lock). A chief seen running that
            stops without having written `path` ends the wait at once.
        appear_within: optional seconds: a chief not seen running by then
            works elsewhere (the workers do not share the run directory) or
            never started, and the wait ends. (Making the strategy waits for
            every worker, so a chief that runs takes its run directory at
            about the time the other workers start waiting.)
        log: optional callable, told once that this worker waits (and every
            `report_every` seconds that it still does).
        poll: seconds between looks.

    Returns:
        `read(path)`'s first value that is not None.

    Raises:
        ChiefFileMissingError: (a `TimeoutError`) the chief stopped, or
            `timeout` passed, before `path` was written; the message names
            the file and what it holds.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
    >>> wait_for_chief(path, "the vocabulary", timeout=0.1, poll=0.05)
    Traceback (most recent call last):
    ...
    spanbert_keras.training.distribute.ChiefFileMissingError: The chief did not write .../vocab.txt (the vocabulary) in 0.1 s, ...
    >>> with open(path, "w") as f:
    ...     _ = f.write("[PAD]\\n")
    >>> wait_for_chief(path, "the vocabulary", timeout=0.1) == path
    True
    """
    read = read or (lambda name: name if os.path.exists(name) else None)
    timeout = chief_wait_seconds() if timeout is None else float(timeout)
    start = time.monotonic()
    seen_running = False
    reported = None
    while True:
        value = read(path)
        if value is not None:
            if reported is not None and log is not None:
                log(f"the chief wrote {path} after {time.monotonic() - start:.1f} s")
            return value
        running = chief_running() if chief_running is not None else None
        if running:
            seen_running = True
        elif seen_running:
            value = read(path)  # written just before it stopped?
            if value is not None:
                return value
            raise ChiefFileMissingError(
                f"The chief stopped working on the run without writing {path} ({what}): "
                "see the chief's output for why, then start every worker again with the "
                "same command."
            )
        waited = time.monotonic() - start
        if not seen_running and appear_within is not None and waited >= appear_within:
            raise ChiefFileMissingError(
                f"The chief did not take the run directory of {path} in {appear_within:g} s, "
                f"so it will not write {path} ({what}) there: every worker must see the "
                "chief's run directory (the same --output on a filesystem all workers share), "
                "and the chief must be running. Start every worker again with the same command."
            )
        if waited >= timeout:
            raise ChiefFileMissingError(
                f"The chief did not write {path} ({what}) in {timeout:g} s, the longest a "
                "worker waits for it: the chief stopped, or sees another run directory (the "
                "workers must share it), or is still preparing (set "
                f"{CHIEF_WAIT_VARIABLE}=SECONDS to wait longer). Start every worker again "
                "with the same command."
            )
        if log is not None and (reported is None or waited - reported >= report_every):
            log(f"waiting for the chief to write {path} ({what}): "
                + ("at most " if reported is None else f"{waited:.0f} s so far, at most ")
                + f"{timeout:g} s")
            reported = waited
        time.sleep(max(0.0, min(poll, timeout - waited)))
