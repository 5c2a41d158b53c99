"""The `spanbert-keras` command line.

    spanbert-keras vocab     --corpus FILE... --output vocab.txt
    spanbert-keras preview   (--run DIR | --vocab FILE) --text "..."
    spanbert-keras pretrain  --config CONFIG.yaml [--corpus FILE...] [--steps N] --output DIR
    spanbert-keras evaluate  --run DIR [--corpus FILE... | --dev FILE]
    spanbert-keras export    --run DIR --output saved_models/NAME/VERSION [--tflite]
    spanbert-keras finetune  TASK --train FILE --dev FILE --init PATH --output DIR
    spanbert-keras grid      TASK --train FILE --dev FILE --init PATH --output GRID_DIR
    spanbert-keras predict   --run DIR --input FILE [--output FILE]
    spanbert-keras import    CHECKPOINT --output DIR [--vocab VOCAB_TXT]
    spanbert-keras convert   --run DIR --to hf|keras-hub --output OUT_DIR
    spanbert-keras coref-jsonlines INPUT... --output OUT.jsonlines (--vocab FILE | --init PATH)

One name a concept: `--run DIR` is the run directory a command reads (made by
`pretrain`, `import` or `finetune`), `--output` what a command writes, and
`--init` the encoder a fine-tuning starts from (a run, a checkpoint or a
preset). The older spellings (`--checkpoint DIR`, a run given without a flag
to `convert` and `predict`, and `evaluate-squad --model DIR`, now `evaluate
--run DIR --dev FILE`) still work for one release, with a note.

Every sub-command has `--help` with examples. Exit status: 0 on success, 2 on
bad input or a file problem (one line naming the file and what to change), 1
on any other failure, 130 when interrupted; `--verbose` adds TensorFlow's
logs and the traceback (`spanbert_keras.console`).
"""

import argparse
import json
import os
import sys
import textwrap

from spanbert_keras.checkpoint_sizes import check_safetensors_directory
from spanbert_keras.console import quiet_tensorflow
from spanbert_keras.console import run_command
from spanbert_keras.files import read_yaml

EXAMPLES = {
    "finetune": """
        spanbert-keras finetune squad --train train-v1.1.json --dev dev-v1.1.json --init runs/tiny --output runs/squad
        spanbert-keras finetune squad --version-2 --train train-v2.0.json --dev dev-v2.0.json --init runs/spanbert-base \\
            --output runs/squad2 --set sequence_length=512 --export saved_models/spanbert-squad2/1
        spanbert-keras finetune squad --train SQuAD.jsonl.gz --dev NewsQA.jsonl.gz --init encoder.keras --vocab vocab.txt \\
            --output runs/mrqa --set epochs=2 --set options.doc_stride=64
        (run the same command again to resume an interrupted run; the last line printed is the dev metrics as JSON)
    """,
    "grid": """
        spanbert-keras grid squad --train train-v1.1.json --dev dev-v1.1.json --init runs/spanbert-base --output runs/squad-grid
        spanbert-keras grid tacred --train train.json --dev dev.json --init runs/spanbert-base --output runs/tacred-grid \\
            --learning-rates 2e-5,3e-5 --batch-sizes 32 --set epochs=5
        (Appendix B's grid by default: learning rates 5e-6,1e-5,2e-5,3e-5,5e-5 x batch sizes 16,32; one run
         directory per cell, e.g. runs/squad-grid/lr2e-05_batch32; the same command resumes the grid, skipping
         finished cells; several processes with the same --output share the cells out; every cell in
         GRID_DIR/grid.csv and grid.md; the last line printed is the best cell as JSON)
    """,
    "predict": """
        spanbert-keras predict --run runs/ner --input sentences.txt           # a sentence a line
        echo '{"question": "Who lived at Hartfield?", "context": "Emma lived at Hartfield."}' \\
            | spanbert-keras predict --run runs/squad --input -
        spanbert-keras predict --run runs/coref --input documents.jsonl --output clusters.jsonl
      (one answer a line, JSON, in the order of the inputs: the run's SavedModel signature,
       run here. An input line is a JSON object of the signature's inputs (e.g. question,
       context; text_a, text_b; tokens, subj_start, ...), a JSON list of them in order, or
       plain text for a model that takes one text)
    """,
    "evaluate-squad": """
        spanbert-keras evaluate --run runs/squad --dev dev-v1.1.json   (the same; this name goes in the next release)
    """,
    "vocab": """
        spanbert-keras vocab --corpus corpus/*.txt --output vocab.txt --size 28996
    """,
    "preview": """
        spanbert-keras preview --vocab runs/demo/vocab.txt --text "It is a truth universally acknowledged."
        spanbert-keras preview --run runs/demo --text "Emma Woodhouse, handsome, clever, and rich" --seed 3
    """,
    "pretrain": """
        spanbert-keras pretrain --config pipelines/configs/tiny.yaml --corpus my_text.txt --steps 500 --output runs/tiny
        spanbert-keras pretrain --config pipelines/configs/base.yaml --corpus 'shards/*.tfrecord' --output runs/base \\
            --set training.dtype_policy=mixed_bfloat16 --set data.batch_size=128
        (run the same command again to resume an interrupted run)
        TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}' \\
            spanbert-keras pretrain --config pipelines/configs/base.yaml --corpus 'shards/*.tfrecord' --output /shared/runs/base
        (the same on host2 with "index": 1; data.batch_size is the global batch)
    """,
    "evaluate": """
        spanbert-keras evaluate --run runs/tiny
        spanbert-keras evaluate --run runs/tiny --corpus held_out.txt --steps 50
        spanbert-keras evaluate --run runs/squad --dev dev-v1.1.json    (a fine-tuning run: its task's scores)
    """,
    "export": """
        spanbert-keras export --run runs/tiny --output saved_models/spanbert-tiny/1
        spanbert-keras export --run runs/tiny --output saved_models/spanbert-tiny/2 --tflite --quantization dynamic_range
    """,
    "import": """
        spanbert-keras import spanbert-base-cased --output runs/spanbert-base
        spanbert-keras import spanbert-large/model.pt --vocab spanbert-base-cased/vocab.txt --output runs/spanbert-large
        spanbert-keras pretrain --config runs/spanbert-base/config.yaml --corpus my_text.txt --steps 1000 --output runs/spanbert-base
        (CHECKPOINT: a directory with config.json, model.safetensors or pytorch_model.bin and vocab.txt;
         the authors' fairseq model.pt; or a keras-hub BERT preset)
    """,
    "convert": """
        spanbert-keras convert --run runs/tiny --to hf --output exported/spanbert-tiny-hf
        spanbert-keras convert --run runs/tiny --to keras-hub --output exported/spanbert-tiny-keras-hub
    """,
    "coref-jsonlines": """
        spanbert-keras coref-jsonlines dev.english.v4_gold_conll --output dev.english.384.jsonlines \\
            --vocab spanbert-base-cased/vocab.txt
        spanbert-keras coref-jsonlines train.english.v4_gold_conll --output train.english.512.jsonlines \\
            --init runs/spanbert-large --segment-length 512 --strict
        (one line a document, as the authors' minimize.py writes it: doc_key, sentences = segments of
         cased wordpieces [CLS] ... [SEP] cut at the last sentence end that fits, else the last word end,
         speakers ([SPL] for [CLS] / [SEP]), clusters of [start, end] subtoken indices (clusters sharing
         a mention merged), sentence_map, subtoken_map; no pronouns (no POS tags are read); read back by
         finetune coref; bad records are counted, named and skipped, --strict makes them errors; an
         output that is an input is refused; the last line printed counts what was written)
    """,
}


def _parser():
    parser = argparse.ArgumentParser(
        prog="spanbert-keras",
        description="SpanBERT pre-training, evaluation and export for Keras 3 / TensorFlow.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run `spanbert-keras COMMAND --help` for a command's options and examples.",
    )
    from spanbert_keras import __version__

    parser.add_argument("--version", action="version", version=f"spanbert-keras {__version__}",
                        help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's logs, and the traceback of a failure")

    def command(name, help_text):
        return commands.add_parser(
            name, help=help_text, description=help_text, parents=[common],
            epilog="examples:" + textwrap.dedent(EXAMPLES[name]),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    vocab = command("vocab", "Learn a cased WordPiece vocabulary (vocab.txt) from text files.")
    vocab.add_argument("--corpus", nargs="+", required=True, metavar="FILE",
                       help="UTF-8 text files (one sentence or paragraph a line)")
    vocab.add_argument("--output", required=True, metavar="VOCAB_TXT", help="the file to write")
    vocab.add_argument("--size", type=int, default=8000, help="wordpieces to learn (default 8000)")
    vocab.add_argument("--min-frequency", type=int, default=2,
                       help="the fewest occurrences of a merged piece (default 2)")

    preview = command("preview", "Show how a text gets span-masked (and, with a checkpoint, predicted).")
    source = preview.add_mutually_exclusive_group(required=True)
    _run_option(source, "a run directory (vocabulary, masking, model)")
    source.add_argument("--vocab", metavar="VOCAB_TXT", help="a vocabulary file (masking only)")
    preview.add_argument("--text", required=True, help="the text to mask")
    preview.add_argument("--seed", type=int, default=0, help="the masking seed (default 0)")
    preview.add_argument("--scheme", choices=("span", "whole_word", "token"),
                         help="the masking scheme (default: the run's, else span)")
    preview.add_argument("--no-color", action="store_true", help="plain text instead of ANSI colours")

    pretrain = command("pretrain", "Pre-train (or resume) a SpanBERT model from a YAML config.")
    pretrain.add_argument("--config", required=True, metavar="YAML",
                          help="the run's config (pipelines/configs/*.yaml, or a run's config.yaml)")
    pretrain.add_argument("--corpus", nargs="+", metavar="FILE",
                          help="text files / TFRecord shards (default: the config's data.corpus)")
    pretrain.add_argument("--steps", type=int, help="override training.steps")
    pretrain.add_argument("--output", required=True, metavar="DIR", help="the run directory")
    pretrain.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                          help="override any config value (repeatable)")
    _strategy_option(pretrain)

    evaluate = command("evaluate", "Held-out MLM / SBO loss and accuracy of a run, or a "
                                   "fine-tuning run's scores on --dev (last line: JSON).")
    _run_option(evaluate, "a run directory (pretrain's, import's or a fine-tuning run)",
                required=True)
    evaluate.add_argument("--dev", metavar="FILE",
                          help="for a fine-tuning run: the task's file to score")
    evaluate.add_argument("--strict", action="store_true",
                          help="with --dev: a bad record is an error")
    evaluate.add_argument("--corpus", nargs="+", metavar="FILE",
                          help="evaluate on these files (default: the run's validation split)")
    evaluate.add_argument("--steps", type=int, help="the most batches to evaluate")

    export = command("export", "Export a run as a SavedModel for TF Serving (and a TFLite file).")
    _run_option(export, "a run directory (pretrain's, import's or a fine-tuning run: its task's "
                        "strings-in SavedModel)", required=True)
    export.add_argument("--output", required=True, metavar="saved_models/NAME/VERSION",
                        help="the version directory (VERSION an integer, as TF Serving expects)")
    export.add_argument("--tflite", action="store_true", help="also write NAME.tflite (encode signature)")
    export.add_argument("--quantization", choices=("none", "dynamic_range", "float16"), default="none",
                        help="TFLite weights: float32 (none, the default), int8 or float16")
    export.add_argument("--include-masker", action="store_true",
                        help="add the `mask_and_score` signature (the span masker in the graph)")
    export.add_argument("--sequence-length", type=int, metavar="N",
                        help="pack text inputs to N pieces, up to the encoder's position table "
                             "(default: the run's training length; longer inputs are cut and "
                             "flagged `truncated`)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace an existing version (and TFLite file)")

    imported = command("import", "Start a run directory from BERT / SpanBERT weights "
                                 "(Hugging Face, the authors' fairseq model.pt, keras-hub).")
    imported.add_argument("checkpoint", metavar="CHECKPOINT",
                          help="a checkpoint directory, or its .safetensors / .bin / .pt file")
    imported.add_argument("--output", required=True, metavar="DIR", help="the run directory to create")
    imported.add_argument("--vocab", metavar="VOCAB_TXT",
                          help="the vocabulary, when there is no vocab.txt beside the checkpoint")
    imported.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    imported.add_argument("--task", choices=("squad", "squad2", "tacred"),
                          help="the checkpoint is one of the authors' fine-tuned models "
                               "(download_finetuned.sh's names): write a fine-tuning run directory")
    imported.add_argument("--train", metavar="FILE",
                          help="with --task tacred: the train.json it was trained on (label ids)")
    imported.add_argument("--dev", metavar="FILE",
                          help="with --task tacred: its dev.json (entity markers); with squad / "
                               "squad2: a dev file to score (squad2: sets the no-answer threshold)")
    imported.add_argument("--strict", action="store_true",
                          help="a bad record in --train / --dev is an error")

    convert = command("convert", "Write a run's model for transformers (hf) or keras-hub.")
    _run_option(convert, "a run directory (pretrain's or import's)", positional=True)
    convert.add_argument("--to", required=True, choices=("hf", "keras-hub"),
                         help="transformers' BertForPreTraining layout (hf) or a keras-hub preset")
    convert.add_argument("--output", required=True, metavar="OUT_DIR", help="the directory to create")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")

    coref_jsonlines = command("coref-jsonlines", "Write coreference files (CoNLL-2012 or "
                                                 "jsonlines) as the authors' jsonlines "
                                                 "(minimize.py's segments of wordpieces).")
    coref_jsonlines.add_argument("inputs", nargs="+", metavar="INPUT",
                                 help="CoNLL-2012 *_conll or jsonlines files (told by content)")
    coref_jsonlines.add_argument("--output", required=True, metavar="OUT_JSONLINES",
                                 help="the file to write (never one of the inputs)")
    pieces = coref_jsonlines.add_mutually_exclusive_group(required=True)
    pieces.add_argument("--vocab", metavar="VOCAB_TXT", help="the vocabulary to cut words with")
    pieces.add_argument("--init", metavar="PATH",
                        help="take the vocab.txt of a run directory or checkpoint (in it, or "
                             "beside a file), or of a built-in preset (austen-tiny)")
    coref_jsonlines.add_argument("--segment-length", type=int, default=384, metavar="N",
                                 help="the most pieces of a segment with [CLS] and [SEP] "
                                      "(default 384, the authors' base models; 512 for large)")
    coref_jsonlines.add_argument("--strict", action="store_true",
                                 help="a bad record is an error (default: counted, named and "
                                      "skipped)")

    finetune = command("finetune", "Fine-tune an encoder on a task; the last line printed is the "
                                   "dev metrics as JSON.")
    _finetuning_arguments(finetune, dev_help="the data to score (during training too)",
                          output_help="the run directory")
    finetune.add_argument("--export", metavar="saved_models/NAME/VERSION",
                          help="also export the model as a SavedModel for TF Serving")
    finetune.add_argument("--overwrite", action="store_true", help="replace an existing export version")
    _strategy_option(finetune)

    predict = command("predict", "Answers of a fine-tuned run for unlabelled inputs "
                                 "(JSON lines or text lines in, JSON lines out).")
    _run_option(predict, "a finished fine-tuning run directory", positional=True)
    predict.add_argument("--input", required=True, metavar="FILE",
                         help="the inputs, one a line ('-': standard input)")
    predict.add_argument("--output", default="-", metavar="FILE",
                         help="where the answers go (default '-': standard output)")
    predict.add_argument("--batch-size", type=int, default=32, help="inputs per call")

    grid = command("grid", "Fine-tune once per learning rate and batch size (the paper's grid) and "
                           "report the best cell by the dev metric (last line: JSON).")
    _finetuning_arguments(grid, dev_help="the dev data (scored during training; it chooses the "
                                         "best cell)",
                          output_help="the grid's directory: a run directory per cell and the "
                                      "tables",
                          shared=" every cell shares (the grid sets learning_rate and batch_size)")
    grid.add_argument("--learning-rates", default="5e-6,1e-5,2e-5,3e-5,5e-5", metavar="LR,LR,...",
                      help="comma-separated learning rates (default: Appendix B's "
                           "5e-6,1e-5,2e-5,3e-5,5e-5)")
    grid.add_argument("--batch-sizes", default="16,32", metavar="N,N,...",
                      help="comma-separated batch sizes (default: Appendix B's 16,32)")
    _strategy_option(grid)

    evaluate_squad = command("evaluate-squad", "The former name of `evaluate --run RUN --dev FILE` "
                                               "(which scores every task); goes in the next "
                                               "release.")
    _run_option(evaluate_squad, "a fine-tuning run directory", required=True, old="--model")
    evaluate_squad.add_argument("--dev", required=True, metavar="FILE", help="the data to score")
    evaluate_squad.add_argument("--strict", action="store_true", help="a bad record is an error")
    return parser


class _OldSpelling(argparse.Action):
    """Stores an option under its new name; its old spelling works, with a note (one release)."""

    def __init__(self, option_strings, dest, new, **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string != self.new:
            _old_spelling_note(f"`{option_string} DIR`", f"`{self.new} DIR`")
        setattr(namespace, self.dest, values)


def _old_spelling_note(old, new):
    print(f"note: {old} is now {new}; the old spelling goes in the next release.",
          file=sys.stderr, flush=True)


def _run_option(parser, help_text, required=False, positional=False, old="--checkpoint"):
    """`--run DIR`, the run directory a command reads (`old` and, if `positional`, a bare
    DIR still work: `_resolve_run`)."""
    parser.add_argument("--run", old, dest="run", metavar="DIR", help=help_text,
                        required=required and not positional, action=_OldSpelling, new="--run")
    if positional:
        parser.add_argument("run_positional", nargs="?", help=argparse.SUPPRESS)


def _resolve_run(parser, args):
    """The run of a command whose run used to be positional (`convert RUN`, `predict RUN`)."""
    if not hasattr(args, "run_positional"):
        return
    if args.run_positional is not None:
        if args.run is not None:
            parser.error(f"give the run directory once: --run {args.run}")
        _old_spelling_note(f"`spanbert-keras {args.command} DIR`",
                           f"`spanbert-keras {args.command} --run DIR`")
        args.run = args.run_positional
    if args.run is None:
        parser.error(f"spanbert-keras {args.command}: the following arguments are required: --run")


def _finetuning_arguments(parser, dev_help, output_help, shared=""):
    """The arguments `finetune` and `grid` share: the task, its files, the encoder, the settings."""
    from spanbert_keras.tasks import TASK_NAMES

    parser.add_argument("task", choices=TASK_NAMES, help="the task")
    parser.add_argument("--train", required=True, metavar="FILE", help="the training data")
    parser.add_argument("--dev", required=True, metavar="FILE", help=dev_help)
    parser.add_argument("--init", required=True, metavar="PATH",
                        help="a pretrain / import run directory, a .keras encoder or model, "
                             "a released checkpoint, or a built-in preset's name (austen-tiny)")
    parser.add_argument("--output", required=True, metavar="DIR", help=output_help)
    parser.add_argument("--vocab", metavar="VOCAB_TXT",
                        help="the vocabulary of a .keras --init (default: vocab.txt beside it)")
    parser.add_argument("--config", metavar="YAML",
                        help=f"fine-tuning settings{shared} (FinetuneConfig fields)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting (epochs=2, eval_per_epoch=5, "
                             "options.doc_stride=64); repeatable")
    parser.add_argument("--version-2", action="store_true",
                        help="squad: SQuAD v2.0, with unanswerable questions")
    parser.add_argument("--strict", action="store_true",
                        help="a bad record is an error (default: counted, named and skipped)")


def _strategy_option(parser):
    from spanbert_keras.training.distribute import STRATEGIES

    parser.add_argument(
        "--strategy", choices=STRATEGIES, default="auto",
        help="where to train (tf.distribute): auto (the default) = the cluster of TF_CONFIG "
             "when it names several workers, else every GPU of this machine when there are "
             "several, else one device; one_device; mirrored (this machine's GPUs); "
             "multi_worker (TF_CONFIG's cluster); tpu (TPU_NAME, default local)")


def _vocab(args):
    from spanbert_keras.data.vocabulary import build_vocabulary

    vocabulary = build_vocabulary(args.corpus, vocab_size=args.size, min_frequency=args.min_frequency,
                                  show_progress=sys.stdout.isatty())
    vocabulary.save(args.output)
    print(f"Wrote {vocabulary.size} wordpieces to {args.output}. Pre-train with it: spanbert-keras "
          f"pretrain --config CONFIG.yaml --corpus FILE... --output DIR "
          f"--set data.vocabulary={args.output}")


def _preview(args):
    from spanbert_keras.config import MaskingConfig
    from spanbert_keras.config import ModelConfig
    from spanbert_keras.preview import mask_text
    from spanbert_keras.preview import render

    model, predictions = None, None
    if args.run:
        from spanbert_keras.training.pretrain import load_pretraining_run
        from spanbert_keras.training.pretrain import replacement_counts_of

        model, vocabulary, config = load_pretraining_run(args.run)
        masking, max_len = config.masking, config.data.sequence_length
        pair_targets = config.model.max_pair_targets
        counts = replacement_counts_of(args.run, config, vocabulary)
    else:
        from spanbert_keras.data.vocabulary import load_vocabulary

        # No corpus to count: the random tokens of the preview are uniform.
        vocabulary, max_len, counts = load_vocabulary(args.vocab), 512, None
        pair_targets = ModelConfig().max_pair_targets
        masking = MaskingConfig(random_token_distribution="uniform")
    if args.scheme:
        masking.scheme = args.scheme
    tokenizer, batch, truncated = mask_text(args.text, vocabulary, max_len, args.seed, masking,
                                            replacement_counts=counts,
                                            max_pair_targets=pair_targets)
    if model is not None:
        from keras import ops

        from spanbert_keras.losses import top_k_log_probs

        outputs = model({k: batch[k] for k in ("token_ids", "padding_mask", "segment_ids",
                                               "mask_positions", "span_boundaries", "span_offsets")})
        predictions = {f"{h}_top_ids": ops.convert_to_numpy(top_k_log_probs(outputs[f"{h}_logits"], 5)[1])
                       for h in ("mlm", "sbo")}
    if truncated:
        print(f"(the text was truncated to {max_len} tokens)")
    print(render(tokenizer, batch, predictions, color=not args.no_color and sys.stdout.isatty()))


def _pretrain(args):
    from spanbert_keras.config import apply_overrides
    from spanbert_keras.config import load_config
    from spanbert_keras.training.pretrain import run_pretraining

    config = apply_overrides(load_config(args.config), args.set)
    run_pretraining(config, args.output, corpus=args.corpus, steps=args.steps,
                    log=lambda message: print(message, flush=True), strategy=args.strategy)
    print(f"Next: spanbert-keras evaluate --run {args.output}; spanbert-keras export "
          f"--run {args.output} --output saved_models/NAME/1; spanbert-keras finetune "
          f"TASK --init {args.output} ...", flush=True)


def _evaluate(args):
    from spanbert_keras.finetuning.runner import evaluate_finetuned
    from spanbert_keras.finetuning.runner import is_finetuning_run
    from spanbert_keras.training.pretrain import evaluate_run

    if is_finetuning_run(args.run):
        if args.dev is None or args.corpus or args.steps is not None:
            raise ValueError(f"{args.run} is a fine-tuning run: score it with --dev FILE "
                             "(--corpus and --steps evaluate pre-training runs).")
        _print_metrics(evaluate_finetuned(args.run, args.dev, strict=args.strict,
                                          log=lambda message: print(message, flush=True)))
        return
    if args.dev is not None:
        raise ValueError(f"--dev scores fine-tuning runs; {args.run} is not one "
                         "(evaluate it with --corpus, or on its own held-out split).")
    results = evaluate_run(args.run, corpus=args.corpus, steps=args.steps)
    print(json.dumps({k: round(v, 6) for k, v in results.items()}, sort_keys=True))


def _export(args):
    from spanbert_keras.export.archive import version_dirs
    from spanbert_keras.export.bundle import check_bundle_free
    from spanbert_keras.export.bundle import export_bundle
    from spanbert_keras.files import check_outside_inputs
    from spanbert_keras.finetuning.runner import export_finetuned
    from spanbert_keras.finetuning.runner import is_finetuning_run
    from spanbert_keras.training.pretrain import load_pretraining_run

    for output in version_dirs(args.output):  # an export never replaces what it reads
        check_outside_inputs(output, [args.run])
    if is_finetuning_run(args.run):
        if args.tflite or args.include_masker or args.sequence_length:
            raise ValueError("--tflite, --include-masker and --sequence-length export "
                             f"pre-training runs; {args.run} is a fine-tuning run (its "
                             "length is its sequence_length setting).")
        export_finetuned(args.run, args.output, overwrite=args.overwrite,
                         log=lambda message: print(message, flush=True))
        return
    quantization = None if args.quantization == "none" else args.quantization
    check_bundle_free(args.output, args.tflite, quantization, args.overwrite)  # before any work
    model, vocabulary, config = load_pretraining_run(args.run)
    counts = None  # the masker saved with the model holds the run's counts
    if args.include_masker and model.preprocessor.masker is None:  # not counted yet
        from spanbert_keras.training.pretrain import replacement_counts_of

        counts = replacement_counts_of(args.run, config, vocabulary)
    export_bundle(
        model, vocabulary, args.output, config=config, tflite=args.tflite,
        quantization=quantization,
        include_masker=args.include_masker, overwrite=args.overwrite,
        replacement_counts=counts, sequence_length=args.sequence_length,
        log=lambda message: print(message, flush=True),
    )


def _import(args):
    from spanbert_keras.checkpoints import import_checkpoint
    from spanbert_keras.finetuning.released import import_finetuned

    log = lambda message: print(message, flush=True)  # noqa: E731
    if args.task is None and (args.train or args.dev):
        raise ValueError("--train and --dev go with --task (a fine-tuned checkpoint).")
    try:
        if args.task is not None:
            metrics = import_finetuned(
                args.checkpoint, args.task, args.output, train_file=args.train,
                dev_file=args.dev, vocabulary=args.vocab, overwrite=args.overwrite,
                strict=args.strict, log=log)
            if metrics:
                _print_metrics(metrics)
        else:
            import_checkpoint(args.checkpoint, args.output, vocabulary=args.vocab,
                              overwrite=args.overwrite, log=log)
    except ImportError as error:  # a .bin / .pt without PyTorch: the message names the extra
        raise ValueError(str(error)) from None


def _convert(args):
    from spanbert_keras.checkpoints import convert_run

    convert_run(args.run, args.to, args.output, overwrite=args.overwrite,
                log=lambda message: print(message, flush=True))


def _init_vocabulary_file(init):
    """The `vocab.txt` of `--init`: in a run directory, checkpoint folder or built-in preset, or
    beside a file."""
    from spanbert_keras.resources.presets import resolve_preset
    from spanbert_keras.run_layout import RunDirectory

    path = resolve_preset(init)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--init not found: {init}")
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    vocab_file = os.path.join(folder, RunDirectory.VOCAB_FILE)
    if not os.path.isfile(vocab_file):
        raise FileNotFoundError(f"No {RunDirectory.VOCAB_FILE} in {folder} (--init {init}): "
                                "pass --vocab VOCAB_TXT.")
    return vocab_file


def _coref_jsonlines(args):
    from spanbert_keras.data.bad_records import summarize
    from spanbert_keras.data.coref_jsonlines import write_coref_jsonlines
    from spanbert_keras.data.coref_reader import read_coref
    from spanbert_keras.data.vocabulary import load_vocabulary
    from spanbert_keras.files import check_outside_inputs
    from spanbert_keras.training.checkpointing import run_vocabulary

    vocab_file = args.vocab or _init_vocabulary_file(args.init)
    check_outside_inputs(args.output, [*args.inputs, vocab_file])  # before any work
    if args.segment_length < 3:
        raise ValueError(f"--segment-length must be at least 3 ([CLS], a piece, [SEP]). "
                         f"Received: {args.segment_length}")
    # A run's vocab.txt is checked against the fingerprint the run recorded.
    vocabulary = (load_vocabulary(vocab_file) if args.vocab
                  else run_vocabulary(os.path.dirname(vocab_file)))
    documents, seen, skipped = [], {}, 0
    for path in args.inputs:
        read, problems = read_coref(path, strict=args.strict)
        for document in read:
            if document["id"] in seen:
                message = (f"{document['where']}: document {document['id']} was read before "
                           f"({seen[document['id']]}); skipped")
                if args.strict:
                    raise ValueError(message)
                problems.append(message)
                continue
            seen[document["id"]] = document["where"]
            documents.append(document)
        if problems:
            skipped += len(problems)
            print(summarize(problems, f"bad record(s) skipped in {path} (--strict makes them "
                                      "errors)"), flush=True)
    if not documents:
        raise ValueError(f"No usable document in {', '.join(args.inputs)}.")
    write_coref_jsonlines(documents, vocabulary, args.output, args.segment_length)
    segments = mentions = 0
    with open(args.output, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            segments += len(record["sentences"])
            mentions += sum(len(cluster) for cluster in record["clusters"])
    print(f"Wrote {len(documents):,} documents ({segments:,} segments of at most "
          f"{args.segment_length} pieces, {mentions:,} mentions) to {args.output}; {skipped:,} bad "
          "record(s) skipped.", flush=True)


COMMANDS = {"vocab": _vocab, "preview": _preview, "pretrain": _pretrain,
            "evaluate": _evaluate, "export": _export, "import": _import, "convert": _convert,
            "coref-jsonlines": _coref_jsonlines}


def _print_metrics(metrics):
    print(json.dumps({k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()},
                     sort_keys=True))


def _finetune_settings(args):
    """The settings of `--config`, `--set` and `--version-2` (a dict, checked).

    The defaults follow the options, the training file (CoLA's epochs,
    MRQA's evaluations) and the encoder's size, so the runner applies them.
    """
    from spanbert_keras.config import finetune_overrides
    from spanbert_keras.config import read_yaml_mapping
    from spanbert_keras.tasks import get_task
    from spanbert_keras.tasks.base import finetune_config

    task = get_task(args.task)
    values = read_yaml_mapping(args.config, "FinetuneConfig fields") if args.config else {}
    overrides = list(args.set)
    if args.version_2:
        if args.task != "squad":
            raise ValueError(f"--version-2 is an option of squad, not of {args.task}.")
        overrides.append("options.version_2=true")
    values = finetune_overrides(values or {}, overrides)
    # Checked now (a bad value exits 2 before any work); the runner applies the defaults,
    # which also follow the encoder's size (a small encoder's recipe).
    finetune_config(values, task, source=args.config or "--set", train_file=args.train)
    return values


def _finetune(args):
    from spanbert_keras.finetuning.runner import run_finetuning

    config = _finetune_settings(args)
    metrics = run_finetuning(
        args.task, config, args.train, args.dev, args.init, args.output, strict=args.strict,
        vocab=args.vocab, export_dir=args.export, overwrite_export=args.overwrite,
        log=lambda message: print(message, flush=True), strategy=args.strategy,
    )
    print(f"Run directory: {args.output}; re-score it with: spanbert-keras evaluate --run "
          f"{args.output} --dev FILE", flush=True)
    _print_metrics(metrics)


def _predict_inputs(path):
    """The inputs of `predict`: each line a JSON object / list, or plain text."""
    from spanbert_keras.files import check_text
    from spanbert_keras.files import parse_json

    if path != "-":
        check_text(path)
    name = "standard input" if path == "-" else path
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8-sig")
    try:
        inputs = []
        for number, line in enumerate(stream, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            if text.lstrip()[:1] in "{[":
                value = parse_json(text, name, line=number)
                inputs.append(tuple(value) if isinstance(value, list) else value)
            else:
                inputs.append(text)
        return inputs, name
    finally:
        if stream is not sys.stdin:
            stream.close()


def _predict(args):
    from spanbert_keras.files import atomic_write
    from spanbert_keras.files import check_outside_inputs
    from spanbert_keras.finetuning.pipeline import pipeline

    if args.output != "-":
        check_outside_inputs(args.output, [args.input, args.run])
    inputs, name = _predict_inputs(args.input)
    tasker = pipeline(args.run, batch_size=args.batch_size)
    for number, item in enumerate(inputs, start=1):
        try:
            tasker.named(item, number)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    answers = tasker(inputs)
    lines = "".join(json.dumps(answer, ensure_ascii=False) + "\n" for answer in answers)
    if args.output == "-":
        sys.stdout.write(lines)
    else:
        atomic_write(args.output, lambda f: f.write(lines))
        print(f"{len(answers):,} answers of the {tasker.task} model of {args.run}: "
              f"{args.output}", flush=True)


def _evaluate_squad(args):
    from spanbert_keras.finetuning.runner import evaluate_finetuned

    _old_spelling_note("`spanbert-keras evaluate-squad --model DIR --dev FILE`",
                       "`spanbert-keras evaluate --run DIR --dev FILE` (it scores every task)")
    _print_metrics(evaluate_finetuned(args.run, args.dev, strict=args.strict,
                                      log=lambda message: print(message, flush=True)))


def _grid(args):
    from spanbert_keras.finetuning.grid import check_values
    from spanbert_keras.finetuning.grid import run_grid

    learning_rates = check_values(args.learning_rates, float, "--learning-rates")
    batch_sizes = check_values(args.batch_sizes, int, "--batch-sizes")
    for item in args.set:
        key = item.partition("=")[0].strip()
        if key in ("learning_rate", "batch_size"):
            option = "--learning-rates" if key == "learning_rate" else "--batch-sizes"
            raise ValueError(f"--set {item}: the grid sets {key} of each cell; use {option}.")
    config = _finetune_settings(args)
    result = run_grid(args.task, config, args.train, args.dev, args.init, args.output,
                      learning_rates=learning_rates, batch_sizes=batch_sizes, strict=args.strict,
                      vocab=args.vocab, log=lambda message: print(message, flush=True),
                      strategy=args.strategy)
    best = result["best"] or {"cell": None, "metrics": {}}
    summary = {k: round(v, 6) if isinstance(v, float) else v for k, v in best["metrics"].items()}
    summary.update(best=best["cell"], metric=result["metric"], table=result["csv"])
    if best["cell"] is not None:
        summary.update(learning_rate=best["learning_rate"], batch_size=best["batch_size"],
                       best_epoch=best["best_epoch"])
    print(json.dumps(summary, sort_keys=True), flush=True)


COMMANDS.update({"finetune": _finetune, "evaluate-squad": _evaluate_squad, "grid": _grid,
                 "predict": _predict})


def _work(args):
    if getattr(args, "config", None):  # read, and refused, before TensorFlow loads
        read_yaml(args.config)
    for weights in (getattr(args, "checkpoint", None), getattr(args, "init", None)):  # import's
        if isinstance(weights, str):  # a lying config.json, refused before TensorFlow loads
            check_safetensors_directory(weights)
    if args.command != "vocab":  # the one command that needs no TensorFlow
        quiet_tensorflow(args.verbose)
    COMMANDS[args.command](args)


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    _resolve_run(parser, args)
    return run_command(f"spanbert-keras {args.command}", lambda: _work(args),
                       verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
