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
from spanbert_keras.files import check_outside_inputs  # noqa: E402
from spanbert_keras.files import write_json  # noqa: E402
from spanbert_keras.run_layout import RunDirectory  # noqa: E402
from spanbert_keras.training import pretrain  # noqa: E402
from spanbert_keras.training.checkpointing import run_lock  # noqa: E402
from spanbert_keras.training.distribute import STRATEGIES  # noqa: E402
from spanbert_keras.training.distribute import get_strategy  # noqa: E402
from spanbert_keras.training.distribute import is_chief  # noqa: E402

EVALUATION_FILE = "evaluation.json"
EXPORT_FILE = "export.json"


def stage(number, title):
    print(f"\n=== stage {number}/4: {title} ===", flush=True)


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
        config = apply_overrides(load_config(args.config), args.set)
        inputs = [args.config, config.data.vocabulary, *(args.corpus or config.data.corpus)]
        check_outside_inputs(args.output, inputs)  # never writes over what it reads
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
        check_outside_inputs(version_dir, [run_dir, args.config, *(args.corpus or config.data.corpus)])

    stage(1, "corpus and vocabulary")
    config, vocabulary, files = pretrain.prepare_run(config, run_dir, args.corpus)
    print(f"corpus: {', '.join(files)}; vocabulary: {vocabulary.size} wordpieces "
          f"({RunDirectory(run_dir).vocab})")

    stage(2, "pre-training")
    pretrain.run_pretraining(config, run_dir, steps=args.steps, strategy=strategy)

    stage(3, "held-out evaluation")
    evaluation_path = os.path.join(run_dir, EVALUATION_FILE)
    model_path = RunDirectory(run_dir).model
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
        model, vocabulary, config = pretrain.load_pretraining_run(run_dir)
        paths = export_bundle(model, vocabulary, version_dir, config=config, tflite=True,
                              overwrite=args.overwrite or _exported_here(record_path, version_dir))
        write_json(record_path, {"saved_model": version_dir, "tflite": paths["tflite"]})
    print("\n=== has it learned? held-out spans filled by the exported model ===")
    show_fill_spans(version_dir, config, vocabulary)
    print(f"\nTensorBoard: tensorboard --logdir {RunDirectory(run_dir).logs}")
    return 0


def _exported_here(record_path, version_dir):
    """Whether `version_dir` holds this run's own export (which it may replace)."""
    if not (os.path.isfile(record_path) and os.path.isdir(version_dir)):
        return False
    with open(record_path, encoding="utf-8") as f:
        recorded = json.load(f).get("saved_model")
    return recorded is not None and os.path.abspath(recorded) == os.path.abspath(version_dir)


def show_fill_spans(version_dir, config, vocabulary, shown=4, count=200):
    """Fills held-out spans with the exported model (and the built-in preset); prints them.

    For the first `shown` of `count` held-out sentences (one span masked in
    each, as in training): the truth and the top-3 pieces of both heads at
    each masked position; then one line comparing both heads' top-1 / top-5
    accuracy on all `count` spans with always guessing the most frequent
    pieces. When the run's corpus is the shipped one, the same for the
    built-in preset (pre-trained longer on it, the same chapters held out).
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    fill = tf.saved_model.load(version_dir).signatures["fill_spans"]
    _print_fills(fill, config, vocabulary, shown, count)
    preset = _comparable_preset(config)
    if preset is not None:
        from spanbert_keras.checkpoints import load_pretrained
        from spanbert_keras.fill_spans import fill_spans_function

        info = preset_info(preset)
        print(f"\n=== the same, by the built-in preset {preset!r} ({info['summary']}) ===")
        model = load_pretrained(preset, log=None)
        preset_vocabulary = model.import_report.vocabulary
        fill = fill_spans_function(model, preset_vocabulary, info["config"].data.sequence_length)
        _print_fills(fill, config, preset_vocabulary, shown, count)


def _comparable_preset(config, name="austen-tiny"):
    """`name` when it is installed and was pre-trained holding out this run's chapters, else None."""
    from spanbert_keras.resources import DEMO_CORPUS
    from spanbert_keras.resources.presets import preset_config
    from spanbert_keras.resources.presets import preset_names

    if name not in preset_names():
        return None
    trained = preset_config(name).data
    shipped = [os.path.basename(p) for p in config.data.corpus] == [os.path.basename(DEMO_CORPUS)]
    same_split = trained.validation_fraction == config.data.validation_fraction
    return name if shipped and same_split else None


def preset_info(name):
    """The preset's configuration and a few words on how long it was pre-trained."""
    from spanbert_keras.resources.presets import preset_config
    from spanbert_keras.resources.presets import resolve_preset

    config = preset_config(name)
    with open(os.path.join(resolve_preset(name), "evaluation.json"), encoding="utf-8") as f:
        evaluation = json.load(f)
    summary = (f"{config.model.size}, pre-trained {evaluation['training_minutes']:.0f} minutes "
               f"on this corpus by `python pipelines/build_preset.py`; held-out MLM accuracy "
               f"{evaluation['held_out']['mlm_accuracy']:.2f}")
    return {"config": config, "summary": summary}


def _print_fills(fill, config, vocabulary, shown, count):
    from spanbert_keras.fill_spans import frequent_pieces
    from spanbert_keras.fill_spans import held_out_queries
    from spanbert_keras.fill_spans import score_fill_spans
    from spanbert_keras.fill_spans import summary_line

    queries = held_out_queries(config, vocabulary, count)
    results, filled = score_fill_spans(fill, queries, vocabulary,
                                       frequent_pieces(config, vocabulary))
    for entry in filled[:shown]:
        print(f"- {entry['text']}\n  truth: {' '.join(entry['truth'])}")
        for head in ("mlm", "sbo"):
            tops = ["/".join(row[:3]) for row in entry[f"{head}_top"]]
            print(f"  {head.upper()} top-3 per position: {'  '.join(tops)}")
    print(summary_line(results))


if __name__ == "__main__":
    sys.exit(main())
