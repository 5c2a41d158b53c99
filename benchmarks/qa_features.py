"""Examples/s of QA feature building: our in-graph windows vs Hugging Face's offsets preprocessing.

Ours: `QuestionAnswerFeatures` in `tf.data` (tokenise question and passage
with offsets, windows, max context, answer positions), as `finetune squad`
feeds `fit`. Peer, measured in the same run on the same examples and
vocabulary: the `transformers` QA examples' `prepare_train_features`
(`BertTokenizerFast(questions, contexts, truncation="only_second",
max_length, stride, return_overflowing_tokens, return_offsets_mapping,
padding="max_length")`, then the answer positions from the offsets in
Python). Without `transformers`, the peer is the `tokenizers` package's
pair encoding with the same truncation and stride (what it wraps).

The examples are SQuAD-shaped, made from the demo corpus: a passage of
60-250 words (SQuAD's are about 120), a question of 6-12 words from another
passage, an answer of 1-4 words of the passage.

    python benchmarks/qa_features.py [--examples 2000] [--sequence-length 384] [--repeats 3]

The figures replace the entry of that configuration (examples, window
length, stride: `2000_examples_384_stride_128`) in `benchmarks/results/qa_features.json`.
"""

import argparse
import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from results_file import add_output_arguments  # noqa: E402  (benchmarks/ is the script's folder)
from results_file import save_results  # noqa: E402
from text_pipeline import best_of  # noqa: E402

from spanbert_keras.data.qa_features import QuestionAnswerFeatures  # noqa: E402
from spanbert_keras.data.vocabulary import build_vocabulary  # noqa: E402
from spanbert_keras.resources import DEMO_CORPUS  # noqa: E402

BATCH = 1000  # examples per call, as the transformers example maps them


def squad_shaped(count, seed=0):
    rng = random.Random(seed)
    with open(DEMO_CORPUS, encoding="utf-8") as f:
        paragraphs = [p.split() for p in f.read().split("\n\n") if len(p.split()) >= 60]
    examples = []
    for _ in range(count):
        words = rng.choice(paragraphs)
        first = rng.randrange(0, max(1, len(words) - 250))
        words = words[first : first + rng.randint(60, 250)]
        context = " ".join(words)
        other = rng.choice(paragraphs)
        at = rng.randrange(0, len(other) - 12)
        question = " ".join(other[at : at + rng.randint(6, 12)]) + "?"
        k = rng.randrange(0, len(words) - 4)
        answer = " ".join(words[k : k + rng.randint(1, 4)])
        start = len(" ".join(words[:k])) + (1 if k else 0)
        assert context[start : start + len(answer)] == answer
        examples.append((question, context, start, start + len(answer)))
    return examples


def ours(examples, vocabulary, length, stride):
    features = QuestionAnswerFeatures(vocabulary, length, stride, 64)
    questions, contexts, starts, ends = (list(x) for x in zip(*examples))
    dataset = (tf.data.Dataset.from_tensor_slices((questions, contexts, starts, ends))
               .batch(BATCH).map(features, num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))

    def run():
        return sum(int(batch["token_ids"].shape[0]) for batch in dataset)

    return run


def hugging_face(examples, vocab_file, length, stride):
    try:
        from transformers import BertTokenizerFast

        tokenizer = BertTokenizerFast(vocab_file=vocab_file, do_lower_case=False,
                                      strip_accents=False)
        name = "transformers BertTokenizerFast"
    except ImportError:
        tokenizer = None
        name = "tokenizers (Rust) pair encoding"
    if tokenizer is None:
        return name, _tokenizers_peer(examples, vocab_file, length, stride)
    questions, contexts, starts, ends = (list(x) for x in zip(*examples))

    def run():
        windows = 0
        for first in range(0, len(examples), BATCH):
            chunk = slice(first, first + BATCH)
            tokenized = tokenizer(questions[chunk], contexts[chunk], truncation="only_second",
                                  max_length=length, stride=stride, return_overflowing_tokens=True,
                                  return_offsets_mapping=True, padding="max_length")
            sample_mapping = tokenized.pop("overflow_to_sample_mapping")
            positions = []
            for i, offsets in enumerate(tokenized.pop("offset_mapping")):
                ids = tokenized["input_ids"][i]
                sequence_ids = tokenized.sequence_ids(i)
                sample = sample_mapping[i] + first
                start_char, end_char = starts[sample], ends[sample]
                cls = ids.index(tokenizer.cls_token_id)
                s = 0
                while sequence_ids[s] != 1:
                    s += 1
                e = len(ids) - 1
                while sequence_ids[e] != 1:
                    e -= 1
                if not (offsets[s][0] <= start_char and offsets[e][1] >= end_char):
                    positions.append((cls, cls))
                    continue
                while s < len(offsets) and offsets[s][0] <= start_char:
                    s += 1
                while offsets[e][1] >= end_char:
                    e -= 1
                positions.append((s - 1, e + 1))
            windows += len(positions)
        return windows

    return name, run


def _tokenizers_peer(examples, vocab_file, length, stride):
    from spanbert_keras.data.vocabulary import bert_cased_tokenizer

    tokenizer = bert_cased_tokenizer(vocab_file)
    tokenizer.enable_truncation(length, stride=stride, strategy="only_second")
    tokenizer.enable_padding(length=length)

    def run():
        windows = 0
        for first in range(0, len(examples), BATCH):
            chunk = examples[first : first + BATCH]
            for encoding in tokenizer.encode_batch([(q, c) for q, c, _, _ in chunk]):
                windows += 1 + len(encoding.overflowing)
        return windows

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--sequence-length", type=int, default=384)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vocab", help="a vocab.txt (default: 8,000 pieces learned from the demo corpus)")
    add_output_arguments(parser, "qa_features")
    args = parser.parse_args()
    load_before = os.getloadavg()
    if args.vocab:
        vocab_file = args.vocab
    else:
        import tempfile

        vocab_file = os.path.join(tempfile.mkdtemp(), "vocab.txt")
        build_vocabulary([DEMO_CORPUS], vocab_size=8000, show_progress=False).save(vocab_file)
    examples = squad_shaped(args.examples)
    ours_run = ours(examples, vocab_file, args.sequence_length, args.doc_stride)
    peer_name, peer = hugging_face(examples, vocab_file, args.sequence_length, args.doc_stride)
    ours_run(), peer()  # warm up: tracing, caches
    ours_s, ours_windows = best_of(args.repeats, ours_run)
    peer_s, peer_windows = best_of(args.repeats, peer)
    n = len(examples)
    print(f"{n} SQuAD-shaped examples from the demo corpus, windows of {args.sequence_length}, "
          f"best of {args.repeats} after a warm-up")
    print(f"spanbert_keras QuestionAnswerFeatures in tf.data: {ours_windows} windows in "
          f"{ours_s:.2f} s = {n / ours_s:,.0f} examples/s")
    print(f"peer: {peer_name} + offsets preprocessing: {peer_windows} windows in {peer_s:.2f} s = "
          f"{n / peer_s:,.0f} examples/s")
    print(f"ratio (ours / peer, examples/s): {peer_s / ours_s:.2f}")
    figures = {
        "examples": n,
        "sequence_length": args.sequence_length,
        "doc_stride": args.doc_stride,
        "repeats": args.repeats,
        "ours": {"windows": ours_windows, "best_seconds": ours_s, "examples_per_s": n / ours_s},
        "peer": {"name": peer_name, "windows": peer_windows, "best_seconds": peer_s,
                 "examples_per_s": n / peer_s},
        "ratio_ours_over_peer": peer_s / ours_s,
    }
    key = f"{n}_examples_{args.sequence_length}_stride_{args.doc_stride}"
    save_results(args, key, figures, load_before, packages=("tokenizers", "transformers"))


if __name__ == "__main__":
    main()
