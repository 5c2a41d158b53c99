"""Time to accuracy: held-out MLM / SBO accuracy against wall-clock minutes and tokens seen.

Each recipe is the demo configuration (`pipelines/configs/demo.yaml`) with
some overrides (and environment variables), pre-trained on the shipped corpus
for a fixed training budget in its own process (fresh TensorFlow, its own
thread settings). Every `--eval-every` steps the clock is paused (it does not
run during the first step either, which traces and compiles the step:
set-up) and the model is scored on the same held-out batches (documents of
the validation split, fixed masks), so the curves of all recipes are
comparable. A recipe stops at its budget or at the end of its schedule
(`training.steps`), whichever comes first.

After training, the step is split (same process, same batch): the input
pipeline alone (batches/s with nothing else running), the forward pass, the
forward + backward pass, the whole step on a cached batch (so the optimiser
is the difference) and the step as `fit` ran it, fed by the pipeline (the
step waits for data if that is slower than the cached step).

Writes `time_to_accuracy.csv` (merged: rerunning some recipes replaces their
rows only) and `time_to_accuracy.png` (two panels: against minutes, against
tokens), and prints each recipe's last point, the machine's load average
while it ran, the frequent-pieces baseline on the same targets, the step
split, and the step's matrix-product rate beside this machine's 2048^2
matrix product in the same dtype.

    python benchmarks/time_to_accuracy.py                       # every recipe, 6 minutes each
    python benchmarks/time_to_accuracy.py --recipes demo demo-v1 --minutes 2
    python benchmarks/time_to_accuracy.py --recipes --plot demo lr2e-3   # redraw only
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

from results_file import merge_results  # benchmarks/ is the script's folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(ROOT, "pipelines", "configs", "demo.yaml")
# The demo recipe before issue 14 (what demo.yaml held): the reference curve.
DEMO_V1 = ["model.dropout=0.1", "data.vocabulary_size=8000", "data.sequence_length=128",
           "data.batch_size=16", "training.steps=1000", "training.learning_rate=2.0e-3",
           "training.warmup_steps=100", "training.dtype_policy=float32",
           "training.jit_compile=auto", "training.clip_norm=1.0", "training.clip_mode=mean_loss"]

# The search (XLA float32, no dropout, 32 blocks of 64 pieces, a schedule that
# ends near 3 minutes): the learning rate first, then vocabulary, width, batch.
SEARCH = DEMO_V1 + ["training.jit_compile=true", "model.dropout=0.0",
                    "data.sequence_length=64", "data.batch_size=32"]

# name -> (overrides of demo.yaml, environment)
RECIPES = {
    "demo": ([], {}),
    "demo-v1": (DEMO_V1, {}),
    # demo.yaml with 4,800 steps (5.5 minutes of steps; 4,200 keep `make demo`'s
    # epochs, which also write per-step TensorBoard scalars, under 6 minutes)
    "demo-4800": (["training.steps=4800"], {}),
    # the demo before blocks of 32: 64 pieces, 32 a batch, 4,500 steps
    "demo-seq64": (["data.sequence_length=64", "data.batch_size=32", "training.steps=4500",
                    "training.steps_per_epoch=500"], {}),
    "lr2e-3": (SEARCH + ["training.steps=2000"], {}),
    "lr5e-3": (SEARCH + ["training.steps=2000", "training.learning_rate=5.0e-3"], {}),
    "lr1e-3": (SEARCH + ["training.steps=2000", "training.learning_rate=1.0e-3"], {}),
    "lr1e-3-vocab4k": (SEARCH + ["training.steps=2500", "training.learning_rate=1.0e-3",
                                 "data.vocabulary_size=4000"], {}),
    "lr1e-3-hidden256": (SEARCH + ["training.steps=1000", "training.learning_rate=1.0e-3",
                                   "model.hidden_dim=256", "model.num_heads=4",
                                   "model.intermediate_dim=1024"], {}),
    "lr1.5e-3-batch64": (SEARCH + ["training.steps=1100", "training.learning_rate=1.5e-3",
                                   "data.batch_size=64"], {}),
    # Learning to use the context: a longer warm-up at 2e-3, more heads, shorter blocks.
    "lr2e-3-warmup800": (SEARCH + ["training.steps=2500", "data.vocabulary_size=4000",
                                   "training.warmup_steps=800"], {}),
    "lr1e-3-heads4": (SEARCH + ["training.steps=2500", "training.learning_rate=1.0e-3",
                                "data.vocabulary_size=4000", "model.num_heads=4"], {}),
    "lr1e-3-seq32": (SEARCH + ["training.steps=2500", "training.learning_rate=1.0e-3",
                               "data.vocabulary_size=4000", "data.sequence_length=32",
                               "data.batch_size=64"], {}),
}


def _load():
    with open("/proc/loadavg", encoding="ascii") as f:
        return float(f.read().split()[0])


def run_recipe(name, overrides, minutes, eval_every, eval_batches, out_json, max_steps=None):
    """Trains one recipe for `minutes` of training time; writes its curve to `out_json`."""
    import keras
    import numpy as np
    import tensorflow as tf

    from spanbert_keras.config import apply_overrides
    from spanbert_keras.config import load_config
    from spanbert_keras.data.pretraining_dataset import finite_batches
    from spanbert_keras.fill_spans import frequent_pieces
    from spanbert_keras.losses import weighted_cross_entropy_terms
    from spanbert_keras.training.build import build_pretrainer
    from spanbert_keras.training.flops import flops_per_token
    from spanbert_keras.training.pretrain import datasets
    from spanbert_keras.training.pretrain import prepare_run
    from spanbert_keras.training.pretrain import replacement_counts_of
    from spanbert_keras.training.pretrain import run_preprocessor
    from spanbert_keras.training.pretrain import schedule_of

    config = apply_overrides(load_config(DEMO_CONFIG), overrides)
    config.data.corpus = [os.path.join(ROOT, path) for path in config.data.corpus]
    run_dir = tempfile.mkdtemp(prefix=f"tta-{name}-")
    log = lambda *_: None  # noqa: E731
    config, vocabulary, files = prepare_run(config, run_dir, log=log)
    total, per_epoch, epochs = schedule_of(config)
    preprocessor = run_preprocessor(
        config, vocabulary, replacement_counts_of(run_dir, config, vocabulary, files, log=log))
    train, validation = datasets(
        config, preprocessor, files, num_epochs=epochs, steps_per_epoch=per_epoch)
    held_out, count = finite_batches(validation, eval_batches)
    held_out = [batch for batch in held_out]
    model = build_pretrainer(config.model, vocabulary.size, config.training,
                             sequence_length=config.data.sequence_length,
                             total_steps=epochs * per_epoch)

    @tf.function
    def score(batch):
        outputs = model(batch, training=False)
        # Targets whose input is [MASK] (80% of spans): no copy of the answer in
        # the input, as in `fill_spans`; the other 20% keep or replace the token.
        inputs = tf.gather(batch["token_ids"], batch["mask_positions"], batch_dims=1)
        masked = batch["mask_weights"] * tf.cast(inputs == vocabulary.mask_id, tf.float32)
        terms = [weighted_cross_entropy_terms(outputs[logits], batch["mask_ids"], weights)[1:]
                 for logits, weights in (("mlm_logits", batch["mask_weights"]),
                                         ("sbo_logits", batch["sbo_weights"]),
                                         ("mlm_logits", masked))]
        return tf.stack([value for pair in terms for value in pair])

    def held_out_accuracy():
        totals = np.sum([score(b).numpy() for b in held_out], axis=0)
        return tuple(float(totals[i] / totals[i + 1]) for i in (0, 2, 4))

    # The frequent-pieces baseline (the demo's and fill_spans' rule): always the
    # most frequent pieces of the training split, scored on the held-out targets.
    frequent = frequent_pieces(config, vocabulary, k=5)
    held_ids = np.concatenate([b["mask_ids"].numpy()[b["mask_weights"].numpy() > 0] for b in held_out])
    baseline = {k: float(np.isin(held_ids, frequent[:k]).mean()) for k in (1, 5)}

    tokens_per_step = config.data.batch_size * config.data.sequence_length
    targets = config.masking.max_predictions or (0.15 * (config.data.sequence_length - 2))
    flops_step = flops_per_token(config.model, vocabulary.size, seq_len=config.data.sequence_length,
                                 targets_per_token=targets / config.data.sequence_length) * tokens_per_step
    mlm, sbo, mlm_masked = held_out_accuracy()
    points = [dict(step=0, minutes=0.0, tokens=0, mlm_accuracy=mlm, sbo_accuracy=sbo,
                   load=_load(), mlm_masked_accuracy=mlm_masked)]
    clock = {"training": 0.0, "start": None, "step_times": []}
    budget = minutes * 60
    last_step = min(total, max_steps or total)

    class Curve(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            clock["start"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.optimizer.iterations.numpy())  # waits for the step
            elapsed = time.perf_counter() - clock["start"]
            clock["step_times"].append(elapsed)
            if len(clock["step_times"]) > 1:  # the first step traces and compiles: set-up
                clock["training"] += elapsed
            done = clock["training"] >= budget or step >= last_step
            if step % eval_every == 0 or done:
                mlm, sbo, mlm_masked = held_out_accuracy()
                points.append(dict(step=step, minutes=clock["training"] / 60,
                                   tokens=step * tokens_per_step, mlm_accuracy=mlm,
                                   sbo_accuracy=sbo, load=_load(), mlm_masked_accuracy=mlm_masked))
                print(f"{name}: step {step} {clock['training'] / 60:.2f} min "
                      f"mlm {mlm:.3f} (at [MASK] inputs {mlm_masked:.3f}) sbo {sbo:.3f} "
                      f"(load {points[-1]['load']:.1f})", flush=True)
            if done:
                self.model.stop_training = True

    model.fit(train, epochs=epochs, steps_per_epoch=per_epoch, callbacks=[Curve()], verbose=0)
    steady = sorted(clock["step_times"][5:]) or sorted(clock["step_times"])
    split = step_split(model, train, config, steady[len(steady) // 2])
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(dict(recipe=name, overrides=overrides, points=points, baseline=baseline,
                       schedule_steps=total, dtype=model.dtype_policy.compute_dtype,
                       jit_compile=str(config.training.jit_compile),
                       flops_per_step=flops_step, split=split,
                       median_step_seconds=split["pipeline_step"],
                       step_gflops_per_second=flops_step / split["pipeline_step"] / 1e9), f)


def _median_time(function, count):
    times = []
    for _ in range(count):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def step_split(model, train, config, pipeline_step, count=15):
    """Seconds per batch: input alone, forward, forward + backward, step on a cached batch.

    `pipeline_step` is the median step `fit` ran (fed by the pipeline). The
    optimiser's share is `cached_step - forward_backward`; the step waited
    for data if `pipeline_step` exceeds `cached_step` beyond noise.
    """
    import tensorflow as tf

    from spanbert_keras.losses import weighted_cross_entropy_terms

    iterator = iter(train)
    batch = next(iterator)
    input_time = _median_time(lambda: next(iterator)["token_ids"].numpy(), 3 * count)
    jit = config.training.jit_compile is True

    def loss_of(x):  # the model's loss (see SpanBertPretrainer), from its public parts
        outputs = model(x, training=True)
        loss = 0.0
        for head, weights, factor in (("mlm", "mask_weights", 1.0),
                                      ("sbo", "sbo_weights", model.sbo_weight)):
            ce, _, count = weighted_cross_entropy_terms(
                outputs[f"{head}_logits"], x["mask_ids"], x[weights])
            loss += factor * ce / tf.maximum(count, 1.0)
        return loss

    @tf.function(jit_compile=jit)
    def forward(x):
        return loss_of(x)

    @tf.function(jit_compile=jit)
    def forward_backward(x):
        with tf.GradientTape() as tape:
            loss = loss_of(x)
        grads = tape.gradient(loss, model.trainable_variables)
        return tf.linalg.global_norm([tf.convert_to_tensor(g) for g in grads if g is not None])

    cached = iter(tf.data.Dataset.from_tensors(batch).repeat())
    functions = {
        "forward": lambda: forward(batch).numpy(),
        "forward_backward": lambda: forward_backward(batch).numpy(),
        "cached_step": lambda: float(model.train_function(cached)["loss"]),
    }
    times = {name: [] for name in functions}
    for function in functions.values():
        function()  # trace
    for _ in range(3):  # interleaved, so that other load affects them alike
        for name, function in functions.items():
            times[name].append(_median_time(function, count))
    split = {name: sorted(values)[1] for name, values in times.items()}
    split.update(input=input_time, pipeline_step=pipeline_step,
                 optimizer=max(split["cached_step"] - split["forward_backward"], 0.0))
    return split


def matmul_rates():
    """GFLOP/s of a 2048 x 2048 matrix product, by dtype and path (best of 5 x 10).

    Both paths: the graph (oneDNN: AMX for bfloat16 on this CPU) and XLA.
    """
    import tensorflow as tf

    rates = {}
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.cast(tf.random.normal([2048, 2048], dtype=tf.float32), dtype)
        for jit in (False, True):
            product = tf.function(tf.matmul, jit_compile=jit, autograph=False)
            product(a, a).numpy()
            best = float("inf")
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(10):
                    result = product(a, a)
                result.numpy()
                best = min(best, (time.perf_counter() - start) / 10)
            rates[(dtype.name, "xla" if jit else "graph")] = 2 * 2048**3 / best / 1e9
    return rates


def plot(rows, baselines, path, recipes=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    names = [r for r in dict.fromkeys(row["recipe"] for row in rows) if not recipes or r in recipes]
    for recipe in names:
        points = [r for r in rows if r["recipe"] == recipe]
        for axis, key, scale in ((axes[0], "minutes", 1), (axes[1], "tokens", 1e6)):
            line, = axis.plot([float(p[key]) / scale for p in points],
                              [float(p["mlm_accuracy"]) for p in points], label=f"{recipe} MLM")
            axis.plot([float(p[key]) / scale for p in points],
                      [float(p["sbo_accuracy"]) for p in points],
                      linestyle="--", color=line.get_color(), label=f"{recipe} SBO")
    top1 = max(baselines[name][1] for name in names)
    for axis in axes:
        axis.axhline(top1, color="grey", linestyle=":", label="most frequent piece")
        axis.axhline(0.20, color="black", linewidth=0.6, label="target 0.20 (MLM)")
        axis.grid(alpha=0.3)
    axes[0].set_xlabel("training minutes (2 CPU cores)")
    axes[1].set_xlabel("tokens seen (millions)")
    axes[0].set_ylabel("held-out accuracy (top-1)")
    axes[1].legend(fontsize=7, ncol=2)
    figure.suptitle("SpanBERT on the shipped corpus: held-out accuracy of both heads")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=list(RECIPES),
                        help="recipes to run (default: all; none: redraw the plot from the CSV)")
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget per recipe")
    parser.add_argument("--max-steps", type=int, help="also stop after this many steps")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between held-out scores")
    parser.add_argument("--eval-batches", type=int, default=25)
    parser.add_argument("--output", default="benchmarks/results", help="folder for the CSV and PNG")
    parser.add_argument("--plot", nargs="+", metavar="RECIPE",
                        help="recipes to draw (default: every recipe in the CSV)")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        overrides, _ = RECIPES[args.run_one]
        run_recipe(args.run_one, overrides, args.minutes, args.eval_every, args.eval_batches,
                   args.json, args.max_steps)
        return 0

    os.makedirs(args.output, exist_ok=True)
    csv_path = os.path.join(args.output, "time_to_accuracy.csv")
    summary_path = os.path.join(args.output, "time_to_accuracy.json")
    summaries = {}
    if os.path.exists(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            summaries = json.load(f)
    rows = [row for row in _read_csv(csv_path) if row["recipe"] not in args.recipes]
    for name in args.recipes:
        _, environment = RECIPES[name]
        out_json = os.path.join(tempfile.mkdtemp(prefix="tta-"), "curve.json")
        command = [sys.executable, os.path.abspath(__file__), "--run-one", name, "--json", out_json,
                   "--minutes", str(args.minutes), "--eval-every", str(args.eval_every),
                   "--eval-batches", str(args.eval_batches)]
        if args.max_steps:
            command += ["--max-steps", str(args.max_steps)]
        subprocess.run(command, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                                       **environment))
        with open(out_json, encoding="utf-8") as f:
            result = json.load(f)
        result["environment"] = environment
        summaries[name] = result
        rows += [dict(recipe=name, **point) for point in result["points"]]
        with open(csv_path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[-1]))
            writer.writeheader()
            writer.writerows(rows)
        merge_results(summary_path, {name: result})
    baselines = {name: {int(k): v for k, v in s["baseline"].items()} for name, s in summaries.items()}
    png_path = os.path.join(args.output, "time_to_accuracy.png")
    plot(rows, baselines, png_path, args.plot)
    if not args.recipes:
        print(f"drew {png_path} from {csv_path}")
        return 0
    load = _load()
    rates = matmul_rates()
    print(f"\nmatrix product 2048^2 on this machine (load {load:.1f}): " + ", ".join(
        f"{dtype} {path} {rate:.0f}" for (dtype, path), rate in rates.items()) + " GFLOP/s")
    for name in args.recipes:  # kept beside each recipe measured with them
        summaries[name]["matmul_gflops_per_second"] = {
            f"{dtype}/{path}": rate for (dtype, path), rate in rates.items()}
    merge_results(summary_path, {name: summaries[name] for name in args.recipes})
    for name in args.recipes:
        s = summaries[name]
        last, split = s["points"][-1], s["split"]
        loads = [p["load"] for p in s["points"]]
        matching = max(rate for (dtype, _), rate in rates.items() if dtype == s["dtype"])
        print(f"{name:>15}: {last['minutes']:.1f} min, {last['step']} of {s['schedule_steps']} "
              f"steps, MLM {last['mlm_accuracy']:.3f} (at [MASK] inputs "
              f"{last.get('mlm_masked_accuracy', float('nan')):.3f}), SBO {last['sbo_accuracy']:.3f} "
              f"(frequent pieces top-1 {baselines[name][1]:.3f}, top-5 {baselines[name][5]:.3f}); "
              f"load {min(loads):.1f}-{max(loads):.1f}")
        print(f"{'':>15}  step {1000 * split['pipeline_step']:.0f} ms fed by the pipeline, "
              f"{1000 * split['cached_step']:.0f} ms on a cached batch (input alone "
              f"{1000 * split['input']:.0f} ms/batch; forward {1000 * split['forward']:.0f}, "
              f"forward+backward {1000 * split['forward_backward']:.0f}, optimiser "
              f"{1000 * split['optimizer']:.0f}); {s['flops_per_step'] / 1e9:.1f} GFLOP/step = "
              f"{s['step_gflops_per_second']:.0f} GFLOP/s = "
              f"{100 * s['step_gflops_per_second'] / matching:.0f}% of the {s['dtype']} matrix product")
    print(f"wrote {csv_path}, {summary_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
