"""End-to-end job: corpus -> vocabulary -> pre-training -> evaluation -> export.

    python pipelines/run.py --config pipelines/configs/demo.yaml --output runs/demo \
        --export-name spanbert-demo

Each stage leaves its result in the run directory (or `saved_models/`) and is
skipped when that result is already there, so an interrupted job is resumed
by running the same command again (pre-training itself resumes from its last
epoch checkpoint). The run directory is locked while the job runs; the export
replaces an existing version only with `--overwrite` (as `spanbert-keras
export`); failures are one line and exit status 2 (`--verbose`: TensorFlow's
logs and the traceback), as for the `spanbert-keras` command.
"""

import argparse
import json
import os
import sys

os.environ["SPANBERT_KERAS_DEFER_IMPORTS"] = "1"  # TensorFlow loads below, quietly

from spanbert_keras.console import quiet_tensorflow  # noqa: E402
from spanbert_keras.console import run_command  # noqa: E402

if __name__ == "__main__":
    quiet_tensorflow(verbose="--verbose" in sys.argv[1:])

from spanbert_keras.config import apply_overrides  # noqa: E402
from spanbert_keras.config import load_config  # noqa: E402
from spanbert_keras.export.archive import export_path  # noqa: E402
from spanbert_keras.export.bundle import check_bundle_free  # noqa: E402
from spanbert_keras.export.bundle import export_bundle  # noqa: E402
from spanbert_keras.files import write_json  # noqa: E402
from spanbert_keras.training import pretrain  # noqa: E402
from spanbert_keras.training.distribute import STRATEGIES  # noqa: E402
from spanbert_keras.training.distribute import get_strategy  # noqa: E402
from spanbert_keras.training.distribute import is_chief  # noqa: E402
from spanbert_keras.training.run_directory import run_lock  # noqa: E402

EVALUATION_FILE = "evaluation.json"
EXPORT_FILE = "export.json"


def stage(number, title):
    print(f"\n=== stage {number}/4: {title} ===", flush=True)


def held_out_sentences(config, count):
    """Sentences of the validation documents of the run's corpus, for a quick look."""
    import tensorflow as tf

    from spanbert_keras.data.packing import TFRECORD_SUFFIXES
    from spanbert_keras.data.packing import document_in_split

    sentences = []
    for path in config.data.corpus:
        if path.endswith(TFRECORD_SUFFIXES):
            continue  # shards hold documents as records: only text files are shown
        with open(path, encoding="utf-8") as f:
            documents = [d for d in f.read().split("\n\n") if d.strip()]
        keep = document_in_split(path, tf.range(len(documents), dtype=tf.int64), "validation",
                         config.data.validation_fraction).numpy()
        for document, held_out in zip(documents, keep):
            if held_out:
                sentences += [s for s in document.split("\n") if 60 < len(s) < 200]
    return sentences[:count]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the run's config (YAML)")
    parser.add_argument("--output", required=True, help="the run directory")
    parser.add_argument("--corpus", nargs="+", help="corpus files (default: the config's)")
    parser.add_argument("--steps", type=int, help="override training.steps")
    parser.add_argument("--export-name",
                        help="export to SAVED_MODELS/NAME/1, NAME a plain name (default: the "
                             "run directory's name)")
    parser.add_argument("--saved-models", default="saved_models", help="the export root")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing export of that name (not this run's own)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config value (repeatable)")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's logs, and the traceback of a failure")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="tf.distribute strategy of stage 2 (see spanbert-keras pretrain "
                             "--help); with TF_CONFIG, run the same command on every worker")
    args = parser.parse_args(argv)

    def work():
        strategy = get_strategy(args.strategy)  # before any TensorFlow work
        if not is_chief(strategy):  # another worker of a cluster trains; the chief does the rest
            config = apply_overrides(load_config(args.config), args.set)
            pretrain.run_pretraining(config, args.output, corpus=args.corpus, steps=args.steps,
                                     strategy=strategy)
            return
        with run_lock(args.output):
            run(args, strategy)

    return run_command("pipelines/run.py", work, verbose=args.verbose)


def run(args, strategy=None):
    """The four stages, in a locked run directory."""
    config = apply_overrides(load_config(args.config), args.set)
    run_dir = args.output
    # The export's place is checked before any work.
    record_path = os.path.join(run_dir, EXPORT_FILE)
    version_dir = export_path(args.saved_models,
                              args.export_name or os.path.basename(os.path.abspath(run_dir)))
    if not _exported_here(record_path, version_dir):
        check_bundle_free(version_dir, tflite=True, overwrite=args.overwrite)

    stage(1, "corpus and vocabulary")
    config, vocabulary, files = pretrain.prepare_run(config, run_dir, args.corpus)
    print(f"corpus: {', '.join(files)}; vocabulary: {vocabulary.size} wordpieces "
          f"({os.path.join(run_dir, pretrain.VOCAB_FILE)})")

    stage(2, "pre-training")
    pretrain.run_pretraining(config, run_dir, steps=args.steps, strategy=strategy)

    stage(3, "held-out evaluation")
    evaluation_path = os.path.join(run_dir, EVALUATION_FILE)
    model_path = os.path.join(run_dir, pretrain.MODEL_FILE)
    if os.path.exists(evaluation_path) and os.path.getmtime(evaluation_path) > os.path.getmtime(model_path):
        with open(evaluation_path, encoding="utf-8") as f:
            results = json.load(f)
        print("(already evaluated)")
    else:
        results = pretrain.evaluate_run(run_dir)
        write_json(evaluation_path, results)
    print("held-out: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(results.items())))

    stage(4, "export")
    if _exported_here(record_path, version_dir) and (
            os.path.getmtime(record_path) >= os.path.getmtime(model_path)):
        with open(record_path, encoding="utf-8") as f:
            paths = json.load(f)
        print("(already exported)")
        print(f"SavedModel (TF Serving layout): {paths['saved_model']}")
        print(f"TFLite (encode signature): {paths['tflite']}")
    else:
        model, vocabulary, config = pretrain.load_pretrainer(run_dir)
        paths = export_bundle(model, vocabulary, version_dir, config=config, tflite=True,
                              overwrite=args.overwrite or _exported_here(record_path, version_dir))
        write_json(record_path, {"saved_model": version_dir, "tflite": paths["tflite"]})
    print("\n=== a few held-out sentences, one span masked, filled by the exported model ===")
    show_fill_spans(version_dir, held_out_sentences(config, 4))
    print(f"\nTensorBoard: tensorboard --logdir {os.path.join(run_dir, pretrain.LOG_DIR)}")
    return 0


def _exported_here(record_path, version_dir):
    """Whether `version_dir` holds this run's own export (which it may replace)."""
    if not (os.path.isfile(record_path) and os.path.isdir(version_dir)):
        return False
    with open(record_path, encoding="utf-8") as f:
        recorded = json.load(f).get("saved_model")
    return recorded is not None and os.path.abspath(recorded) == os.path.abspath(version_dir)


def show_fill_spans(version_dir, sentences):
    """Masks a span of each sentence and prints the exported model's fillings."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    served = tf.saved_model.load(version_dir)
    fill = served.signatures["fill_spans"]
    for number, sentence in enumerate(sentences):
        words = sentence.split()
        start = 2 + (3 * number) % max(1, len(words) - 6)
        truth = words[start:start + 2]
        query = " ".join(words[:start] + ["[MASK]", "[MASK]"] + words[start + 2:])
        outputs = fill(text=tf.constant([query]))
        print(f"- {query}\n  truth: {' '.join(truth)}")
        for head in ("mlm", "sbo"):
            key = f"{head}_top_tokens"
            if key in outputs:
                tops = outputs[key].numpy()[0]
                shown = ["/".join(t.decode() for t in row[:3]) for row in tops[:2]]
                print(f"  {head.upper()} top-3 per position: {'  '.join(shown)}")


if __name__ == "__main__":
    sys.exit(main())
