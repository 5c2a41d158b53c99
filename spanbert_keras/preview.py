"""Shows how a text gets span-masked (and, with a model, what it predicts).

Used by `spanbert-keras preview`; works in a notebook too (`color=False`).
"""

import numpy as np
import tensorflow as tf

from spanbert_keras.config import MaskingConfig
from spanbert_keras.data.pretraining_preprocessor import SpanBertPretrainingPreprocessor
from spanbert_keras.data.tokenizer import join_wordpieces

_RESET = "\033[0m"
_STYLE = {"mask": "\033[1;41m", "random": "\033[1;43m", "kept": "\033[1;42m", "boundary": "\033[4m"}


def mask_text(text, vocabulary, sequence_length=512, seed=0, masking=None,
              replacement_counts=None, max_pair_targets=15):
    """Tokenises and span-masks one text; returns (tokenizer, masked batch of 1, truncated).

    The text goes through the `SpanBertPretrainingPreprocessor` these
    settings describe, the one pre-training masks its blocks with; the batch
    is cut after the text's `[SEP]`. `masking` defaults to SpanBERT's with
    uniform random tokens; `replacement_counts` are the run's corpus counts
    for "unigram" ones; `max_pair_targets` the model's SBO position table's rows.
    """
    preprocessor = SpanBertPretrainingPreprocessor.from_masking_config(
        vocabulary, masking or MaskingConfig(random_token_distribution="uniform"),
        replacement_counts, sequence_length=sequence_length, max_pair_targets=max_pair_targets)
    batch = {key: value.numpy() for key, value in
             preprocessor([text], seeds=tf.constant([[seed, 0]], tf.int64)).items()}
    length = int(batch["padding_mask"].sum())
    if length == 2:
        raise ValueError("The text holds no token: give some words to mask.")
    for key in ("token_ids", "padding_mask", "segment_ids"):
        batch[key] = batch[key][:, :length]
    truncated = bool(batch.pop("truncated")[0])
    return preprocessor.tokenizer, batch, truncated


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

    def wrap(style):
        return (_STYLE[style], _RESET) if color else ("«", "»")

    def show(ids, marked):
        return join_wordpieces([tokens[i] for i in ids], marks=marked, wrap=wrap)

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
