"""Has the model learned? Held-out spans filled by `fill_spans`, against the frequent pieces.

One masked span in each of N sentences of the held-out (validation)
documents of a run's corpus: a length in words from SpanBERT's truncated
geometric distribution (p = 0.2, at most 10 words), whole words, at least
one word of context on either side. The sentence goes in as text with one
`[MASK]` per wordpiece of the span, through a `fill_spans` function: the
exported SavedModel's signature (`served.signatures["fill_spans"]`) or the
same function in process (`fill_spans_function`). Scored over the masked
wordpieces: the MLM and SBO heads' top-1 / top-5 accuracy, against chance
and against always guessing the most frequent wordpieces of the training
split (the baseline a model that has learned nothing but frequencies
reaches).

    queries = held_out_queries(config, vocabulary, count=200)
    results, filled = score_fill_spans(fill, queries, vocabulary,
                                       frequent_pieces(config, vocabulary))
    print(summary_line(results))

`benchmarks/fill_spans_accuracy.py` and the demo (`pipelines/run.py`) print
these figures.
"""

import os
import tempfile

import numpy as np

from spanbert_keras.resources import DEMO_CORPUS

SENTENCE_END = (".", "!", "?")
HEADS = ("mlm", "sbo")


def _blocks(config, tokenizer, split):
    from spanbert_keras.data.packing import text_blocks

    data = config.data
    return text_blocks(
        data.corpus or [DEMO_CORPUS],
        tokenizer,
        sequence_length=data.sequence_length,
        split=split,
        validation_fraction=data.validation_fraction,
    )


def held_out_sentences(config, vocabulary, tokenizer=None):
    """Sentences (wordpiece id lists) of the validation split's blocks of `config`'s corpus."""
    from spanbert_keras.data.tokenizer import SpanBertTokenizer

    tokenizer = tokenizer or SpanBertTokenizer(vocabulary)
    ends = {vocabulary.token_to_id(t) for t in SENTENCE_END if t in vocabulary.tokens}
    sentences = []
    for block in _blocks(config, tokenizer, "validation").as_numpy_iterator():
        ids = block["token_ids"][block["padding_mask"]].tolist()[1:-1]  # no [CLS] / [SEP]
        current = []
        for token in ids:
            current.append(token)
            if token in ends:
                sentences.append(current)
                current = []
    return sentences


def draw_span(words, rng, geometric_p=0.2, max_words=10):
    """(first word, number of words) of a span inside `words`, context on both sides.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.fill_spans import draw_span
    >>> first, length = draw_span(list(range(8)), np.random.default_rng(0))
    >>> 1 <= first and first + length <= 7
    True
    """
    lengths = np.arange(1, max_words + 1)
    probs = geometric_p * (1 - geometric_p) ** (lengths - 1)
    length = int(rng.choice(lengths, p=probs / probs.sum()))
    length = min(length, len(words) - 2)
    start = int(rng.integers(1, len(words) - length))
    return start, length


def build_queries(sentences, vocabulary, tokenizer, count, rng):
    """Up to `count` queries `{text, ids, begin, end}`: one sentence, one span masked.

    `ids` are the sentence's wordpieces, `ids[begin:end]` the masked ones and
    `text` the sentence with one `[MASK]` per masked wordpiece.
    """
    continuation = vocabulary.is_continuation
    special = vocabulary.is_special
    queries = []
    for index in rng.permutation(len(sentences)):
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


def held_out_queries(config, vocabulary, count=200, seed=0):
    """`build_queries` over the held-out sentences of `config`'s corpus (same seed, same spans)."""
    from spanbert_keras.data.tokenizer import SpanBertTokenizer

    tokenizer = SpanBertTokenizer(vocabulary)
    sentences = held_out_sentences(config, vocabulary, tokenizer)
    return build_queries(sentences, vocabulary, tokenizer, count, np.random.default_rng(seed))


def frequent_pieces(config, vocabulary, k=5):
    """The k most frequent non-special wordpieces of the training split, most frequent first."""
    from spanbert_keras.data.tokenizer import SpanBertTokenizer

    counts = np.zeros(vocabulary.size, np.int64)
    blocks = _blocks(config, SpanBertTokenizer(vocabulary), "train")
    for block in blocks.batch(256).as_numpy_iterator():
        np.add.at(counts, block["token_ids"][block["padding_mask"]], 1)
    counts[vocabulary.is_special] = 0
    return np.argsort(-counts)[:k]


def fill_spans_function(model, vocabulary, sequence_length, top_k=5):
    """The exported `fill_spans` signature, in process (no SavedModel written).

    Returns a function `fill(text=tf.constant([...]))` -> the signature's
    outputs (see `spanbert_keras.export.serving.pretraining`).
    """
    import tensorflow as tf

    from spanbert_keras.export.serving.pretraining import PretrainingServing
    from spanbert_keras.export.serving.pretraining import build_preprocessor

    preprocessor = build_preprocessor(vocabulary, sequence_length, model)
    with tempfile.TemporaryDirectory() as folder:  # the id -> piece table reads it now
        vocab_file = vocabulary.save(os.path.join(folder, "vocab.txt"))
        serving = PretrainingServing(model, preprocessor, top_k, vocab_file)
    spec = [tf.TensorSpec([None], tf.string, name="text")]
    return tf.function(serving.fill_spans, input_signature=spec, autograph=False)


def score_fill_spans(fill_spans, queries, vocabulary, frequent, chunk=50):
    """Top-1 / top-5 accuracy of both heads on `queries`, and the frequent-pieces baseline.

    Args:
        fill_spans: `fill(text=string tensor [B])` -> the `fill_spans` outputs.
        queries: from `build_queries` / `held_out_queries`.
        vocabulary: the model's `Vocabulary`.
        frequent: the 5 most frequent pieces (`frequent_pieces`), best first.

    Returns:
        `(results, filled)`: `results` a dict of figures (`mlm_top1`,
        `mlm_top5`, `sbo_top1`, `sbo_top5`, `unigram_top1`, `unigram_top5`,
        `chance_top1`, `chance_top5`, span-level exact matches, counts);
        `filled` one dict per scored query (its `text`, `truth` pieces and
        each head's top-5 pieces per masked position, `{head}_top`).
        A query whose text does not tokenise back to its ids is skipped
        and counted.
    """
    import tensorflow as tf

    hits = {f"{head}_top{k}": [] for head in HEADS for k in (1, 5)}
    exact = {head: [] for head in HEADS}
    targets_all, filled, skipped = [], [], 0
    for first in range(0, len(queries), chunk):
        part = queries[first : first + chunk]
        out = fill_spans(text=tf.constant([q["text"] for q in part]))
        out = {k: v.numpy() for k, v in out.items() if not k.endswith("_tokens")}
        for row, query in enumerate(part):
            ids, begin, end = query["ids"], query["begin"], query["end"]
            expected = ([vocabulary.cls_id] + ids[:begin] + [vocabulary.mask_id] * (end - begin)
                        + ids[end:] + [vocabulary.sep_id])
            if out["token_ids"][row][out["padding_mask"][row] > 0].tolist() != expected:
                skipped += 1  # the text did not re-tokenise to the same ids
                continue
            targets = np.array(ids[begin:end])
            slots = out["mask_weights"][row] > 0
            targets_all.extend(targets.tolist())
            entry = {"text": query["text"], "truth": [vocabulary.tokens[i] for i in targets]}
            for head in HEADS:
                top = out[f"{head}_top_ids"][row][slots]  # [span, k]
                hits[f"{head}_top1"].extend((top[:, 0] == targets).tolist())
                hits[f"{head}_top5"].extend((top[:, :5] == targets[:, None]).any(1).tolist())
                exact[head].append(bool((top[:, 0] == targets).all()))
                entry[f"{head}_top"] = [[vocabulary.tokens[i] for i in r[:5]] for r in top]
            filled.append(entry)
    targets_all = np.array(targets_all, np.int64)
    results = {
        "sentences": len(filled),
        "skipped_sentences": skipped,
        "masked_wordpieces": int(targets_all.size),
        "mean_span_wordpieces": float(targets_all.size / max(len(filled), 1)),
        "vocabulary_size": vocabulary.size,
        **{name: float(np.mean(values)) if values else 0.0 for name, values in hits.items()},
        "mlm_span_exact_top1": float(np.mean(exact["mlm"])) if filled else 0.0,
        "sbo_span_exact_top1": float(np.mean(exact["sbo"])) if filled else 0.0,
        "chance_top1": 1.0 / vocabulary.size,
        "chance_top5": 5.0 / vocabulary.size,
        "unigram_top1": float(np.mean(targets_all == frequent[0])) if filled else 0.0,
        "unigram_top5": float(np.isin(targets_all, frequent[:5]).mean()) if filled else 0.0,
    }
    return results, filled


def summary_line(results):
    """One line: both heads' top-1 / top-5 beside the frequent-pieces baseline.

    Example:

    >>> from spanbert_keras.fill_spans import summary_line
    >>> print(summary_line(dict(sentences=200, masked_wordpieces=700, mlm_top1=0.2,
    ...     mlm_top5=0.4, sbo_top1=0.15, sbo_top5=0.35, unigram_top1=0.07, unigram_top5=0.15)))
    fill_spans on 200 held-out spans (700 wordpieces), top-1 / top-5: MLM 0.200 / 0.400, SBO 0.150 / 0.350; the most frequent pieces 0.070 / 0.150 (MLM top-5 2.7x)
    """
    ratio = results["mlm_top5"] / max(results["unigram_top5"], 1e-9)
    return (
        f"fill_spans on {results['sentences']} held-out spans ({results['masked_wordpieces']} "
        f"wordpieces), top-1 / top-5: MLM {results['mlm_top1']:.3f} / {results['mlm_top5']:.3f}, "
        f"SBO {results['sbo_top1']:.3f} / {results['sbo_top5']:.3f}; the most frequent pieces "
        f"{results['unigram_top1']:.3f} / {results['unigram_top5']:.3f} (MLM top-5 {ratio:.1f}x)"
    )
