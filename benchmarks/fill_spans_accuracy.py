"""How well the exported `fill_spans` signature fills a masked span, vs chance.

Trains the demo model (the `make demo` config on the shipped Austen corpus)
unless a run directory is given, exports it with `export_saved_model`,
reloads the SavedModel with `tf.saved_model.load`, and asks its `fill_spans`
signature to fill one masked span in each of N sentences of the held-out
(validation) split (`spanbert_keras.fill_spans`: spans drawn as in training,
whole words, one `[MASK]` per wordpiece).

Reported, over all masked wordpieces: the MLM head's and the SBO head's
top-1 / top-5 accuracy, against chance (uniform over the vocabulary) and
against the best constant guess (the 5 most frequent wordpieces of the
training split). Also the span-level top-1 exact match. With `--preset`, a
built-in preset is scored the same way on the same held-out spans (in
process, its own vocabulary), as `make demo` does at its end.

    python benchmarks/fill_spans_accuracy.py                 # train + measure
    python benchmarks/fill_spans_accuracy.py --run-dir runs/demo   # a finished run
    python benchmarks/fill_spans_accuracy.py --run-dir runs/demo --preset austen-tiny

The figures replace the entries of the run (its folder's name: `demo`) and
of the preset (`austen-tiny`) in `benchmarks/results/fill_spans_accuracy.json`.
"""

import argparse
import os
import sys
import time

import tensorflow as tf
from results_file import add_output_arguments  # benchmarks/ is the script's folder
from results_file import save_results

from spanbert_keras.export import export_saved_model
from spanbert_keras.fill_spans import fill_spans_function
from spanbert_keras.fill_spans import frequent_pieces
from spanbert_keras.fill_spans import held_out_queries
from spanbert_keras.fill_spans import score_fill_spans
from spanbert_keras.resources import DEMO_CORPUS
from spanbert_keras.training.pretrain import load_pretraining_run
from spanbert_keras.training.pretrain import run_pretraining

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO, "pipelines", "configs", "demo.yaml")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", help="a finished (or interrupted) pre-training run")
    parser.add_argument("--work-dir", default=os.path.join(REPO, "runs", "fill_spans_benchmark"))
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps when training here (default: the demo config's)")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", help="also score this built-in preset (austen-tiny)")
    add_output_arguments(parser, "fill_spans_accuracy")
    return parser.parse_args()


def trained_run(args):
    if args.run_dir:
        return args.run_dir
    run_dir = os.path.join(args.work_dir, "run")
    if not os.path.exists(os.path.join(run_dir, "model.keras")):
        start = time.time()
        run_pretraining(DEMO_CONFIG, run_dir, corpus=[DEMO_CORPUS], steps=args.steps, verbose=2)
        print(f"trained in {time.time() - start:.0f} s")
    return run_dir


def exported_fill_spans(model, vocabulary, config, work_dir):
    """The `fill_spans` signature of the model exported as a SavedModel and loaded back."""
    export_dir = os.path.join(work_dir, "saved_models", "demo", "1")
    start = time.time()
    export_saved_model(model, vocabulary, export_dir, config=config, overwrite=True)
    print(f"exported {export_dir} in {time.time() - start:.0f} s")
    return tf.saved_model.load(export_dir).signatures["fill_spans"]


def preset_fill_spans(name):
    """(`fill_spans` of the built-in preset `name`, in process; its vocabulary)."""
    from spanbert_keras.checkpoints import load_pretrained
    from spanbert_keras.resources.presets import preset_config

    model = load_pretrained(name, log=None)
    vocabulary = model.import_report.vocabulary
    length = preset_config(name).data.sequence_length
    return fill_spans_function(model, vocabulary, length), vocabulary


def measure(fill_spans, config, vocabulary, args):
    """Scores `fill_spans` on the held-out spans of `config`'s corpus; returns the figures."""
    queries = held_out_queries(config, vocabulary, args.sentences, seed=args.seed)
    if len(queries) < args.sentences:
        print(f"only {len(queries)} usable held-out sentences", file=sys.stderr)
    results, _ = score_fill_spans(fill_spans, queries, vocabulary,
                                  frequent_pieces(config, vocabulary))
    results["mlm_top5_over_frequent_top5"] = results["mlm_top5"] / max(results["unigram_top5"], 1e-9)
    return results


def report(label, results, vocabulary):
    print(
        f"\n{label}: fill_spans on {results['sentences']} held-out sentences, one masked span "
        f"each ({results['masked_wordpieces']} wordpieces, mean span "
        f"{results['mean_span_wordpieces']:.2f}; {results['skipped_sentences']} skipped), "
        f"vocabulary {vocabulary.size}:"
    )
    print(f"{'':24}{'top-1':>8}{'top-5':>8}")
    for name, one, five in (
        ("MLM head", results["mlm_top1"], results["mlm_top5"]),
        ("SBO head", results["sbo_top1"], results["sbo_top5"]),
        ("chance (uniform)", results["chance_top1"], results["chance_top5"]),
        ("most frequent pieces", results["unigram_top1"], results["unigram_top5"]),
    ):
        print(f"{name:24}{one:8.3f}{five:8.3f}")
    print(f"whole span right at top-1: MLM {results['mlm_span_exact_top1']:.3f}, "
          f"SBO {results['sbo_span_exact_top1']:.3f}")


def main():
    args = parse_args()
    load_before = os.getloadavg()
    run_dir = trained_run(args)
    model, vocabulary, config = load_pretraining_run(run_dir)
    fill_spans = exported_fill_spans(model, vocabulary, config, args.work_dir)
    run_name = os.path.basename(os.path.normpath(run_dir))
    results = measure(fill_spans, config, vocabulary, args)
    report(run_name, results, vocabulary)
    save_results(args, run_name, results, load_before)
    if args.preset:
        load_before = os.getloadavg()
        fill_spans, preset_vocabulary = preset_fill_spans(args.preset)
        results = measure(fill_spans, config, preset_vocabulary, args)
        report(f"the built-in preset {args.preset}", results, preset_vocabulary)
        save_results(args, args.preset, results, load_before)


if __name__ == "__main__":
    main()
