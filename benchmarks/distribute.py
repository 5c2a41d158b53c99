"""Pre-training under tf.distribute on this machine: step time and bytes all-reduced per step.

    python benchmarks/distribute.py
    python benchmarks/distribute.py --size small --batch-size 32 --seq-len 128

Times `SpanBertPretrainer`'s train step on one global batch with one replica
(no strategy) and with two (`MirroredStrategy`: over the GPUs when there are
several, else over 2 logical devices the CPU is split into before TensorFlow
starts), and counts, by tracing the step, the bytes each replica all-reduces
per step:

- `after`: `AdamWeightDecay` (the package's optimiser): the step sums the
  gradients once (to clip them by their global norm) and the optimiser is
  told so, so they cross the wire once;
- `before`: a generic `keras.optimizers.AdamW`: the step's sum, then the
  optimiser's own all-reduce inside `apply` (the path every optimiser
  without `gradients_summed` takes), so twice.

Both sides use the same model, batch, seed and schedule. On a 2-core CPU the
two logical devices share the cores the single replica already uses, so
the 2-replica step measures the cost of the strategy (splitting, the
all-reduces), not a speed-up.

The figures replace the entry of that configuration (preset, global batch x
length, vocabulary: `tiny_16x128_v8000`) in `benchmarks/results/distribute.json`.
"""

import argparse
import json
import os
import statistics
import sys
import time

from results_file import add_output_arguments  # benchmarks/ is the script's folder
from results_file import save_results

HERE = os.path.dirname(os.path.abspath(__file__))


def _devices(tf):
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) < 2:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return [d.name for d in tf.config.list_logical_devices("CPU")[:2]], "2 logical CPU devices"
    return [d.name for d in tf.config.list_logical_devices("GPU")[:2]], "2 GPUs"


def _count_all_reduces(tf, np):
    """Patches `ReplicaContext.all_reduce` to record (replica, bytes) of every traced call."""
    calls = []
    original = tf.distribute.ReplicaContext.all_reduce

    def counting(self, reduce_op, value, options=None):
        size = sum(int(np.prod(v.shape)) * v.dtype.size for v in tf.nest.flatten(value))
        calls.append((int(tf.get_static_value(self.replica_id_in_sync_group)), size))
        return original(self, reduce_op, value, options)

    tf.distribute.ReplicaContext.all_reduce = counting
    return calls


def _model(args, optimizer_kind):
    import keras

    from spanbert_keras.config import ModelConfig
    from spanbert_keras.config import TrainingConfig
    from spanbert_keras.training.build import build_pretrainer
    from spanbert_keras.training.optimizer import build_optimizer

    keras.utils.set_random_seed(0)
    training = TrainingConfig(steps=1_000_000, warmup_steps=10, jit_compile=False)
    config = ModelConfig.from_size(args.size, max_sequence_length=max(512, args.seq_len))
    model = build_pretrainer(config, args.vocab_size, training, sequence_length=args.seq_len)
    if optimizer_kind == "before":
        ours = build_optimizer(training)
        model.compile(optimizer=keras.optimizers.AdamW(
            learning_rate=ours._learning_rate, weight_decay=ours.weight_decay,
            beta_1=ours.beta_1, beta_2=ours.beta_2, epsilon=ours.epsilon), jit_compile=False)
    return model


def _time_steps(model, dataset, steps):
    """Median seconds per step over `steps`-step epochs after a warm-up epoch."""
    import keras

    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append((time.perf_counter() - self.start) / steps)

    model.fit(dataset, epochs=4, steps_per_epoch=steps, verbose=0, callbacks=[Timer()])
    return statistics.median(times[1:])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch")
    parser.add_argument("--num-targets", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10, help="steps per timed epoch")
    add_output_arguments(parser, "distribute")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore", message=".*shuffle=True.*")
    import numpy as np
    import tensorflow as tf

    devices, what = _devices(tf)
    calls = _count_all_reduces(tf, np)
    sys.path.insert(0, HERE)
    from train_step import synthetic_batch

    batch = synthetic_batch(args.batch_size, args.seq_len, args.num_targets, args.vocab_size)
    dataset = tf.data.Dataset.from_tensors(batch).repeat().prefetch(2)
    results = {"devices": what, "preset": args.size, "global_batch": args.batch_size,
               "seq_len": args.seq_len, "vocab_size": args.vocab_size}

    one = _model(args, "after")
    results["parameters"] = int(sum(np.prod(v.shape) for v in one.trainable_variables))
    results["step_seconds_1_replica"] = _time_steps(one, dataset, args.steps)
    strategy = tf.distribute.MirroredStrategy(devices)
    for kind in ("after", "before"):
        with strategy.scope():
            model = _model(args, kind)
        calls.clear()
        model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)  # traces the step once
        results[f"all_reduced_bytes_per_step_{kind}"] = sum(n for r, n in calls if r == 0)
        results[f"step_seconds_2_replicas_{kind}"] = _time_steps(model, dataset, args.steps)
    print(f"{args.size}, global batch {args.batch_size} x {args.seq_len}, "
          f"{results['parameters']:,} parameters, {what}")
    print(f"step time: 1 replica {results['step_seconds_1_replica'] * 1e3:.0f} ms; "
          f"2 replicas {results['step_seconds_2_replicas_after'] * 1e3:.0f} ms "
          f"(generic optimiser: {results['step_seconds_2_replicas_before'] * 1e3:.0f} ms)")
    before, after = (results[f"all_reduced_bytes_per_step_{k}"] for k in ("before", "after"))
    print(f"all-reduced per replica per step: before {before / 1e6:.2f} MB, after "
          f"{after / 1e6:.2f} MB ({before / max(after, 1):.2f}x less)")
    results["all_reduced_before_over_after"] = before / max(after, 1)
    print(json.dumps(results))
    key = f"{args.size}_{args.batch_size}x{args.seq_len}_v{args.vocab_size}"
    save_results(args, key, results, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
