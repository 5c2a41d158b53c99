"""Coreference: documents per second of `SpanBertCoreference`, trained and resolving, with the split.

One document a step, as the `coref` task trains and predicts. The documents
are the synthetic corpus of the tests (`tests/coref_data.py`: real sentences
of the shipped Austen text with planted people), read by the task's own
pipeline (`get_task("coref").dataset`: `CorefFeatures`, the shipped
`austen-tiny` wordpiece vocabulary) into segments of `--segment-length`
pieces (384, the authors' value for SpanBERT base); by default 50-75
sentences a document (the first four: 565-719 words, 648-802 pieces, 2-3
segments, about 5,000 candidate spans, 260-320 kept), so the training
cut to `max_training_segments` (3) keeps every document whole and training
and inference read the same documents. The scorer has the task's defaults
(the authors': spans up to 30 pieces, FFNNs of 3000, 0.4 spans a piece, 50
antecedents, `coref_depth` 2) unless `--ffnn-size` says otherwise; the
encoder is a randomly initialised `SpanBertBackbone` of the preset's shape
(`tiny`: 2 layers, hidden 128; `base`: 12 layers, hidden 768, 12 heads,
3072), dropout 0.1, float32, no XLA (the pruning is a `tf.while_loop` with
dynamic shapes).

Measured, each after one warm-up pass over the documents (tracing and the
first runs are excluded), as the median over `--repeats` passes of each
document's time:

- training: `model.train_function` (the compiled step `fit` runs) on an
  iterator over the task's training pipeline (cached after the warm-up pass),
  compiled with the task's optimiser (`finetune_optimizer` with the two
  learning rates): forward, loss, backward, clipping, AdamW + Adam updates;
- inference: `model(x, training=False)` and `predicted_clusters` in one
  `tf.function`;
- the forward split, each part its own `tf.function` on the same inputs
  (forward only, `training=False`; the backward pass is not split): the
  encoder (the backbone on the segments, the pieces gathered), span scoring
  (candidate spans, span vectors, mention scores, greedy non-crossing
  pruning), antecedents (coarse scores and top-k, pair features, fine
  scores, the gated refinement) and the decoding: the scorer's own
  `score_spans` and `score_antecedents`, checked in the run to give the
  scorer's outputs;
- the peer: `transformers`' `BertModel` of the same shape (a `BertConfig`,
  random weights, nothing downloaded, dropout 0.1, the same thread count)
  on the same segments, forward (eval mode, `torch.inference_mode`) against
  our encoder forward, and forward + backward of the sum of the sequence
  output (train mode, dropout on) against ours; PyTorch's OpenMP workers
  wait passively (`OMP_WAIT_POLICY=PASSIVE` unless set: spinning workers
  stall on a machine shared with another process). Ours and the peer's runs
  alternate document by document, so that other load on the machine falls
  on both alike; the ratio is ours / peer (above 1: ours slower).

Not measured: the input pipeline on its own (its tokenisation runs before
the cache), evaluation (scoring against the gold clusters), the export,
GPU, mixed precision.

    python benchmarks/coref.py                          # tiny, 4 documents, 3 passes (~4 min)
    python benchmarks/coref.py --shape base             # base, 2 documents, 2 passes (~12 min)
    python benchmarks/coref.py --shape tiny base        # both, as the saved results
    python benchmarks/coref.py --documents 2 --repeats 1 --no-save   # a quick check

Each shape's results replace that shape's entry in
`benchmarks/results/coref.json` (with the CPU count, the thread count, the
load average before and after and the package versions).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# PyTorch's OpenMP workers spin while they wait; on a machine another process also uses, a
# spinning worker that loses its core stalls every parallel region (the peer's forward at the
# tiny shape took 10-20 times longer). Passive waiting, as TensorFlow's thread pool waits.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "coref.json")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from coref_data import coref_documents  # noqa: E402
from results_file import merge_results  # noqa: E402
from results_file import package_versions  # noqa: E402

from spanbert_keras.config import ModelConfig  # noqa: E402
from spanbert_keras.data.features import MODEL_INPUTS  # noqa: E402
from spanbert_keras.data.vocabulary import load_vocabulary  # noqa: E402
from spanbert_keras.finetuning.runner import finetune_optimizer  # noqa: E402
from spanbert_keras.layers.coreference_scorer import candidate_spans  # noqa: E402
from spanbert_keras.layers.coreference_scorer import predicted_clusters  # noqa: E402
from spanbert_keras.models.backbone import build_backbone  # noqa: E402
from spanbert_keras.resources.presets import resolve_preset  # noqa: E402
from spanbert_keras.tasks import get_task  # noqa: E402
from spanbert_keras.tasks.base import finetune_config  # noqa: E402

SHAPE_DEFAULTS = {  # documents, repeats
    "tiny": (4, 3),
    "base": (2, 2),
}
PACKAGES = ("tensorflow", "keras", "keras-hub", "torch", "transformers", "numpy")
PARTS = ("encoder", "span_scoring", "antecedents", "decoding")


def timed(function, *args):
    """Seconds of one call (TensorFlow and PyTorch CPU calls return when done)."""
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def spec_of(value):
    return tf.TensorSpec([None] * len(value.shape), value.dtype)


def build(shape, args):
    task = get_task("coref")
    options = {} if args.ffnn_size is None else {"ffnn_size": args.ffnn_size}
    config = finetune_config({"sequence_length": args.segment_length, "options": options}, task)
    vocabulary = load_vocabulary(os.path.join(resolve_preset("austen-tiny"), "vocab.txt"))
    info = task.prepare([], vocabulary, config)
    keras.utils.set_random_seed(args.seed)
    model_config = ModelConfig.from_size(shape, dropout=config.dropout,
                                           max_sequence_length=max(512, args.segment_length))
    backbone = build_backbone(model_config, vocabulary.size, sequence_length=args.segment_length,
                              dtype=config.dtype_policy)
    model = task.build_model(backbone, info, config)
    optimizer = finetune_optimizer(config, 1000, task.task_learning_rate(info, config, model))
    model.compile(optimizer=optimizer, jit_compile=False, **task.compile_args(info, config))
    torch.manual_seed(args.seed)
    peer = transformers.BertModel(transformers.BertConfig(
        vocab_size=vocabulary.size, hidden_size=model_config.hidden_dim,
        num_hidden_layers=model_config.num_layers, num_attention_heads=model_config.num_heads,
        intermediate_size=model_config.intermediate_dim, hidden_act="gelu",
        hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=model_config.max_sequence_length, type_vocab_size=2,
        layer_norm_eps=1e-12))
    return task, config, vocabulary, info, model_config, model, peer


def measure(shape, args):
    documents, repeats = SHAPE_DEFAULTS[shape]
    documents = args.documents or documents
    repeats = args.repeats or repeats
    load_before = os.getloadavg()
    task, config, vocabulary, info, model_config, model, peer = build(shape, args)
    examples = coref_documents(documents, "train", seed=args.seed,
                               sentences_per_document=tuple(args.sentences))
    whole = list(task.dataset(examples, vocabulary, info, config, training=False))
    options = task._options(info)
    segments = [int(x["token_ids"].shape[0]) for x, _ in whole]
    if max(segments) > options.max_training_segments:
        print(f"note: documents of up to {max(segments)} segments; training cuts them to "
              f"{options.max_training_segments}")
    x_spec = {k: spec_of(v) for k, v in whole[0][0].items()}
    encoder_spec = {k: x_spec[k] for k in MODEL_INPUTS}
    scorer = model.scorer
    backbone = model.backbone

    @tf.function(input_signature=[x_spec])
    def resolve(x):
        return predicted_clusters(model(x, training=False))

    @tf.function(input_signature=[x_spec])
    def encode(x):
        encoded = backbone({k: x[k] for k in MODEL_INPUTS}, training=False)["sequence_output"]
        return tf.gather(tf.reshape(encoded, [-1, backbone.hidden_dim]), x["piece_positions"])

    @tf.function(input_signature=[encoder_spec])
    def encoder_forward(x):
        return backbone(x, training=False)["sequence_output"]

    @tf.function(input_signature=[encoder_spec])
    def encoder_backward(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(backbone(x, training=True)["sequence_output"])
        return tape.gradient(loss, backbone.trainable_variables)

    @tf.function(reduce_retracing=True)
    def spans(pieces, sentence_ids):
        return scorer.score_spans(pieces, sentence_ids, training=False)

    @tf.function(reduce_retracing=True)
    def antecedents(top, speaker_ids, segment_ids, genre):
        return scorer.score_antecedents(top, speaker_ids, segment_ids, genre, training=False)

    @tf.function(reduce_retracing=True)
    def decode(outputs):
        return predicted_clusters(outputs)

    # Each part's inputs, computed once; the split checked against the scorer.
    inputs, sizes = [], []
    for x, _ in whole:
        pieces = encode(x)
        top = spans(pieces, x["sentence_ids"])
        outputs = antecedents(top, x["speaker_ids"], x["piece_segments"], x["genre"])
        expected = scorer(pieces, x["sentence_ids"], x["speaker_ids"], x["piece_segments"],
                          x["genre"], training=False)
        for key in expected:
            np.testing.assert_allclose(outputs[key].numpy(), expected[key].numpy(),
                                       rtol=1e-4, atol=1e-4, err_msg=key)
        torch_x = {"input_ids": torch.from_numpy(x["token_ids"].numpy()).long(),
                   "token_type_ids": torch.from_numpy(x["segment_ids"].numpy()).long(),
                   "attention_mask": torch.from_numpy(x["padding_mask"].numpy()).long()}
        inputs.append((x, pieces, top, outputs, torch_x))
        kept, width = outputs["top_antecedent_scores"].shape
        sizes.append({"words": sum(len(s) for s in examples[len(sizes)]["sentences"]),
                      "pieces": int(pieces.shape[0]), "segments": int(x["token_ids"].shape[0]),
                      "candidate_spans": int(tf.size(candidate_spans(
                          x["sentence_ids"], scorer.max_span_width)[0])), "kept_spans": int(kept),
                      "antecedents": int(width) - 1})

    def peer_forward(torch_x):
        peer.eval()
        with torch.inference_mode():
            peer(**torch_x).last_hidden_state.sum().item()

    def peer_backward(torch_x):
        peer.train()
        peer(**torch_x).last_hidden_state.sum().backward()
        peer.zero_grad(set_to_none=True)

    def encoder_only(x):
        return {k: x[k] for k in MODEL_INPUTS}

    runs = {
        "inference": lambda i: resolve(inputs[i][0]),
        "encoder": lambda i: encode(inputs[i][0]),
        "span_scoring": lambda i: spans(inputs[i][1], inputs[i][0]["sentence_ids"]),
        "antecedents": lambda i: antecedents(inputs[i][2], inputs[i][0]["speaker_ids"],
                                             inputs[i][0]["piece_segments"],
                                             inputs[i][0]["genre"]),
        "decoding": lambda i: decode(inputs[i][3]),
        "encoder_forward": lambda i: encoder_forward(encoder_only(inputs[i][0])),
        "peer_forward": lambda i: peer_forward(inputs[i][4]),
        "encoder_forward_backward": lambda i: encoder_backward(encoder_only(inputs[i][0])),
        "peer_forward_backward": lambda i: peer_backward(inputs[i][4]),
    }
    names = list(runs)
    times = {name: [[] for _ in whole] for name in names}
    print(f"{shape}: {len(whole)} documents, {repeats} timed passes after 1 warm-up pass",
          flush=True)
    for round_index in range(1 + repeats):
        for i in range(len(whole)):
            shift = (round_index + i) % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed = timed(runs[name], i)
                if round_index:
                    times[name][i].append(elapsed)

    # Training: the step `fit` runs, fed by the task's training pipeline (cached after the
    # warm-up pass, so each pass has the same order).
    dataset = task.dataset(examples, vocabulary, info, config, training=True)
    iterator = iter(dataset.cache().repeat().prefetch(2))
    model.make_train_function()
    steps = [[] for _ in whole]
    losses = []
    for round_index in range(1 + repeats):
        for i in range(len(whole)):
            start = time.perf_counter()
            logs = model.train_function(iterator)
            losses.append(float(logs["loss"]))
            if round_index:
                steps[i].append(time.perf_counter() - start)
    medians = {name: [statistics.median(t) for t in per_document]
               for name, per_document in times.items()}
    medians["train_step"] = [statistics.median(t) for t in steps]
    seconds = {name: sum(values) / len(values) for name, values in medians.items()}
    load_after = os.getloadavg()
    forward_parts = sum(seconds[part] for part in PARTS)
    result = {
        "shape": {"preset": shape, "num_layers": model_config.num_layers,
                  "hidden_dim": model_config.hidden_dim, "num_heads": model_config.num_heads,
                  "intermediate_dim": model_config.intermediate_dim},
        "scorer": options.scorer_options(),
        "segment_length": args.segment_length,
        "documents": len(whole),
        "repeats": repeats,
        "sentences_per_document": list(args.sentences),
        "document_sizes": sizes,
        "mean_sizes": {key: statistics.mean(s[key] for s in sizes) for key in sizes[0]},
        "train_documents_per_s": 1 / seconds["train_step"],
        "inference_documents_per_s": 1 / seconds["inference"],
        "seconds_per_document": seconds,
        "forward_split_share": {part: seconds[part] / forward_parts for part in PARTS},
        "encoder_forward_backward_share_of_train_step":
            seconds["encoder_forward_backward"] / seconds["train_step"],
        "ratio_encoder_forward_ours_over_peer":
            seconds["encoder_forward"] / seconds["peer_forward"],
        "ratio_encoder_forward_backward_ours_over_peer":
            seconds["encoder_forward_backward"] / seconds["peer_forward_backward"],
        "peer": {"model": "transformers.BertModel (random weights)",
                 "attn_implementation": peer.config._attn_implementation},
        "last_train_loss": losses[-1],
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "versions": package_versions(PACKAGES),
    }
    report(result)
    return result


def report(r):
    s = r["seconds_per_document"]
    sizes = r["mean_sizes"]
    shape = r["shape"]
    print(f"\n{shape['preset']}: {shape['num_layers']} layers, hidden {shape['hidden_dim']}; "
          f"{r['documents']} documents of {sizes['words']:.0f} words, {sizes['pieces']:.0f} "
          f"pieces, {sizes['segments']:.1f} segments of {r['segment_length']}; "
          f"{sizes['candidate_spans']:.0f} candidate spans, {sizes['kept_spans']:.0f} kept, "
          f"{sizes['antecedents']:.0f} antecedents each; ffnn {r['scorer']['ffnn_size']}; "
          f"median of {r['repeats']} passes")
    print(f"{'':<34}{'ms/document':>12}{'documents/s':>13}{'share':>8}")
    print(f"{'training step (fit)':<34}{1e3 * s['train_step']:>12.1f}"
          f"{r['train_documents_per_s']:>13.3f}")
    print(f"{'inference (forward + decoding)':<34}{1e3 * s['inference']:>12.1f}"
          f"{r['inference_documents_per_s']:>13.3f}")
    print("forward split (each its own tf.function, training=False):")
    for part in PARTS:
        print(f"{'  ' + part.replace('_', ' '):<34}{1e3 * s[part]:>12.1f}{1 / s[part]:>13.3f}"
              f"{100 * r['forward_split_share'][part]:>7.1f}%")
    parts = sum(s[part] for part in PARTS)
    print(f"{'  sum of the parts':<34}{1e3 * parts:>12.1f}{1 / parts:>13.3f}")
    print(f"encoder alone vs transformers BertModel ({r['peer']['attn_implementation']} "
          f"attention), {r['threads']} threads:")
    for ours, peer, label in (("encoder_forward", "peer_forward", "forward"),
                              ("encoder_forward_backward", "peer_forward_backward",
                               "forward + backward")):
        print(f"{'  ours, ' + label:<34}{1e3 * s[ours]:>12.1f}")
        print(f"{'  BertModel, ' + label:<34}{1e3 * s[peer]:>12.1f}"
              f"{'':>13}  ours / peer {s[ours] / s[peer]:.2f}")
    print(f"encoder forward + backward / training step: "
          f"{100 * r['encoder_forward_backward_share_of_train_step']:.1f}%")
    print(f"(load average {r['load_average_before'][0]:.1f} before, "
          f"{r['load_average_after'][0]:.1f} after; {r['cpu_count']} CPUs)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", nargs="+", default=["tiny"], choices=sorted(SHAPE_DEFAULTS))
    parser.add_argument("--documents", type=int, default=None,
                        help="documents (default: 4 for tiny, 2 for base)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed passes over the documents (default: 3 for tiny, 2 for base)")
    parser.add_argument("--sentences", type=int, nargs=2, default=[50, 75],
                        metavar=("MIN", "MAX"), help="sentences a document")
    parser.add_argument("--segment-length", type=int, default=384)
    parser.add_argument("--ffnn-size", type=int, default=None,
                        help="the scorer's FFNN width (default: the task's, 3000)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="intra-op threads of TensorFlow and PyTorch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=RESULTS, help="the JSON the results are merged into")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    torch.set_num_threads(args.threads)
    results = {shape: measure(shape, args) for shape in args.shape}
    if not args.no_save:
        merge_results(args.output, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
