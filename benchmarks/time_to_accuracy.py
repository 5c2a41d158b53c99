"""Time to accuracy: held-out MLM / SBO accuracy against wall-clock minutes and tokens seen.

Each recipe is the demo configuration (`pipelines/configs/demo.yaml`) with
some overrides, pre-trained on the shipped corpus for a fixed training
budget in its own process (fresh TensorFlow, its own thread settings). Every
`--eval-every` steps the clock is paused (it does not run during the first
step either, which traces and compiles the step: set-up) and the model is scored on the same
held-out batches (documents of the validation split, fixed masks), so the
curves of all recipes are comparable. Writes `time_to_accuracy.csv` and
`time_to_accuracy.png` (two panels: against minutes, against tokens), and
prints each recipe's last point, the frequent-pieces baseline on the same
targets, and the step's matrix-product rate beside this machine's.

    python benchmarks/time_to_accuracy.py                       # every recipe, 6 minutes each
    python benchmarks/time_to_accuracy.py --recipes demo fast --minutes 2
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(ROOT, "pipelines", "configs", "demo.yaml")

# name -> (overrides of demo.yaml, environment)
RECIPES = {
    "demo": ([], {}),
    "demo-xla": (["training.jit_compile=true"], {}),
    "bf16-xla": (["training.dtype_policy=mixed_bfloat16", "training.jit_compile=true"], {}),
    "seq64": (["data.sequence_length=64", "data.batch_size=32"], {}),
    "lr3e-3": (["training.learning_rate=3.0e-3"], {}),
    "vocab4k": (["data.vocabulary_size=4000"], {}),
    "no-clip": (["training.clip_norm=0.0"], {}),
    "authors-clip": (["training.clip_mode=authors"], {}),
}


def run_recipe(name, overrides, minutes, eval_every, eval_batches, out_json):
    """Trains one recipe for `minutes` of training time; writes its curve to `out_json`."""
    import numpy as np
    import tensorflow as tf

    from spanbert_keras.config import apply_overrides
    from spanbert_keras.config import load_config
    from spanbert_keras.data.pretraining_dataset import finite_batches
    from spanbert_keras.losses import weighted_cross_entropy_terms
    from spanbert_keras.training.build import build_pretrainer
    from spanbert_keras.training.flops import flops_per_token
    from spanbert_keras.training.pretrain import datasets
    from spanbert_keras.training.pretrain import prepare_run
    from spanbert_keras.training.pretrain import schedule_of

    config = apply_overrides(load_config(DEMO_CONFIG), overrides)
    config.data.corpus = [os.path.join(ROOT, config.data.corpus[0])]
    run_dir = tempfile.mkdtemp(prefix=f"tta-{name}-")
    config, vocabulary, files = prepare_run(config, run_dir, log=lambda *_: None)
    total, per_epoch, epochs = schedule_of(config)
    train, validation = datasets(config, vocabulary, files, num_epochs=epochs,
                                 steps_per_epoch=per_epoch)
    held_out, count = finite_batches(validation, eval_batches)
    held_out = [batch for batch in held_out]
    model = build_pretrainer(config.model, vocabulary.size, config.training,
                             sequence_length=config.data.sequence_length,
                             total_steps=epochs * per_epoch)

    @tf.function
    def score(batch):
        outputs = model(batch, training=False)
        _, mlm_correct, mlm_count = weighted_cross_entropy_terms(
            outputs["mlm_logits"], batch["mask_ids"], batch["mask_weights"])
        _, sbo_correct, sbo_count = weighted_cross_entropy_terms(
            outputs["sbo_logits"], batch["mask_ids"], batch["sbo_weights"])
        return tf.stack([mlm_correct, mlm_count, sbo_correct, sbo_count])

    def held_out_accuracy():
        totals = np.sum([score(b).numpy() for b in held_out], axis=0)
        return float(totals[0] / totals[1]), float(totals[2] / totals[3])

    # The frequent-pieces baseline: always the most frequent target pieces of the training data.
    counts = np.zeros(vocabulary.size)
    for batch in train.take(50):
        ids = batch["mask_ids"].numpy()[batch["mask_weights"].numpy() > 0]
        counts += np.bincount(ids, minlength=vocabulary.size)
    frequent = np.argsort(-counts)
    held_ids = np.concatenate([b["mask_ids"].numpy()[b["mask_weights"].numpy() > 0] for b in held_out])
    baseline = {k: float(np.isin(held_ids, frequent[:k]).mean()) for k in (1, 5)}

    tokens_per_step = config.data.batch_size * config.data.sequence_length
    targets = config.masking.max_predictions or (0.15 * (config.data.sequence_length - 2))
    flops_step = flops_per_token(config.model, vocabulary.size, seq_len=config.data.sequence_length,
                                 targets_per_token=targets / config.data.sequence_length) * tokens_per_step
    points = [dict(step=0, minutes=0.0, tokens=0, mlm_accuracy=held_out_accuracy()[0],
                   sbo_accuracy=held_out_accuracy()[1])]
    clock = {"training": 0.0, "start": None, "step_times": []}

    class Curve(__import__("keras").callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            clock["start"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            elapsed = time.perf_counter() - clock["start"]
            clock["step_times"].append(elapsed)
            if len(clock["step_times"]) > 1:  # the first step traces and compiles: set-up
                clock["training"] += elapsed
            step = int(self.model.optimizer.iterations.numpy())
            if step % eval_every == 0 or clock["training"] >= minutes * 60:
                mlm, sbo = held_out_accuracy()
                points.append(dict(step=step, minutes=clock["training"] / 60,
                                   tokens=step * tokens_per_step, mlm_accuracy=mlm, sbo_accuracy=sbo))
                print(f"{name}: step {step} {clock['training'] / 60:.2f} min "
                      f"mlm {mlm:.3f} sbo {sbo:.3f}", flush=True)
            if clock["training"] >= minutes * 60:
                self.model.stop_training = True

    model.fit(train, epochs=epochs, steps_per_epoch=per_epoch, callbacks=[Curve()], verbose=0)
    steady = sorted(clock["step_times"][5:]) or clock["step_times"]
    median_step = steady[len(steady) // 2]
    with open(out_json, "w", encoding="utf-8") as f:
        json.dump(dict(recipe=name, overrides=overrides, points=points, baseline=baseline,
                       median_step_seconds=median_step,
                       step_gflops_per_second=flops_step / median_step / 1e9), f)


def matmul_rates():
    """GFLOP/s of a 2048 x 2048 matrix product in float32 and bfloat16 (best of 5)."""
    import tensorflow as tf

    rates = {}
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.random.normal([2048, 2048], dtype=tf.float32)
        a = tf.cast(a, dtype)
        product = tf.function(lambda x: tf.matmul(x, x), jit_compile=True)
        product(a).numpy()
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(10):
                result = product(a)
            result.numpy()
            best = min(best, (time.perf_counter() - start) / 10)
        rates[dtype.name] = 2 * 2048**3 / best / 1e9
    return rates


def plot(rows, baselines, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        points = [r for r in rows if r["recipe"] == recipe]
        for axis, key, scale in ((axes[0], "minutes", 1), (axes[1], "tokens", 1e6)):
            line, = axis.plot([p[key] / scale for p in points], [p["mlm_accuracy"] for p in points],
                              label=f"{recipe} MLM")
            axis.plot([p[key] / scale for p in points], [p["sbo_accuracy"] for p in points],
                      linestyle="--", color=line.get_color(), label=f"{recipe} SBO")
    top1 = max(b[1] for b in baselines.values())
    for axis in axes:
        axis.axhline(top1, color="grey", linestyle=":", label="most frequent piece")
        axis.grid(alpha=0.3)
    axes[0].set_xlabel("training minutes (2 CPU cores)")
    axes[1].set_xlabel("tokens seen (millions)")
    axes[0].set_ylabel("held-out accuracy (top-1)")
    axes[1].legend(fontsize=7, ncol=2)
    figure.suptitle("SpanBERT on the shipped corpus: held-out accuracy of both heads")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    parser.add_argument("--minutes", type=float, default=6.0, help="training budget per recipe")
    parser.add_argument("--eval-every", type=int, default=100, help="steps between held-out scores")
    parser.add_argument("--eval-batches", type=int, default=25)
    parser.add_argument("--output", default="benchmarks/results", help="folder for the CSV and PNG")
    parser.add_argument("--run-one", help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_one:
        overrides, _ = RECIPES[args.run_one]
        run_recipe(args.run_one, overrides, args.minutes, args.eval_every, args.eval_batches, args.json)
        return 0

    os.makedirs(args.output, exist_ok=True)
    rows, baselines, summary = [], {}, []
    for name in args.recipes:
        _, environment = RECIPES[name]
        out_json = os.path.join(tempfile.mkdtemp(prefix="tta-"), "curve.json")
        command = [sys.executable, os.path.abspath(__file__), "--run-one", name, "--json", out_json,
                   "--minutes", str(args.minutes), "--eval-every", str(args.eval_every),
                   "--eval-batches", str(args.eval_batches)]
        subprocess.run(command, check=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                                       **environment))
        with open(out_json, encoding="utf-8") as f:
            result = json.load(f)
        baselines[name] = {int(k): v for k, v in result["baseline"].items()}
        for point in result["points"]:
            rows.append(dict(recipe=name, **point))
        last = result["points"][-1]
        summary.append((name, last, result["median_step_seconds"], result["step_gflops_per_second"]))
    csv_path = os.path.join(args.output, "time_to_accuracy.csv")
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    png_path = os.path.join(args.output, "time_to_accuracy.png")
    plot(rows, baselines, png_path)
    rates = matmul_rates()
    print(f"\nmatrix product 2048^2 on this machine: float32 {rates['float32']:.0f} GFLOP/s, "
          f"bfloat16 {rates['bfloat16']:.0f} GFLOP/s")
    for name, last, step, gflops in summary:
        print(f"{name:>13}: {last['minutes']:.1f} min, {last['step']} steps, MLM {last['mlm_accuracy']:.3f}, "
              f"SBO {last['sbo_accuracy']:.3f}; step {step * 1000:.0f} ms = {gflops:.0f} GFLOP/s "
              f"(frequent-piece baseline top-1 {baselines[name][1]:.3f}, top-5 {baselines[name][5]:.3f})")
    print(f"wrote {csv_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
