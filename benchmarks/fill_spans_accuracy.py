"""How well the exported `fill_spans` signature fills a masked span, vs chance.

Trains the demo model briefly (the `make demo` config: tiny preset, blocks of
128, on the shipped Austen corpus) unless a run directory is given, exports
it with `export_saved_model`, reloads the SavedModel with
`tf.saved_model.load`, and asks its `fill_spans` signature to fill one masked
span in each of N sentences of the held-out (validation) split. A span is
drawn as in training: a length in words from the truncated geometric
distribution (p = 0.2, at most 10 words), whole words, with at least one
word of context on either side; the sentence is sent as text with one
`[MASK]` per wordpiece of the span.

Reported, over all masked wordpieces: the MLM head's and the SBO head's
top-1 / top-5 accuracy, against chance (uniform over the vocabulary) and
against the best constant guess (the 5 most frequent wordpieces of the
training split). Also the span-level top-1 exact match.

    python benchmarks/fill_spans_accuracy.py                 # train + measure
    python benchmarks/fill_spans_accuracy.py --run-dir runs/demo   # a finished run
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from spanbert_keras.data.packing import text_blocks
from spanbert_keras.data.tokenizer import SpanBertTokenizer
from spanbert_keras.export import export_saved_model
from spanbert_keras.resources import DEMO_CORPUS
from spanbert_keras.training.pretrain import load_pretrainer
from spanbert_keras.training.pretrain import run_pretraining

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_CONFIG = os.path.join(REPO, "pipelines", "configs", "demo.yaml")
SENTENCE_END = (".", "!", "?")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", help="a finished (or interrupted) pre-training run")
    parser.add_argument("--work-dir", default=os.path.join(REPO, "runs", "fill_spans_benchmark"))
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps when training here (default: the demo config's)")
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
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


def held_out_sentences(config, vocabulary, tokenizer):
    """Sentences (wordpiece id lists) of the validation split's blocks."""
    data = config.data
    blocks = text_blocks(
        data.corpus or [DEMO_CORPUS],
        tokenizer,
        sequence_length=data.sequence_length,
        split="validation",
        validation_fraction=data.validation_fraction,
    )
    ends = {vocabulary.token_to_id(t) for t in SENTENCE_END if t in vocabulary.tokens}
    sentences = []
    for block in blocks.as_numpy_iterator():
        ids = block["token_ids"][block["padding_mask"]].tolist()[1:-1]  # no [CLS] / [SEP]
        current = []
        for token in ids:
            current.append(token)
            if token in ends:
                sentences.append(current)
                current = []
    return sentences


def draw_span(words, rng, geometric_p=0.2, max_words=10):
    """(first word, number of words) inside the sentence, context on both sides."""
    lengths = np.arange(1, max_words + 1)
    probs = geometric_p * (1 - geometric_p) ** (lengths - 1)
    length = int(rng.choice(lengths, p=probs / probs.sum()))
    length = min(length, len(words) - 2)
    start = int(rng.integers(1, len(words) - length))
    return start, length


def build_queries(sentences, vocabulary, tokenizer, count, rng):
    continuation = vocabulary.is_continuation
    special = vocabulary.is_special
    order = rng.permutation(len(sentences))
    queries = []
    for index in order:
        ids = sentences[index]
        if len(ids) < 6 or len(ids) > 100 or any(special[i] for i in ids):
            continue
        words = [i for i, token in enumerate(ids) if not continuation[token]]  # word starts
        if len(words) < 5:
            continue
        first, length = draw_span(words, rng)
        begin = words[first]
        end = words[first + length] if first + length < len(words) else len(ids)
        left = tokenizer.detokenize([ids[:begin]]).numpy()[0].decode("utf-8")
        right = tokenizer.detokenize([ids[end:]]).numpy()[0].decode("utf-8")
        text = " ".join(part for part in (left, " ".join(["[MASK]"] * (end - begin)), right) if part)
        queries.append({"text": text, "ids": ids, "begin": begin, "end": end})
        if len(queries) == count:
            break
    return queries


def unigram_top(config, vocabulary, tokenizer, k=5):
    """The k most frequent non-special wordpieces of the training split."""
    counts = np.zeros(vocabulary.size, np.int64)
    blocks = text_blocks(
        config.data.corpus or [DEMO_CORPUS],
        tokenizer,
        sequence_length=config.data.sequence_length,
        split="train",
        validation_fraction=config.data.validation_fraction,
    )
    for block in blocks.batch(256).as_numpy_iterator():
        np.add.at(counts, block["token_ids"][block["padding_mask"]], 1)
    counts[vocabulary.is_special] = 0
    return np.argsort(-counts)[:k]


def main():
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    run_dir = trained_run(args)
    model, vocabulary, config = load_pretrainer(run_dir)
    tokenizer = SpanBertTokenizer(vocabulary)

    export_dir = os.path.join(args.work_dir, "saved_models", "demo", "1")
    start = time.time()
    export_saved_model(model, vocabulary, export_dir, config=config, overwrite=True)
    print(f"exported {export_dir} in {time.time() - start:.0f} s")
    served = tf.saved_model.load(export_dir)
    fill_spans = served.signatures["fill_spans"]

    queries = build_queries(
        held_out_sentences(config, vocabulary, tokenizer), vocabulary, tokenizer,
        args.sentences, rng,
    )
    if len(queries) < args.sentences:
        print(f"only {len(queries)} usable held-out sentences", file=sys.stderr)

    hits = {f"{head}_top{k}": [] for head in ("mlm", "sbo") for k in (1, 5)}
    span_exact = {"mlm": [], "sbo": []}
    targets_all, skipped = [], 0
    for first in range(0, len(queries), 50):
        chunk = queries[first : first + 50]
        out = fill_spans(text=tf.constant([q["text"] for q in chunk]))
        out = {k: v.numpy() for k, v in out.items()}
        for row, query in enumerate(chunk):
            ids, begin, end = query["ids"], query["begin"], query["end"]
            expected = (
                [vocabulary.cls_id] + ids[:begin] + [vocabulary.mask_id] * (end - begin)
                + ids[end:] + [vocabulary.sep_id]
            )
            got = out["token_ids"][row][out["padding_mask"][row] > 0].tolist()
            if got != expected:  # the text did not re-tokenise to the same ids
                skipped += 1
                continue
            targets = np.array(ids[begin:end])
            slots = out["mask_weights"][row] > 0
            targets_all.extend(targets.tolist())
            for head in ("mlm", "sbo"):
                top = out[f"{head}_top_ids"][row][slots]  # [span, k]
                hits[f"{head}_top1"].extend((top[:, 0] == targets).tolist())
                hits[f"{head}_top5"].extend((top[:, :5] == targets[:, None]).any(1).tolist())
                span_exact[head].append(bool((top[:, 0] == targets).all()))

    frequent = unigram_top(config, vocabulary, tokenizer)
    targets_all = np.array(targets_all)
    results = {
        "sentences": len(span_exact["mlm"]),
        "skipped_sentences": skipped,
        "masked_wordpieces": int(targets_all.size),
        "mean_span_wordpieces": float(targets_all.size / max(len(span_exact["mlm"]), 1)),
        "vocabulary_size": vocabulary.size,
        **{name: float(np.mean(values)) for name, values in hits.items()},
        "mlm_span_exact_top1": float(np.mean(span_exact["mlm"])),
        "sbo_span_exact_top1": float(np.mean(span_exact["sbo"])),
        "chance_top1": 1.0 / vocabulary.size,
        "chance_top5": 5.0 / vocabulary.size,
        "unigram_top1": float(np.mean(targets_all == frequent[0])),
        "unigram_top5": float(np.isin(targets_all, frequent).mean()),
    }
    print(
        f"\nfill_spans on {results['sentences']} held-out sentences, one masked span each "
        f"({results['masked_wordpieces']} wordpieces, mean span "
        f"{results['mean_span_wordpieces']:.2f}; {skipped} skipped), vocabulary "
        f"{vocabulary.size}:"
    )
    print(f"{'':24}{'top-1':>8}{'top-5':>8}")
    for label, one, five in (
        ("MLM head", results["mlm_top1"], results["mlm_top5"]),
        ("SBO head", results["sbo_top1"], results["sbo_top5"]),
        ("chance (uniform)", results["chance_top1"], results["chance_top5"]),
        ("most frequent pieces", results["unigram_top1"], results["unigram_top5"]),
    ):
        print(f"{label:24}{one:8.3f}{five:8.3f}")
    print(f"whole span right at top-1: MLM {results['mlm_span_exact_top1']:.3f}, "
          f"SBO {results['sbo_span_exact_top1']:.3f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
