"""Blocks/s of the in-graph text pipeline (tokenise + pack) on the demo corpus.

Peer, measured in the same run: the same `break_mode="doc"` packing done the
way the reference pre-processing does it, in Python per sentence, with the
Rust `tokenizers` WordPiece tokenizer (batch encoding) for the ids.

    python benchmarks/text_pipeline.py [--sequence-length 512] [--repeats 3]

The figures replace the entry of that sequence length (`length_512`) in
`benchmarks/results/text_pipeline.json` (`results_file`).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from results_file import add_output_arguments  # noqa: E402  (benchmarks/ is the script's folder)
from results_file import save_results  # noqa: E402

from spanbert_keras.data.packing import text_blocks  # noqa: E402
from spanbert_keras.data.tokenizer import SpanBertTokenizer  # noqa: E402
from spanbert_keras.data.vocabulary import bert_cased_tokenizer  # noqa: E402
from spanbert_keras.data.vocabulary import build_vocabulary  # noqa: E402
from spanbert_keras.resources import DEMO_CORPUS  # noqa: E402


def python_packing(path, vocabulary, sequence_length):
    tok = bert_cased_tokenizer(vocabulary)
    capacity = sequence_length - 2
    with open(path, encoding="utf-8") as f:
        documents = [d.split("\n") for d in f.read().split("\n\n") if d.strip()]
    blocks = []
    for document in documents:
        buffer = []
        for ids in (e.ids for e in tok.encode_batch([line for line in document if line.strip()])):
            for start in range(0, len(ids), capacity):
                piece = ids[start : start + capacity]
                if buffer and len(buffer) + len(piece) > capacity:
                    blocks.append([vocabulary.cls_id] + buffer + [vocabulary.sep_id])
                    buffer = []
                buffer = buffer + piece
        if buffer:
            blocks.append([vocabulary.cls_id] + buffer + [vocabulary.sep_id])
    return [b + [vocabulary.pad_id] * (sequence_length - len(b)) for b in blocks]


def best_of(repeats, fn):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequence-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    add_output_arguments(parser, "text_pipeline")
    args = parser.parse_args()
    load_before = os.getloadavg()
    vocabulary = build_vocabulary([DEMO_CORPUS], vocab_size=8000, show_progress=False)
    tokenizer = SpanBertTokenizer(vocabulary)
    size_mb = os.path.getsize(DEMO_CORPUS) / 1e6

    def in_graph():
        blocks = text_blocks(DEMO_CORPUS, tokenizer, args.sequence_length)
        return sum(int(b["token_ids"].shape[0]) for b in blocks.batch(64))

    ours_s, ours_n = best_of(args.repeats, in_graph)
    peer_s, peer_blocks = best_of(args.repeats, lambda: python_packing(
        DEMO_CORPUS, vocabulary, args.sequence_length))
    ours_rate, peer_rate = ours_n / ours_s, len(peer_blocks) / peer_s
    print(f"corpus: {size_mb:.1f} MB, blocks of {args.sequence_length} tokens, best of {args.repeats}")
    print(f"spanbert_keras tf.data (tokenise + pack): {ours_n} blocks in {ours_s:.2f} s = "
          f"{ours_rate:,.0f} blocks/s ({size_mb / ours_s:.2f} MB/s)")
    print(f"peer: tokenizers (Rust) + Python packing:  {len(peer_blocks)} blocks in {peer_s:.2f} s = "
          f"{peer_rate:,.0f} blocks/s")
    print(f"ratio (ours / peer, blocks/s): {ours_rate / peer_rate:.2f}")
    figures = {
        "corpus_mb": size_mb,
        "sequence_length": args.sequence_length,
        "repeats": args.repeats,
        "ours": {"blocks": ours_n, "best_seconds": ours_s, "blocks_per_s": ours_rate,
                 "mb_per_s": size_mb / ours_s},
        "peer": {"name": "tokenizers (Rust) + Python packing", "blocks": len(peer_blocks),
                 "best_seconds": peer_s, "blocks_per_s": peer_rate},
        "ratio_ours_over_peer": ours_rate / peer_rate,
    }
    save_results(args, f"length_{args.sequence_length}", figures, load_before,
                 packages=("tokenizers",))


if __name__ == "__main__":
    main()
