"""Masking throughput: SpanMasker vs keras-hub's MaskedLMMaskGenerator vs the
NumPy reference, on the same blocks of the demo corpus, in one process.

    python benchmarks/masking.py [--length 512] [--batch-size 64]

* SpanMasker (span scheme by default): batched blocks in `tf.data`,
  `map(num_parallel_calls=AUTOTUNE)`, per-example seeds as the pre-training
  pipeline passes them, random tokens from the corpus' token counts
  (`--random-tokens unigram`, the default configuration) or uniform.
* keras-hub `MaskedLMMaskGenerator` (token-level BERT masking, in-graph): the
  same pipeline, same blocks, same budget and target slots.
* The NumPy reference (tests/data/reference_masking.py, a transcription of the
  authors' per-example loop, with the same random-token distribution): one
  example at a time in this process, as the authors' data-loader workers do.

The three are timed `--repeats` times, alternating (after a warm-up pass of
the pipelines); the median and the best rate are reported (on a shared
machine the best pass is the least disturbed one). Figures are blocks (sequences) per
second. They replace the entry of that configuration (`span_unigram_64x512`:
scheme, random tokens, batch x length) in `benchmarks/results/masking.json`.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from spanbert_keras.data.span_masker import SpanMasker  # noqa: E402
from spanbert_keras.data.vocabulary import bert_cased_tokenizer  # noqa: E402
from spanbert_keras.data.vocabulary import build_vocabulary  # noqa: E402
from spanbert_keras.data.vocabulary import corpus_token_counts  # noqa: E402
from spanbert_keras.resources import DEMO_CORPUS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests", "data"))
from reference_masking import VocabularyTables  # noqa: E402
from reference_masking import reference_mask_block  # noqa: E402
from results_file import add_output_arguments  # noqa: E402
from results_file import save_results  # noqa: E402

# The three contenders' keys in the results file.
CONTENDERS = ("span_masker", "keras_hub", "numpy_reference")


def corpus_blocks(vocabulary, length, count):
    """`count` blocks `[CLS] pieces [SEP]` of `length` ids cut from the demo corpus."""
    tokenizer = bert_cased_tokenizer(vocabulary)
    with open(DEMO_CORPUS, encoding="utf-8") as f:
        lines = [line for line in f.read().split("\n") if line.strip()]
    encodings = tokenizer.encode_batch(lines, add_special_tokens=False)
    stream = np.concatenate([np.asarray(e.ids, np.int32) for e in encodings])
    content = length - 2
    available = len(stream) // content
    blocks = np.full((count, length), vocabulary.pad_id, np.int32)
    for i in range(count):
        j = i % available
        blocks[i, 0] = vocabulary.cls_id
        blocks[i, 1:-1] = stream[j * content : (j + 1) * content]
        blocks[i, -1] = vocabulary.sep_id
    return blocks


def time_pipeline(dataset):
    start = time.perf_counter()
    for _ in dataset:
        pass
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=40, help="batches per timed pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reference-blocks", type=int, default=300)
    parser.add_argument("--scheme", default="span", choices=["span", "whole_word", "token"])
    parser.add_argument("--random-tokens", default="unigram", choices=["unigram", "uniform"])
    add_output_arguments(parser, "masking")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()

    vocabulary = build_vocabulary([DEMO_CORPUS], vocab_size=8000, show_progress=False)
    count = args.batch_size * args.batches
    blocks = corpus_blocks(vocabulary, args.length, count)
    counts = None
    if args.random_tokens == "unigram":
        counts = corpus_token_counts(DEMO_CORPUS, vocabulary)
    masker = SpanMasker(vocabulary, scheme=args.scheme, replacement_counts=counts)
    slots = masker.max_predictions_for(args.length)

    import keras_hub

    generator = keras_hub.layers.MaskedLMMaskGenerator(
        vocabulary_size=vocabulary.size,
        mask_selection_rate=masker.mask_rate,
        mask_token_id=vocabulary.mask_id,
        mask_selection_length=slots,
        unselectable_token_ids=[vocabulary.cls_id, vocabulary.sep_id, vocabulary.pad_id],
        mask_token_rate=masker.mask_token_rate,
        random_token_rate=masker.random_token_rate,
    )

    base = tf.data.Dataset.from_tensor_slices(blocks).batch(args.batch_size)

    def span_fn(index, token_ids):
        rows = tf.cast(index * args.batch_size, tf.int64) + tf.range(
            tf.shape(token_ids)[0], dtype=tf.int64
        )
        seeds = tf.stack([tf.zeros_like(rows), rows], axis=1)
        return masker(
            {"token_ids": token_ids, "padding_mask": token_ids != vocabulary.pad_id, "seed": seeds}
        )

    def hub_fn(index, token_ids):
        return generator(token_ids)

    pipelines = {
        f"SpanMasker ({args.scheme})": base.enumerate().map(span_fn, tf.data.AUTOTUNE),
        "keras-hub MaskedLMMaskGenerator": base.enumerate().map(hub_fn, tf.data.AUTOTUNE),
    }
    pipelines = {k: d.prefetch(tf.data.AUTOTUNE) for k, d in pipelines.items()}
    tables = VocabularyTables(vocabulary, replacement_counts=counts)
    rng = np.random.default_rng(0)
    reference = blocks[: args.reference_blocks]
    reference_name = f"NumPy reference ({args.scheme}, per example)"

    def reference_pass():
        start = time.perf_counter()
        for row in reference:
            reference_mask_block(row, row != vocabulary.pad_id, tables, rng, scheme=args.scheme)
        return time.perf_counter() - start

    for dataset in pipelines.values():
        time_pipeline(dataset)  # warm-up: tracing, thread pools
    # Alternate the three so that they share the machine's load alike.
    times = {name: [] for name in list(pipelines) + [reference_name]}
    for _ in range(args.repeats):
        for name, dataset in pipelines.items():
            times[name].append(count / time_pipeline(dataset))
        times[reference_name].append(len(reference) / reference_pass())
    rates = {name: statistics.median(t) for name, t in times.items()}
    best = {name: max(t) for name, t in times.items()}

    print(
        f"blocks of {args.length} tokens, batch {args.batch_size}, {count} blocks a pass, "
        f"{slots} target slots, {args.random_tokens} random tokens, {os.cpu_count()} CPU "
        f"cores, {args.repeats} alternating passes"
    )
    width = max(len(name) for name in rates)
    print(f"  {'':<{width}}  {'median':>10}  {'best':>10}  (blocks/s)")
    for name in rates:
        print(f"  {name:<{width}}  {rates[name]:10.1f}  {best[name]:10.1f}")
    ours, hub, numpy_rate = (rates[name] for name in times)
    ours_best, hub_best, numpy_best = (best[name] for name in times)
    print(f"  SpanMasker / keras-hub       = {ours / hub:.2f}x (best: {ours_best / hub_best:.2f}x)")
    print(
        f"  SpanMasker / NumPy reference = {ours / numpy_rate:.2f}x "
        f"(best: {ours_best / numpy_best:.2f}x)"
    )
    key_of = dict(zip(times, CONTENDERS))  # printed name -> the results file's key
    median = {key_of[name]: rate for name, rate in rates.items()}
    best_pass = {key_of[name]: rate for name, rate in best.items()}
    figures = {
        "length": args.length, "batch_size": args.batch_size, "blocks_a_pass": count,
        "reference_blocks": len(reference), "target_slots": int(slots), "scheme": args.scheme,
        "random_tokens": args.random_tokens, "repeats": args.repeats,
        "median_blocks_per_s": median,
        "best_blocks_per_s": best_pass,
        "span_masker_over": {name: median["span_masker"] / median[name] for name in CONTENDERS[1:]},
        "span_masker_over_best": {
            name: best_pass["span_masker"] / best_pass[name] for name in CONTENDERS[1:]},
    }
    key = f"{args.scheme}_{args.random_tokens}_{args.batch_size}x{args.length}"
    save_results(args, key, figures, load_before)
    return rates


if __name__ == "__main__":
    main()
