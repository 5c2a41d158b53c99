"""Training throughput of SpanBertPretrainer vs keras-hub's BertMaskedLM.

Three models: keras-hub `BertMaskedLM` with Keras' built-in train step
(`mlm`), the same encoder + MLM head trained by SpanBERT's custom step
without the SBO head (`mlm_step`: isolates the SBO head's cost from the
step's), and `SpanBertPretrainer` (`spanbert`). All share the encoder configuration, batch, sequence length, number
of prediction slots, dtype policy, XLA setting and optimiser (AdamW with
the warm-up/decay schedule; clipping to 1.0: the true global norm in
SpanBERT's step, `global_clipnorm` in Keras' built-in step for the MLM-only
model). The difference is the cost of the SBO head and of SpanBERT's step.
Each model runs in its own process so that peak memory is its own.

CPU (default: the demo's shape, dtype, XLA setting and dropout, read from
`pipelines/configs/demo.yaml`):

    python benchmarks/train_step.py

GPU, the published base configuration:

    python benchmarks/train_step.py --size base --seq-len 512 \\
        --batch-size 32 --dtype mixed_bfloat16 --jit --dropout 0.1

Target: the SpanBERT step no slower than the MLM-only step times the model
FLOPs ratio (SBO head included / MLM only): the SBO head may cost its share
of the FLOPs, nothing more.

The figures replace the entry of that configuration (device, preset,
batch x length, vocabulary, dtype, XLA or graph: `cpu_tiny_64x32_v4000_float32_xla`)
in `benchmarks/results/train_step.json`.
"""

import argparse
import math
import multiprocessing
import os
import resource
import sys
import time

from results_file import add_output_arguments  # benchmarks/ is the script's folder
from results_file import save_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(ROOT, "pipelines", "configs", "demo.yaml")


def synthetic_batch(batch_size, seq_len, num_targets, vocabulary_size, seed=0):
    """A batch of the span pipeline's contract with random contiguous spans."""
    import numpy as np

    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocabulary_size, (batch_size, seq_len)).astype("int32")
    positions = np.zeros((batch_size, num_targets), "int32")
    boundaries = np.zeros((batch_size, num_targets, 2), "int32")
    offsets = np.zeros((batch_size, num_targets), "int32")
    for row in range(batch_size):
        taken = np.zeros(seq_len, bool)
        slots = []
        while len(slots) < num_targets:
            length = int(min(rng.geometric(0.2), 10))
            start = int(rng.integers(1, seq_len - 1))
            end = min(start + length, seq_len - 1)
            if taken[max(start - 1, 0) : end + 1].any():
                continue
            taken[start:end] = True
            for i in range(start, end):
                if len(slots) < num_targets:
                    slots.append((i, start - 1, end, i - start))
        slots.sort()
        for j, (i, left, right, offset) in enumerate(slots):
            positions[row, j] = i
            boundaries[row, j] = (left, min(right, seq_len - 1))
            offsets[row, j] = offset
    mask_ids = np.take_along_axis(token_ids, positions, axis=1)
    masked = token_ids.copy()
    np.put_along_axis(masked, positions, 4, axis=1)
    weights = np.ones((batch_size, num_targets), "float32")
    return {
        "token_ids": masked,
        "padding_mask": np.ones((batch_size, seq_len), bool),
        "segment_ids": np.zeros((batch_size, seq_len), "int32"),
        "mask_positions": positions,
        "mask_ids": mask_ids,
        "mask_weights": weights,
        "span_boundaries": boundaries,
        "span_offsets": offsets,
        "sbo_weights": weights.copy(),
    }


KINDS = ("mlm", "mlm_step", "spanbert")
LABELS = {
    "mlm": "BertMaskedLM (Keras step)",
    "mlm_step": "MLM head, SpanBERT step",
    "spanbert": "SpanBertPretrainer",
}


def _build(kind, args):
    """Returns (compiled model, dataset) for one of KINDS; same seed, same weights."""
    import keras
    import keras_hub
    import tensorflow as tf

    from spanbert_keras.config import ModelConfig
    from spanbert_keras.config import TrainingConfig
    from spanbert_keras.losses import weighted_cross_entropy_terms
    from spanbert_keras.models.backbone import build_backbone
    from spanbert_keras.models.span_bert_pretrainer import SpanBertPretrainer
    from spanbert_keras.training.optimizer import AdamWeightDecay
    from spanbert_keras.training.schedule import WarmupLinearDecay

    class MlmOnlyPretrainer(SpanBertPretrainer):
        """SpanBERT's step with the MLM head only (benchmark baseline)."""

        def call(self, inputs, training=False):
            inputs = {k: v for k, v in inputs.items() if not k.startswith("span_")}
            return super().call(inputs, training=training)

        def _span_loss_terms(self, x, outputs, counts=None):
            ce, correct, _ = weighted_cross_entropy_terms(
                outputs["mlm_logits"], x["mask_ids"], x["mask_weights"]
            )
            count = self._target_counts(x)[0] if counts is None else counts[0]
            zero = 0.0 * ce
            return {
                "loss": ce / count,
                "mlm_loss": ce / count,
                "sbo_loss": zero,
                "mlm_accuracy": correct / count,
                "sbo_accuracy": zero,
                "mlm_count": count,
                "sbo_count": zero,
            }

    keras.utils.set_random_seed(0)
    config = ModelConfig.from_size(args.size, max_sequence_length=max(512, args.seq_len),
                                     dropout=args.dropout)
    training = TrainingConfig()
    backbone = build_backbone(
        config, args.vocab_size, sequence_length=args.seq_len, dtype=args.dtype
    )
    total = 1_000_000

    def optimizer(**extra):
        return AdamWeightDecay(
            learning_rate=WarmupLinearDecay(training.learning_rate, 5, total),
            weight_decay=training.weight_decay,
            beta_1=training.beta_1,
            beta_2=training.beta_2,
            epsilon=training.epsilon,
            **extra,
        )

    batch = synthetic_batch(args.batch_size, args.seq_len, args.num_targets, args.vocab_size)
    if kind in ("spanbert", "mlm_step"):
        model_class = SpanBertPretrainer if kind == "spanbert" else MlmOnlyPretrainer
        model = model_class(
            backbone,
            clip_norm=training.clip_norm,
            max_pair_targets=config.max_pair_targets,
            position_embedding_dim=config.position_embedding_dim,
            dtype=args.dtype,
        )
        model.compile(optimizer=optimizer(), jit_compile=args.jit)
        element = batch
    else:
        model = keras_hub.models.BertMaskedLM(backbone=backbone, preprocessor=None)
        model.compile(
            optimizer=optimizer(global_clipnorm=training.clip_norm),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()],
            jit_compile=args.jit,
        )
        x = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask")}
        x["mask_positions"] = batch["mask_positions"]
        element = (x, batch["mask_ids"], batch["mask_weights"])
    return model, tf.data.Dataset.from_tensors(element).repeat().prefetch(2)


def _setup_child():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore", message=".*shuffle=True.*")
    warnings.filterwarnings("ignore", message=".*Gradients do not exist.*")
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    return tf


def _device_name(tf):
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")


def _memory(kind, args, queue):
    """Peak memory of one model's training, alone in this process."""
    tf = _setup_child()
    model, dataset = _build(kind, args)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    model.fit(dataset, steps_per_epoch=args.warmup_steps + 2, epochs=1, verbose=0)
    if gpus:
        peak, what = tf.config.experimental.get_memory_info("GPU:0")["peak"], "GPU"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        what = "host max RSS"
    queue.put({"peak_memory_bytes": int(peak), "memory_kind": what})


def _timing(args, queue):
    """Step times of all models in one process, alternating models step by
    step, so that other load on the machine affects them alike."""
    tf = _setup_child()

    built, steps, times = {}, {}, {}
    for kind in KINDS:
        model, dataset = _build(kind, args)
        model.fit(dataset, steps_per_epoch=args.warmup_steps, epochs=1, verbose=0)
        model.make_train_function()  # the compiled step `fit` uses
        built[kind] = model
        steps[kind] = (model.train_function, iter(dataset))
        times[kind] = []
    losses = {}
    for index in range(args.rounds * args.steps):
        shift = index % len(KINDS)
        for kind in KINDS[shift:] + KINDS[:shift]:
            function, iterator = steps[kind]
            start = time.perf_counter()
            logs = function(iterator)
            losses[kind] = float(logs["loss"])  # waits for the step to finish
            times[kind].append(time.perf_counter() - start)
    result = {"device": _device_name(tf)}
    for kind in KINDS:
        ordered = sorted(times[kind])
        result[kind] = {
            "step_s": ordered[len(ordered) // 2],  # median: robust to other load
            "mean_step_s": sum(ordered) / len(ordered),
            "loss": losses[kind],
            "params": int(sum(math.prod(v.shape) for v in built[kind].trainable_variables)),
        }
    queue.put(result)


def _run_isolated(target, *args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()  # before join: a full pipe would block the child
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"{target.__name__}{args[:1]} failed (exit {process.exitcode}).")
    return result


def configuration_key(args, device):
    """The results file's key of a measured configuration, e.g. `cpu_tiny_64x32_v4000_float32_xla`."""
    kind = "cpu" if device == "CPU" else "gpu"
    path = "xla" if args.jit else "graph"
    return (f"{kind}_{args.size}_{args.batch_size}x{args.seq_len}_v{args.vocab_size}_"
            f"{args.dtype}_{path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    from spanbert_keras.config import load_config

    demo = load_config(DEMO_CONFIG)
    parser.add_argument("--size", default=demo.model.size,
                        choices=["tiny", "small", "base", "large"])
    parser.add_argument("--seq-len", type=int, default=demo.data.sequence_length)
    parser.add_argument("--batch-size", type=int, default=demo.data.batch_size)
    parser.add_argument("--vocab-size", type=int, default=demo.data.vocabulary_size)
    parser.add_argument("--dropout", type=float, default=demo.model.dropout)
    parser.add_argument(
        "--num-targets",
        type=int,
        default=None,
        help="prediction slots P per sequence (default: the pipeline's, ceil(0.15 * (seq_len - 2)))",
    )
    parser.add_argument("--dtype", default=demo.training.dtype_policy)
    parser.add_argument("--jit", action=argparse.BooleanOptionalAction,
                        default=demo.training.jit_compile is True, help="jit_compile=True (XLA)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (steps alternate)")
    parser.add_argument("--warmup-steps", type=int, default=3)
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the per-model peak-memory runs"
    )
    add_output_arguments(parser, "train_step")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    if args.num_targets is None:  # the pipeline's slots per block
        from spanbert_keras.data.span_masker import SpanMasker

        args.num_targets = SpanMasker.default_max_predictions(args.seq_len, 0.15)

    from spanbert_keras.config import ModelConfig
    from spanbert_keras.training.flops import flops_per_token
    from spanbert_keras.training.flops import model_flops_utilisation
    from spanbert_keras.training.flops import peak_flops

    print(
        f"preset={args.size} seq_len={args.seq_len} batch={args.batch_size} "
        f"P={args.num_targets} vocab={args.vocab_size} dtype={args.dtype} "
        f"jit={args.jit} dropout={args.dropout}; {args.rounds * args.steps} timed steps per model, alternating "
        f"(after {args.warmup_steps} warm-up steps)",
        flush=True,
    )
    memory = {}
    if not args.no_memory:
        memory = {kind: _run_isolated(_memory, kind, args) for kind in KINDS}
    timing = _run_isolated(_timing, args)
    config = ModelConfig.from_size(args.size)
    share = args.num_targets / args.seq_len
    peak = peak_flops(timing["device"])
    print(f"device: {timing['device']}")
    print(f"{'model':<26}{'tokens/s':>10}{'step ms':>10}{'peak mem MiB':>14}{'MFU':>8}")
    results = {}
    for kind in KINDS:
        r = dict(timing[kind], **memory.get(kind, {}))
        r["tokens_per_s"] = args.batch_size * args.seq_len / r["step_s"]
        r["flops_per_token"] = flops_per_token(
            config, args.vocab_size, args.seq_len, targets_per_token=share,
            sbo=kind == "spanbert",
        )
        r["mfu"] = model_flops_utilisation(r["tokens_per_s"], r["flops_per_token"], peak)
        results[kind] = r
        mem = r.get("peak_memory_bytes")
        mem_text = "-" if mem is None else f"{mem / 2**20:.0f}"
        mfu_text = "-" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
        where = "" if mem is None else f"   ({r['memory_kind']})"
        print(
            f"{LABELS[kind]:<26}{r['tokens_per_s']:>10.0f}{1000 * r['step_s']:>10.1f}"
            f"{mem_text:>14}{mfu_text:>8}{where}"
        )
    ratio = results["spanbert"]["step_s"] / results["mlm"]["step_s"]
    same_step = results["spanbert"]["step_s"] / results["mlm_step"]["step_s"]
    flop_ratio = results["spanbert"]["flops_per_token"] / results["mlm"]["flops_per_token"]
    verdict = "meets" if ratio <= flop_ratio else "misses"
    print(
        f"SpanBertPretrainer / BertMaskedLM step time: {ratio:.3f}x; model FLOPs ratio, "
        f"SBO head included / MLM only: {flop_ratio:.3f}x ({verdict} the target: "
        f"step ratio <= FLOPs ratio)"
    )
    print(f"SpanBertPretrainer / MLM head with the same step: {same_step:.3f}x")
    print(f"(load average {os.getloadavg()[0]:.1f})")
    figures = {
        "device": timing["device"],
        "results": results,
        "ratio": ratio,
        "ratio_same_step": same_step,
        "flops_ratio": flop_ratio,
        "meets_target": ratio <= flop_ratio,
    }
    save_results(args, configuration_key(args, timing["device"]), figures, load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
