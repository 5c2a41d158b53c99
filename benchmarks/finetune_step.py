"""A QA fine-tuning step vs keras-hub's `BertTextClassifier` step: same encoder, same batch.

Both models wrap one `SpanBertBackbone` configuration (same weights), take
the same `[batch, length]` inputs, are compiled with the same optimiser (the
fine-tuning AdamW: warm-up, linear decay, no decay on LayerNorm / biases,
global-norm clipping at 1.0), dtype policy and XLA setting, and train with
Keras' built-in step. `SpanBertQuestionAnswerer` puts a start / end head on
every token (cross entropy over the positions); `BertTextClassifier` a
dropout + dense head on the pooled [CLS]. The difference is the cost of the
span head and its loss.

CPU (default, the `tiny` encoder, SQuAD's window length):

    python benchmarks/finetune_step.py

GPU, the authors' base configuration:

    python benchmarks/finetune_step.py --size base --seq-len 512 --batch-size 32 --jit

The figures replace the entry of that configuration (preset, batch x length,
vocabulary, dtype, XLA or graph: `tiny_8x384_v8000_float32_graph`) in
`benchmarks/results/finetune_step.json`.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
from results_file import add_output_arguments  # noqa: E402  (benchmarks/ is the script's folder)
from results_file import save_results  # noqa: E402

from spanbert_keras.config import FinetuneConfig  # noqa: E402
from spanbert_keras.config import ModelConfig  # noqa: E402
from spanbert_keras.finetuning.runner import finetune_optimizer  # noqa: E402
from spanbert_keras.models.backbone import build_backbone  # noqa: E402
from spanbert_keras.models.span_bert_question_answerer import SpanBertQuestionAnswerer  # noqa: E402


def batch(batch_size, seq_len, vocabulary_size, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "token_ids": rng.integers(5, vocabulary_size, (batch_size, seq_len)).astype("int32"),
        "segment_ids": (np.arange(seq_len)[None, :] >= 20).astype("int32").repeat(batch_size, 0),
        "padding_mask": np.ones((batch_size, seq_len), "int32"),
    }
    starts = rng.integers(20, seq_len - 10, batch_size).astype("int32")
    qa_y = {"start_logits": starts, "end_logits": starts + rng.integers(0, 5, batch_size).astype("int32")}
    return x, qa_y, rng.integers(0, 2, batch_size).astype("int32")


def steps_per_second(model, x, y, steps):
    model.train_on_batch(x, y)  # trace + first step
    model.train_on_batch(x, y)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        times.append((time.perf_counter() - start) / steps)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="tiny")
    parser.add_argument("--seq-len", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--vocabulary-size", type=int, default=8000)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--jit", action="store_true", help="XLA (jit_compile=True)")
    parser.add_argument("--steps", type=int, default=10, help="steps per timing (best of 3)")
    add_output_arguments(parser, "finetune_step")
    args = parser.parse_args()
    load_before = os.getloadavg()

    config = ModelConfig.from_size(args.size, max_sequence_length=max(512, args.seq_len))
    recipe = FinetuneConfig(dtype_policy=args.dtype)
    x, qa_y, labels = batch(args.batch_size, args.seq_len, args.vocabulary_size)
    keras.utils.set_random_seed(0)
    encoder = build_backbone(config, args.vocabulary_size, dtype=args.dtype)
    weights = encoder.get_weights()

    def fresh_encoder():
        copy = build_backbone(config, args.vocabulary_size, dtype=args.dtype)
        copy.set_weights(weights)
        return copy

    qa = SpanBertQuestionAnswerer(fresh_encoder())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    qa.compile(optimizer=finetune_optimizer(recipe, 1000), jit_compile=args.jit,
               loss={"start_logits": loss, "end_logits": loss},
               loss_weights={"start_logits": 0.5, "end_logits": 0.5})
    classifier = keras_hub.models.BertTextClassifier(fresh_encoder(), num_classes=2,
                                                     preprocessor=None)
    classifier.compile(optimizer=finetune_optimizer(recipe, 1000), jit_compile=args.jit,
                       loss=loss)

    qa_s = steps_per_second(qa, x, qa_y, args.steps)
    classifier_s = steps_per_second(classifier, x, labels, args.steps)
    tokens = args.batch_size * args.seq_len
    print(f"encoder {args.size} ({config.num_layers} layers, hidden {config.hidden_dim}), batch "
          f"{args.batch_size} x {args.seq_len}, {args.dtype}, jit={args.jit}; best of 3 x {args.steps} steps")
    print(f"SpanBertQuestionAnswerer step: {qa_s * 1e3:.1f} ms ({tokens / qa_s:,.0f} tokens/s)")
    print(f"keras-hub BertTextClassifier step: {classifier_s * 1e3:.1f} ms ({tokens / classifier_s:,.0f} tokens/s)")
    print(f"ratio (QA step time / classifier step time): {qa_s / classifier_s:.2f}")
    figures = {
        "encoder": {"preset": args.size, "num_layers": config.num_layers,
                    "hidden_dim": config.hidden_dim},
        "question_answerer": {"step_s": qa_s, "tokens_per_s": tokens / qa_s},
        "text_classifier": {"step_s": classifier_s, "tokens_per_s": tokens / classifier_s},
        "ratio_question_answerer_over_classifier": qa_s / classifier_s,
    }
    path = "xla" if args.jit else "graph"
    key = (f"{args.size}_{args.batch_size}x{args.seq_len}_v{args.vocabulary_size}_"
           f"{args.dtype}_{path}")
    save_results(args, key, figures, load_before)


if __name__ == "__main__":
    main()
