"""Shows how a text gets span-masked (and, with a model, what it predicts).

Used by `spanbert-keras preview`; works in a notebook too (`color=False`).
"""

import dataclasses

import numpy as np
import tensorflow as tf

from spanbert_keras.data.span_masker import SpanMasker
from spanbert_keras.data.tokenizer import SpanBertTokenizer

_RESET = "\033[0m"
_STYLE = {"mask": "\033[1;41m", "random": "\033[1;43m", "kept": "\033[1;42m", "boundary": "\033[4m"}


def mask_text(text, vocabulary, max_seq_length=512, seed=0, masking=None):
    """Tokenises and span-masks one text; returns (tokenizer, masked batch of 1)."""
    tokenizer = SpanBertTokenizer(vocabulary)
    vocabulary = tokenizer.vocabulary
    ids = tokenizer.tokenize([text]).to_list()[0]
    if not ids:
        raise ValueError("The text holds no token: give some words to mask.")
    truncated = len(ids) > max_seq_length - 2
    ids = [vocabulary.cls_id] + ids[: max_seq_length - 2] + [vocabulary.sep_id]
    options = {} if masking is None else dataclasses.asdict(masking)
    masker = SpanMasker(vocabulary=vocabulary, **options)
    batch = masker({
        "token_ids": tf.constant([ids], tf.int32),
        "padding_mask": tf.ones([1, len(ids)], tf.bool),
        "seed": tf.constant([[seed, 0]], tf.int64),
    })
    return tokenizer, {k: v.numpy() for k, v in batch.items()}, truncated


def render(tokenizer, batch, predictions=None, color=True):
    """A readable view of one masked block.

    Args:
        tokenizer: the `SpanBertTokenizer`.
        batch: a masked batch of one block (numpy dict).
        predictions: optional dict `mlm_top_ids`, `sbo_top_ids` [1, P, k].
        color: ANSI colours (terminal) or brackets (plain text).

    Returns:
        str: the original text with spans marked and the masked input, then
        one line per target (truth, treatment, boundaries, predictions).
    """
    tokens = tokenizer.vocabulary.tokens
    masked = batch["token_ids"][0]
    weights = batch["mask_weights"][0] > 0
    positions = batch["mask_positions"][0][weights]
    truth = batch["mask_ids"][0][weights]
    original = masked.copy()
    original[positions] = truth
    treatment = {}
    for position, true_id in zip(positions, truth):
        if masked[position] == tokenizer.vocabulary.mask_id:
            treatment[int(position)] = "mask"
        elif masked[position] == true_id:
            treatment[int(position)] = "kept"
        else:
            treatment[int(position)] = "random"

    def show(ids, marked):
        words = []
        for position, token_id in enumerate(ids):
            piece = tokens[token_id]
            if position in marked:
                style = marked[position]
                piece = f"{_STYLE[style]}{piece}{_RESET}" if color else f"«{piece}»"
            words.append(piece)
        return " ".join(words).replace(" ##", "").replace(f"{_RESET} ##", _RESET)

    lines = [
        "original: " + show(original, treatment),
        "input:    " + show(masked, treatment),
    ]
    if color:
        lines.append(
            "key: " + " ".join(f"{_STYLE[k]}{k}{_RESET}" for k in ("mask", "random", "kept"))
            + " (the span's treatment, decided per span: 80% / 10% / 10%)"
        )
    lines.append(f"{int(weights.sum())} targets; spans (boundary tokens) and predictions:")
    boundaries = batch["span_boundaries"][0][weights]
    offsets = batch["span_offsets"][0][weights]
    sbo = batch["sbo_weights"][0][weights] > 0
    for row, (position, true_id) in enumerate(zip(positions, truth)):
        left, right = boundaries[row]
        line = (f"  {position:4d} {tokens[true_id]!r:>16} {treatment[int(position)]:>6}  "
                f"between {tokens[original[left]]!r} and {tokens[original[right]]!r}, "
                f"offset {offsets[row]}{'' if sbo[row] else ' (no SBO target)'}")
        if predictions is not None:
            index = np.flatnonzero(weights)[row]
            for head in ("mlm", "sbo"):
                top = predictions[f"{head}_top_ids"][0][index]
                line += f"  {head.upper()}: " + " ".join(tokens[i] for i in top)
        lines.append(line)
    return "\n".join(lines)
