"""tf.distribute: choosing the strategy, global batches, worker directories, global losses.

The fast tests run in this process without making a strategy (one per
process: a second multi-device strategy breaks collective operations). The
slow ones start their own processes: 2 logical CPU devices under
`MirroredStrategy`, and 2 workers on 127.0.0.1 under
`MultiWorkerMirroredStrategy`, each bounded in time and killed at the end.
"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from task_data import ner_sentences
from task_data import write_conll
from task_data import write_encoder

from spanbert_keras.losses import WeightedMeanSparseCategoricalCrossentropy
from spanbert_keras.losses import global_sum
from spanbert_keras.models.distributed import is_multi_worker
from spanbert_keras.training import distribute

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)
CLUSTER = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
           "task": {"type": "worker", "index": 1}}


# ----------------------------------------------------------------- fast


def test_tf_config_names_the_cluster_or_says_what_is_wrong():
    cluster = distribute.tf_config_cluster({"TF_CONFIG": json.dumps(CLUSTER)})
    assert cluster["workers"] == 2 and cluster["task"] == {"type": "worker", "index": 1}
    with_chief = dict(CLUSTER, cluster={"chief": ["h:1"], "worker": ["h:2", "h:3"]})
    assert distribute.tf_config_cluster({"TF_CONFIG": json.dumps(with_chief)})["workers"] == 3
    assert distribute.tf_config_cluster({"TF_CONFIG": ""}) is None
    assert distribute.tf_config_cluster({"TF_CONFIG": '{"cluster": {}}'}) is None
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.tf_config_cluster({"TF_CONFIG": "{cluster"})
    with pytest.raises(ValueError, match="task.type and task.index"):
        distribute.tf_config_cluster(
            {"TF_CONFIG": json.dumps(dict(CLUSTER, task={"type": "worker", "index": 2}))})


@pytest.mark.parametrize("name, cluster, gpus, expected", [
    ("auto", None, 0, "default"),
    ("auto", None, 1, "default"),
    ("auto", None, 8, "mirrored"),
    ("auto", {"workers": 2}, 0, "multi_worker"),
    ("auto", {"workers": 1}, 2, "mirrored"),
    ("one_device", None, 8, "one_device"),
    ("tpu", None, 0, "tpu"),
])
def test_auto_strategy(name, cluster, gpus, expected):
    assert distribute.resolve_strategy_name(name, cluster, gpus) == expected


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="choose one of auto, one_device, mirrored"):
        distribute.get_strategy("horovod")


class _Replicas:
    def __init__(self, count):
        self.num_replicas_in_sync = count


def test_global_batch_must_split_evenly():
    assert distribute.check_global_batch(12, _Replicas(4)) == 3
    with pytest.raises(ValueError, match="use 8 or 12"):
        distribute.check_global_batch(10, _Replicas(4))
    with pytest.raises(ValueError, match=r"training.batch_size=2 .* use 4\."):
        distribute.check_global_batch(2, _Replicas(4), what="training.batch_size")


def test_one_replica_gets_the_dataset_itself():
    made = []

    def make(batch_size, context):
        made.append((batch_size, context))
        return tf.data.Dataset.range(10).batch(batch_size, drop_remainder=True)

    dataset = distribute.distribute_batches(make, 4)
    assert isinstance(dataset, tf.data.Dataset) and made == [(4, None)]


def test_each_worker_reads_its_own_share_with_its_own_seeds(tmp_path):
    from spanbert_keras.data.packing import text_blocks
    from spanbert_keras.data.pretraining_dataset import batch_seed
    from spanbert_keras.data.tokenizer import SpanBertTokenizer

    sentences = [f"{word} {word} {word}." for word in ("cat", "dog", "hen", "owl", "elk", "ram")]
    paths = []
    for index in range(2):
        path = tmp_path / f"part{index}.txt"
        path.write_text("\n\n".join(sentences[index::2]) + "\n")
        paths.append(str(path))
    tokenizer = SpanBertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."]
                                  + [w.split()[0] for w in sentences])

    def blocks(files, worker, workers=2):
        context = tf.distribute.InputContext(workers, worker, workers) if worker is not None else None
        return [tuple(b["token_ids"][1:4]) for b in
                text_blocks(files, tokenizer, 8, input_context=context).as_numpy_iterator()]

    # As many files as workers: a file each.
    assert sorted(blocks(paths, 0)) == sorted(blocks(paths[:1], None))
    assert sorted(blocks(paths, 1)) == sorted(blocks(paths[1:], None))
    # Fewer files: every other block.
    everything = blocks(paths[:1], None)
    assert blocks(paths[:1], 0) == everything[0::2] and blocks(paths[:1], 1) == everything[1::2]
    # The worker is folded into the masking and shuffling seeds.
    seeds = {tuple(batch_seed(0, worker, 0, index).numpy()) for worker in range(2)
             for index in (-1, 0)}
    assert len(seeds) == 4


def test_the_chief_runs_in_the_run_directory(tmp_path):
    strategy = tf.distribute.get_strategy()
    assert distribute.is_chief(strategy) and not is_multi_worker(strategy)
    with distribute.worker_run_directory(str(tmp_path), strategy, log=_fail) as own:
        assert own == str(tmp_path)
    distribute.check_workers_agree(strategy, start_epoch=3)  # nothing to compare
    assert global_sum(2.0) == 2.0


class _OtherWorker:
    class extended:
        should_checkpoint = False

    class cluster_resolver:
        task_id = 1


def test_another_worker_runs_in_a_private_copy_removed_at_the_end(tmp_path, monkeypatch):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    stale = temporary / f"spanbert-keras-worker1-{_dead_pid()}-x1y2"  # its process has ended
    alive = temporary / f"spanbert-keras-worker1-{os.getpid()}-x1y2"
    stale.mkdir()
    alive.mkdir()
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "backup" / "latest.weights.h5").write_bytes(b"weights")
    (run / "config.yaml").write_text("model: {}\n")
    (run / "logs").mkdir()
    (run / "lock").write_text("{}")
    (run / ".vocab.txt.123.tmp").write_text("half written")
    messages = []
    with distribute.worker_run_directory(str(run), _OtherWorker(), log=messages.append) as own:
        assert own != str(run) and os.path.basename(own) == "run"
        assert sorted(os.listdir(own)) == ["backup", "config.yaml"]
        assert open(os.path.join(own, "backup", "latest.weights.h5"), "rb").read() == b"weights"
        with open(os.path.join(own, "history.json"), "w") as f:
            f.write("{}")
    assert not os.path.exists(own) and not (run / "history.json").exists()
    assert os.listdir(temporary) == [alive.name]  # the dead worker's copy is removed
    assert "the copy of a worker that was stopped" in messages[0]
    assert "worker 1: the chief writes" in messages[1]


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _write_later(path, text, delay):
    """A thread that writes `path` atomically after `delay` seconds (the chief, say)."""
    def write():
        time.sleep(delay)
        temporary = f"{path}.part"
        with open(temporary, "w") as f:
            f.write(text)
        os.replace(temporary, path)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_worker_waits_for_the_file_the_chief_writes_later(tmp_path):
    path = str(tmp_path / "run" / "token_counts.txt")  # its folder does not exist yet either
    os.makedirs(tmp_path / "run")
    _write_later(path + ".old", "", 0)  # another file does not end the wait
    writer = _write_later(path, "# of the other vocabulary\n", 0.2)
    final = _write_later(path, "# of this vocabulary\n7\n", 0.6)
    messages = []

    def read(name):  # the file of another vocabulary is not the one awaited
        if not os.path.exists(name):
            return None
        with open(name) as f:
            text = f.read()
        return text.split()[-1] if "this vocabulary" in text else None

    start = time.monotonic()
    assert distribute.wait_for_chief(path, "the counts", read=read, timeout=30, poll=0.02,
                                     log=messages.append) == "7"
    assert 0.6 <= time.monotonic() - start < 10
    writer.join()
    final.join()
    assert messages[0] == f"waiting for the chief to write {path} (the counts): at most 30 s"
    assert messages[-1].startswith(f"the chief wrote {path} after ")


def test_a_wait_in_vain_ends_naming_the_file(tmp_path):
    path = str(tmp_path / "vocab.sha256")
    start = time.monotonic()
    with pytest.raises(distribute.ChiefFileMissingError) as error:
        distribute.wait_for_chief(path, "the vocabulary's fingerprint", timeout=0.3, poll=0.05)
    assert 0.3 <= time.monotonic() - start < 5
    assert str(error.value).startswith(
        f"The chief did not write {path} (the vocabulary's fingerprint) in 0.3 s")
    assert "SPANBERT_KERAS_CHIEF_WAIT=SECONDS" in str(error.value)
    assert isinstance(error.value, OSError)  # the command line reports it in one line


def test_a_chief_that_stops_without_writing_ends_the_wait_at_once(tmp_path):
    path = str(tmp_path / "vocab.sha256")
    answers = iter([False, True, True, False])  # not started yet, working, stopped

    start = time.monotonic()
    with pytest.raises(distribute.ChiefFileMissingError,
                       match=f"The chief stopped working on the run without writing {path} "
                             r"\(the vocabulary\)"):
        distribute.wait_for_chief(path, "the vocabulary", timeout=60, poll=0.01,
                                  chief_running=lambda: next(answers))
    assert time.monotonic() - start < 5
    # A chief that wrote the file as it stopped: taken.
    answers = iter([True, False])
    _write_later(path, "x", 0).join()
    assert distribute.wait_for_chief(path, "the vocabulary", timeout=60,
                                     chief_running=lambda: next(answers)) == path


def test_a_chief_never_seen_in_the_run_directory_ends_the_wait(tmp_path, demo_excerpt,
                                                              monkeypatch):
    """Workers that do not share the run directory: the chief never takes the one this
    worker looks at (making the strategy waited for every worker, so it runs)."""
    from spanbert_keras.training import pretrain

    path = str(tmp_path / "vocab.sha256")
    start = time.monotonic()
    with pytest.raises(distribute.ChiefFileMissingError,
                       match=f"The chief did not take the run directory of {path} in 0.3 s"):
        distribute.wait_for_chief(path, "the vocabulary", timeout=60, poll=0.01,
                                  chief_running=lambda: False, appear_within=0.3)
    assert time.monotonic() - start < 5
    monkeypatch.setattr(pretrain, "CHIEF_APPEARS_SECONDS", 0.3)
    with pytest.raises(distribute.ChiefFileMissingError,
                       match=r"did not take the run directory of .*elsewhere/vocab.sha256 .*"
                             r"a filesystem all workers share"):
        pretrain.prepare_run(_small_config(), str(tmp_path / "own"), [demo_excerpt(4)],
                             log=lambda *_: None, chief=(str(tmp_path / "elsewhere"), 1))


def test_the_wait_for_the_chief_is_set_in_the_environment():
    assert distribute.chief_wait_seconds({}) == distribute.CHIEF_WAIT_SECONDS
    assert distribute.chief_wait_seconds({"SPANBERT_KERAS_CHIEF_WAIT": " 90 "}) == 90.0
    for wrong in ("0", "-3", "an hour"):
        with pytest.raises(ValueError, match="SPANBERT_KERAS_CHIEF_WAIT must be a positive"):
            distribute.chief_wait_seconds({"SPANBERT_KERAS_CHIEF_WAIT": wrong})


def _small_config(**masking):
    from spanbert_keras.config import PretrainConfig

    config = PretrainConfig()
    config.data.vocabulary_size = 500
    config.data.sequence_length = 128
    for key, value in masking.items():
        setattr(config.masking, key, value)
    return config


def test_another_worker_takes_the_vocabulary_and_counts_the_chief_writes(
        tmp_path, demo_excerpt):
    """The chief (a thread here) learns the vocabulary and counts the corpus into the
    shared run directory, the worker waits for them and uses them: the same vocabulary
    and counts, nothing learned or counted by the worker."""
    from spanbert_keras.training.pretrain import prepare_run

    corpus, config = demo_excerpt(4), _small_config()
    shared, own = str(tmp_path / "shared"), str(tmp_path / "own")
    chief_log, worker_log, chiefs = [], [], []

    def chief():
        time.sleep(0.3)  # the worker is waiting first
        chiefs.append(prepare_run(config, shared, [corpus], log=chief_log.append))

    thread = threading.Thread(target=chief)
    thread.start()
    try:
        _, vocabulary, _ = prepare_run(config, own, [corpus], log=worker_log.append,
                                       chief=(shared, 1))
    finally:
        thread.join()
    assert any(line.startswith("pass 1 of 2 over the corpus") for line in chief_log)
    assert vocabulary.tokens == chiefs[0][1].tokens
    for name in ("vocab.txt", "vocab.sha256", "token_counts.txt"):
        assert (tmp_path / "own" / name).read_text() == (tmp_path / "shared" / name).read_text()
    fingerprint = (tmp_path / "shared" / "vocab.sha256").read_text().split()[0]
    assert any(f"sha256 {fingerprint}" in line for line in worker_log), worker_log
    assert not any("pass " in line for line in worker_log), worker_log  # learned nothing
    assert any(line.startswith("waiting for the chief to write") for line in worker_log)


def test_a_worker_whose_chief_stops_unprepared_says_what_it_waited_for(
        tmp_path, demo_excerpt):
    from spanbert_keras.training.checkpointing import run_lock
    from spanbert_keras.training.pretrain import prepare_run

    shared = str(tmp_path / "shared")
    started = threading.Event()

    def chief():  # takes the run, then fails before writing anything
        with run_lock(shared, log=_fail):
            started.set()
            time.sleep(0.5)

    thread = threading.Thread(target=chief)
    thread.start()
    started.wait(10)
    try:
        start = time.monotonic()
        with pytest.raises(distribute.ChiefFileMissingError,
                           match=r"stopped working on the run without writing "
                                 r".*shared/vocab.sha256 \(the fingerprint of .*shared/vocab.txt"):
            prepare_run(_small_config(), str(tmp_path / "own"), [demo_excerpt(4)],
                        log=lambda *_: None, chief=(shared, 1))
        assert time.monotonic() - start < 10
    finally:
        thread.join()


def test_weighted_mean_loss_is_kerass_mean_with_sample_weight_on_one_device():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, (3, 7))
    logits = rng.normal(size=(3, 7, 5)).astype("float32")
    weights = (rng.random((3, 7)) < 0.6).astype("float32")
    ours = WeightedMeanSparseCategoricalCrossentropy(from_logits=True)
    theirs = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight")
    np.testing.assert_allclose(float(ours(labels, logits, weights)),
                               float(theirs(labels, logits, weights)), rtol=1e-6)
    np.testing.assert_allclose(float(ours(labels, logits)), float(theirs(labels, logits)),
                               rtol=1e-6)
    assert float(ours(labels, logits, np.zeros_like(weights))) == 0.0
    restored = keras.losses.deserialize(keras.losses.serialize(ours))
    assert type(restored) is type(ours) and restored.reduction == "sum"


def _fail(message):
    raise AssertionError(message)


# ----------------------------------------------------------------- slow

TWO_DEVICES = """
import os, sys
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path[:0] = [os.path.join(sys.argv[1], "models"), sys.argv[1]]
import keras, numpy as np
"""


def _run_script(source, tmp_path, timeout=240):
    """Runs a test script in a fresh process (2 logical CPUs); it prints OK."""
    script = tmp_path / "script.py"
    script.write_text(TWO_DEVICES + textwrap.dedent(source))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, str(script), TESTS], capture_output=True,
                            text=True, env=env, timeout=timeout, cwd=str(tmp_path))
    assert result.returncode == 0 and "OK" in result.stdout, (
        result.stdout[-2000:] + result.stderr[-4000:])
    print(result.stdout.strip().splitlines()[-1])  # OK and the differences (pytest -s)
    return result.stdout


@pytest.mark.slow
def test_xla_per_replica_under_mirrored_strategy_matches_one_device(tmp_path):
    """compile(jit_compile=True) under MirroredStrategy(2): each replica's forward and
    backward pass compiled with XLA, the sums outside; == one device without XLA."""
    _run_script("""
        import test_span_bert_pretrainer as t
        batches = [t.make_batch(seed=s) for s in range(2)]
        stacked = {k: np.stack([b[k] for b in batches]) for k in batches[0]}
        single = t.tiny_model(seed=3, clip_norm=0.05)
        single_logs = single.fit(tf.data.Dataset.from_tensor_slices(stacked), verbose=0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            mirrored = t.tiny_model(seed=3, clip_norm=0.05, jit_compile=True)
        assert mirrored._jit_per_replica and not mirrored.jit_compile
        logs = mirrored.fit(tf.data.Dataset.from_tensor_slices(stacked), verbose=0)
        compiled = mirrored._replica_functions["_loss_and_gradients"]
        assert compiled.experimental_get_tracing_count() >= 1
        diff = max(float(np.abs(a.numpy() - b.numpy()).max())
                   for a, b in zip(single.trainable_variables, mirrored.trainable_variables))
        assert diff < 1e-5, diff
        assert abs(single_logs.history["loss"][-1] - logs.history["loss"][-1]) < 1e-5
        print("OK", diff)
    """, tmp_path)


# ------------------------------------------------- runs under strategies (slow)

TINY = os.path.join(REPO, "pipelines", "configs", "tiny.yaml")
# No held-out split (nothing to evaluate: the weights are compared).
SMALL = ["data.batch_size=4", "data.sequence_length=64", "training.steps_per_epoch=2",
         "data.validation_fraction=0.001", "model.num_layers=1",
         "model.hidden_dim=32", "model.num_heads=2", "model.intermediate_dim=64",
         "model.dropout=0.0", "training.warmup_steps=2", "training.learning_rate=0.001",
         "masking.random_token_distribution=uniform"]


@pytest.fixture(scope="module")
def pretraining(tmp_path_factory, demo_excerpt):
    """A corpus, its vocabulary and the overrides of a small pre-training run."""
    from spanbert_keras.data.vocabulary import build_vocabulary

    corpus = demo_excerpt(25)
    vocab = str(tmp_path_factory.mktemp("vocabulary") / "vocab.txt")
    build_vocabulary([corpus], vocab_size=1000, show_progress=False).save(vocab)
    return {"config": TINY, "corpus": corpus, "overrides": SMALL + [f"data.vocabulary={vocab}"]}


def _script_args(values, tmp_path):
    path = tmp_path / "args.json"
    path.write_text(json.dumps(values))
    return str(path)


PRETRAIN_RUNS = """
import json, shutil
from spanbert_keras.config import apply_overrides, load_config
from spanbert_keras.training.pretrain import load_pretraining_run, run_pretraining
with open(sys.argv[2]) as f:
    args = json.load(f)
config = apply_overrides(load_config(args["config"]), args["overrides"])
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
quiet = lambda *_: None

def run(name, steps, strategy=None):
    return run_pretraining(config, name, corpus=[args["corpus"]], steps=steps, log=quiet,
                           verbose=0, strategy=strategy)

def weights(name):
    return [v.numpy() for v in load_pretraining_run(name, log=quiet)[0].trainable_variables]

def diff(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(weights(a), weights(b)))

one = run("one", 4)                     # 2 epochs of 2 steps, one device
shutil.copytree("one", "one_then_two")  # (the same run, to be extended under 2 replicas)
two = run("two", 4, mirrored)           # the same global batches on 2 replicas
for key in ("loss", "mlm_loss", "sbo_loss", "mlm_accuracy", "sbo_accuracy", "grad_norm"):
    np.testing.assert_allclose(two[key], one[key], rtol=1e-5, err_msg=key)
assert diff("one", "two") <= 1e-5, diff("one", "two")
# One more epoch each, under another replica count than the run's first two: 2
# replicas after 1, 1 after 2. (Equal, and equal at step 6: each restored its
# checkpoint, optimiser state and data position under the other count.)
run("one_then_two", 6, mirrored)
run("two", 6)
assert diff("one_then_two", "two") <= 1e-5, diff("one_then_two", "two")
print("OK", diff("one_then_two", "two"))
"""


@pytest.mark.slow
def test_pretraining_on_two_replicas_equals_one_device_and_resumes_on_another_count(
        pretraining, tmp_path):
    """MirroredStrategy(2 logical CPUs) through `run_pretraining`: the same losses and
    weights (<= 1e-5) as one device on the same global batches (and masks); a run
    resumed with 2 replicas after 1, or 1 after 2, ends where the 1-device run does."""
    _run_script(PRETRAIN_RUNS.replace("sys.argv[2]", repr(_script_args(pretraining, tmp_path))),
                tmp_path, timeout=300)


FINETUNE_RUNS = """
import json
from task_data import VOCABULARY, ner_sentences, tiny_backbone, write_conll, write_encoder
from spanbert_keras.tasks import get_task
from spanbert_keras.tasks.base import finetune_config
from spanbert_keras.finetuning.runner import finetune_optimizer, finetuning_backbone
from spanbert_keras.finetuning.runner import run_finetuning

task = get_task("ner")
train = write_conll("train.txt", ner_sentences(48, seed=1))
dev = write_conll("dev.txt", ner_sentences(16, seed=2))
# clip_norm 0.05: clipping acts at every step, on the global gradient.
config = finetune_config({"sequence_length": 32, "batch_size": 8, "epochs": 2,
                          "learning_rate": 1e-3, "dropout": 0.0, "clip_norm": 0.05,
                          "jit_compile": False}, task)
examples, _ = task.read(train)
info = task.prepare(examples, VOCABULARY, config)
batches = list(task.dataset(examples, VOCABULARY, info, config, training=True).take(4))
halves = [(float(tf.reduce_sum(w[:4])), float(tf.reduce_sum(w[4:]))) for _, _, w in batches]
assert any(a != b for a, b in halves), halves  # the replicas hold different label counts
data = tf.data.Dataset.from_tensors(batches[0])
for batch in batches[1:]:
    data = data.concatenate(tf.data.Dataset.from_tensors(batch))

def build():
    keras.utils.set_random_seed(0)
    model = task.build_model(finetuning_backbone(tiny_backbone(), config), info, config)
    model.compile(optimizer=finetune_optimizer(config, 8), jit_compile=False,
                  **task.compile_args(info, config))
    return model

mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
one = build()
one_logs = one.fit(data, epochs=2, verbose=0).history
with mirrored.scope():
    two = build()
two_logs = two.fit(data, epochs=2, verbose=0).history
np.testing.assert_allclose(two_logs["loss"], one_logs["loss"], rtol=1e-5)
diff = max(float(np.abs(a.numpy() - b.numpy()).max())
           for a, b in zip(one.trainable_variables, two.trainable_variables))
assert diff <= 1e-5, diff

# The runner under the strategy: trains, scores, exports (from the chief).
metrics = run_finetuning("ner", config, train, dev, write_encoder("init"), "run",
                         export_dir="export/1", log=lambda *_: None, verbose=0,
                         strategy=mirrored)
assert os.path.isfile("run/model.keras") and os.path.isdir("export/1"), os.listdir("run")
assert set(metrics) == {"f1", "precision", "recall"}, metrics
print("OK", diff, one_logs["loss"])
"""


@pytest.mark.slow
def test_finetuning_on_two_replicas_equals_one_device(tmp_path):
    """NER under MirroredStrategy(2 logical CPUs) on the same global batches: the loss
    averaged over the labelled pieces of the global batch (the replicas hold different
    numbers), clipping on the global gradient: the same losses and weights (<= 1e-5) as
    one device; the runner trains, scores and exports under the strategy."""
    _run_script(FINETUNE_RUNS, tmp_path)


# ------------------------------------- 2 workers on 127.0.0.1, through the CLI (slow)

STEPS = 6  # 3 epochs of 2 steps
REFERENCE = """
import json
from spanbert_keras.config import apply_overrides, load_config
from spanbert_keras.training.build import build_pretrainer
from spanbert_keras.training.pretrain import prepare_run, replacement_counts_of, run_preprocessor
from spanbert_keras.training.pretrain import schedule_of, training_batches
with open(sys.argv[2]) as f:
    args = json.load(f)
config = apply_overrides(load_config(args["config"]),
                         args["overrides"] + [f"training.steps={args['steps']}"])
config, vocabulary, files = prepare_run(config, "reference", [args["corpus"]],
                                        log=lambda *_: None)
total, per_epoch, epochs = schedule_of(config)
keras.utils.set_random_seed(config.data.seed)  # as run_pretraining does
model = build_pretrainer(config.model, vocabulary.size, config.training,
                         sequence_length=config.data.sequence_length,
                         total_steps=epochs * per_epoch)
# The global batches of 2 workers: each worker's share of the corpus and masks, side by side.
share = config.data.batch_size // 2
preprocessor = run_preprocessor(config, vocabulary,
                                replacement_counts_of("reference", config, vocabulary, files))
workers = [training_batches(config, preprocessor, files, share,
                            tf.distribute.InputContext(2, i, 2),
                            num_epochs=epochs, steps_per_epoch=per_epoch) for i in range(2)]
train = tf.data.Dataset.zip(tuple(workers)).map(
    lambda a, b: {key: tf.concat([a[key], b[key]], 0) for key in a})
model.fit(train, epochs=epochs, steps_per_epoch=per_epoch, verbose=0)
np.savez("reference.npz", *[v.numpy() for v in model.trainable_variables])
print("OK")
"""


@pytest.fixture(scope="module")
def one_process_reference(pretraining, tmp_path_factory):
    """The weights of one process trained on the global batches of 2 workers."""
    folder = tmp_path_factory.mktemp("reference")
    args = _script_args(dict(pretraining, steps=STEPS), folder)
    _run_script(REFERENCE.replace("sys.argv[2]", repr(args)), folder)
    with np.load(folder / "reference.npz") as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _pretrain_command(pretraining, run, steps=STEPS):
    command = ["pretrain", "--config", pretraining["config"], "--corpus", pretraining["corpus"],
               "--output", str(run), "--steps", str(steps), "--strategy", "multi_worker"]
    for value in pretraining["overrides"]:
        command += ["--set", value]
    return command


def _start_workers(arguments, logs, name):
    """Both workers of a 2-worker cluster on 127.0.0.1 (free ports), as a user starts them:
    `spanbert-keras ARGUMENTS` with TF_CONFIG naming the cluster and the worker."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    command = [sys.executable, "-m", "spanbert_keras_cli", *arguments]
    workers = []
    for index in range(2):
        tf_config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        os.makedirs(logs / "tmp", exist_ok=True)  # the workers' TMPDIR (worker 1's copy)
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3",
                   CUDA_VISIBLE_DEVICES="", TMPDIR=str(logs / "tmp"))
        out = open(logs / f"{name}-{index}.out", "w")
        err = open(logs / f"{name}-{index}.err", "w")
        workers.append(subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=str(logs)))
        out.close()
        err.close()
    return workers


def _output(logs, name, index):
    return ((logs / f"{name}-{index}.out").read_text()
            + (logs / f"{name}-{index}.err").read_text())


def _finish(workers, logs, name, timeout):
    deadline = time.time() + timeout
    for index, worker in enumerate(workers):
        code = worker.wait(timeout=max(deadline - time.time(), 1))
        assert code == 0, f"worker {index} exit {code}:\n{_output(logs, name, index)[-3000:]}"


def _stop(workers):
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait(timeout=30)


def _chief_weights(run):
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    return [v.numpy() for v in model.trainable_variables]


def _worker_copies(folder):
    """The non-chief workers' copies left in their TMPDIR."""
    return [n for n in os.listdir(folder / "tmp") if n.startswith("spanbert-keras-worker")]


def _max_diff(a, b):
    assert len(a) == len(b)
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def _agreed_weights(logs, name):
    lines = [re.findall(r"the 2 workers agree: final_weights (\d+)", _output(logs, name, i))
             for i in range(2)]
    assert lines[0] and lines[0] == lines[1], lines
    return lines[0][-1]


@pytest.mark.slow
def test_two_workers_through_the_cli_end_with_the_weights_of_one_process(
        pretraining, one_process_reference, tmp_path):
    """MultiWorkerMirroredStrategy, 2 processes on 127.0.0.1 (TF_CONFIG): both end
    with the same weights (checked by the workers), the chief's run equals one
    process on the same global batches; only the chief wrote the run directory."""
    run, workers = tmp_path / "run", []
    try:
        workers = _start_workers(_pretrain_command(pretraining, run), tmp_path, "run")
        _finish(workers, tmp_path, "run", timeout=150)
    finally:
        _stop(workers)
    print("final weights checksum", _agreed_weights(tmp_path, "run"))
    diff = _max_diff(_chief_weights(run), one_process_reference)
    print("chief vs one process", diff)
    assert diff <= 1e-5
    copy = re.findall(r"worker 1: the chief writes .*; this worker writes a copy, (.*), removed",
                      _output(tmp_path, "run", 1))
    assert copy and copy[0].startswith(str(tmp_path / "tmp")) and _worker_copies(tmp_path) == []


@pytest.mark.slow
def test_two_workers_from_text_use_the_vocabulary_and_counts_the_chief_learns(
        pretraining, tmp_path):
    """The scale-out command on a text corpus with no vocabulary given (and the corpus'
    token frequencies for the random tokens): the chief learns the vocabulary and counts
    the corpus into the shared run directory, worker 1 waits for both and uses them;
    the workers end with the same weights and the vocabulary of RUN/vocab.sha256."""
    from spanbert_keras.files import sha256_of

    overrides = [value for value in SMALL if not value.startswith("masking.")]
    text = dict(pretraining, overrides=overrides + ["data.vocabulary_size=1000"])
    run, workers = tmp_path / "run", []
    try:
        workers = _start_workers(_pretrain_command(text, run, steps=2), tmp_path, "text")
        _finish(workers, tmp_path, "text", timeout=150)
    finally:
        _stop(workers)
    print("final weights checksum", _agreed_weights(tmp_path, "text"))
    chief, other = _output(tmp_path, "text", 0), _output(tmp_path, "text", 1)
    assert "learning a 1,000-piece WordPiece vocabulary" in chief, chief[-3000:]
    assert "counting the corpus' tokens" in chief, chief[-3000:]
    fingerprint = (run / "vocab.sha256").read_text().split()[0]
    assert sha256_of(str(run / "vocab.txt")) == fingerprint
    used = re.findall(r"worker 1: the chief's vocabulary (.*) \(.* pieces, sha256 (\w+)\)", other)
    assert used == [(str(run / "vocab.txt"), fingerprint)], other[-3000:]
    assert f"worker 1: the chief's token counts {run / 'token_counts.txt'}" in other
    assert "pass 1 of" not in other  # worker 1 learned and counted nothing itself
    with open(run / "token_counts.txt") as f:
        assert f.readline().split()[-1] == fingerprint
    assert _worker_copies(tmp_path) == []


@pytest.mark.slow
def test_a_killed_worker_restarted_resumes_from_the_last_checkpoint(
        pretraining, one_process_reference, tmp_path):
    """Worker 1 is killed after the chief's first checkpoint; worker 0 then stops,
    naming the lost peer; both restarted with the same command resume from the last
    checkpoint and end with the weights of an uninterrupted run."""
    from spanbert_keras.training.checkpointing import latest_checkpoint

    run, workers = tmp_path / "run", []
    try:
        workers = _start_workers(_pretrain_command(pretraining, run), tmp_path, "first")
        deadline = time.time() + 120
        while True:
            assert time.time() < deadline, "no checkpoint after 120 s"
            assert all(w.poll() is None for w in workers), _output(tmp_path, "first", 0)[-3000:]
            try:
                checkpoint = latest_checkpoint(str(run), log=lambda *_: None)
            except (OSError, ValueError):
                checkpoint = None
            if checkpoint is not None:
                break
            time.sleep(0.05)
        workers[1].kill()
        code = workers[0].wait(timeout=120)
        assert code != 0 and "stopped answering" in _output(tmp_path, "first", 0), (
            code, _output(tmp_path, "first", 0)[-3000:])
        _stop(workers)
        workers = _start_workers(_pretrain_command(pretraining, run), tmp_path, "second")
        _finish(workers, tmp_path, "second", timeout=150)
    finally:
        _stop(workers)
    for index in range(2):
        started = re.findall(r"starting at epoch (\d+)", _output(tmp_path, "second", index))
        assert started and 1 <= int(started[0]) < STEPS // 2, started
    # The killed worker's copy was removed at the restart, the new one at the end.
    assert _worker_copies(tmp_path) == []
    print("resumed at", started, "final weights checksum", _agreed_weights(tmp_path, "second"))
    diff = _max_diff(_chief_weights(run), one_process_reference)
    print("chief vs uninterrupted one process", diff)
    assert diff <= 1e-5


@pytest.mark.slow
def test_two_workers_fine_tune_and_only_the_chief_writes_the_run_and_the_export(tmp_path):
    """`finetune ner --strategy multi_worker` on 2 workers: they end with the same
    weights, score the same, and only the chief's run directory and export exist."""
    train = write_conll(tmp_path / "train.txt", ner_sentences(48, seed=1))
    dev = write_conll(tmp_path / "dev.txt", ner_sentences(16, seed=2))
    init = write_encoder(str(tmp_path / "init"))
    arguments = ["finetune", "ner", "--train", train, "--dev", dev, "--init", init, "--output",
                 "run", "--export", "export/1", "--strategy", "multi_worker"]
    for value in ("sequence_length=32", "batch_size=8", "epochs=2", "learning_rate=0.001",
                  "dropout=0.0", "jit_compile=false"):
        arguments += ["--set", value]
    workers = []
    try:
        workers = _start_workers(arguments, tmp_path, "finetune")
        _finish(workers, tmp_path, "finetune", timeout=150)
    finally:
        _stop(workers)
    print("final weights checksum", _agreed_weights(tmp_path, "finetune"))
    scores = [json.loads((tmp_path / f"finetune-{i}.out").read_text().strip().splitlines()[-1])
              for i in range(2)]
    assert scores[0] == scores[1] and set(scores[0]) == {"f1", "precision", "recall"}
    assert _worker_copies(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["dev.txt", "export", "init", "run", "tmp", "train.txt"]
        + [f"finetune-{i}.{kind}" for i in range(2) for kind in ("out", "err")])
    assert os.path.isfile(tmp_path / "export" / "1" / "saved_model.pb")
    assert os.path.isfile(tmp_path / "run" / "model.keras")
