"""tf.distribute: choosing the strategy, global batches, worker directories, global losses.

The fast tests run in this process without making a strategy (one per
process: a second multi-device strategy breaks collective operations). The
slow ones start their own processes: 2 logical CPU devices under
`MirroredStrategy`, and 2 workers on 127.0.0.1 under
`MultiWorkerMirroredStrategy`, each bounded in time and killed at the end.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from spanbert_keras.losses import WeightedMeanSparseCategoricalCrossentropy
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


def test_the_chief_runs_in_the_run_directory(tmp_path):
    strategy = tf.distribute.get_strategy()
    assert distribute.is_chief(strategy) and not distribute.is_multi_worker(strategy)
    with distribute.worker_run_directory(str(tmp_path), strategy, log=_fail) as own:
        assert own == str(tmp_path)
    distribute.check_workers_agree(strategy, start_epoch=3)  # nothing to compare
    assert distribute.global_sum(2.0) == 2.0


class _OtherWorker:
    class extended:
        should_checkpoint = False

    class cluster_resolver:
        task_id = 1


def test_another_worker_runs_in_a_private_copy_removed_at_the_end(tmp_path):
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
    assert "worker 1: the chief writes" in messages[0]


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
