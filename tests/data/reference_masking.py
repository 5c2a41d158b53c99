"""A NumPy oracle of SpanBERT's masking (the authors' procedure), per block.

Test-only code: a direct, loop-based transcription of the reference procedure
that the in-graph `SpanMasker` is compared against. It works on the content of
a block (the wordpieces between [CLS] and [SEP]), exactly as the reference
does, and reports its result in block coordinates in the same dict layout as
`SpanMasker`, so statistics and invariants can be computed by one code path
for both.

Schemes:
- "span": the reference loop. Repeat until the budget `ceil(mask_rate * n)` is
  used: draw a length `l` in words from the geometric distribution truncated to
  [1, max_span_words] and renormalised; draw an anchor uniformly over the n
  content tokens, draw again (length too) if it is already masked; mask from the
  first wordpiece of the anchor's word over `l` whole words (or to the end of
  the content), one token at a time, stopping the moment the budget is used.
  Tokens already masked are passed over: they count in the span's words but
  not in the budget.
- "whole_word": the same loop with every span one word long.
- "token": BERT: `ceil(mask_rate * n)` distinct positions drawn uniformly.

Spans that overlap or touch are merged. Replacement is drawn once per merged
span for "span"/"whole_word" (80% [MASK] / 10% random / 10% unchanged; the
random tokens themselves are drawn per token) and per token for "token".
Random tokens follow the corpus' token counts when given (the reference draws
them uniformly from the corpus' token stream), else are uniform over the
maskable ids.

The content is every maskable token of the block ([UNK] included, as in the
reference, whose blocks are raw corpus text); the other bracketed pieces
([CLS], [SEP], [PAD], [unusedN]) are not content.
"""

import math

import numpy as np


def span_length_distribution(geometric_p, max_span_words):
    """Returns (lengths, probabilities): p(l) ~ p (1-p)^(l-1), renormalised on 1..max."""
    lengths = np.arange(1, max_span_words + 1)
    probs = geometric_p * (1.0 - geometric_p) ** (lengths - 1)
    return lengths, probs / probs.sum()


def reference_mask_positions(is_word_start, budget, rng, scheme, lengths, probs):
    """Runs the reference selection loop on content of length n.

    Args:
        is_word_start: bool [n], True where a wordpiece starts a word.
        budget: int, the number of tokens to mask.
        rng: `np.random.Generator`.
        scheme: "span", "whole_word" or "token".

    Returns:
        (sorted list of masked content positions, list of raw [start, end] spans).
    """
    n = len(is_word_start)
    if scheme == "token":
        chosen = rng.choice(n, budget, replace=False)
        return sorted(int(i) for i in chosen), [[int(i), int(i)] for i in chosen]
    mask = set()
    spans = []
    while len(mask) < budget:
        span_len = 1 if scheme == "whole_word" else int(rng.choice(lengths, p=probs))
        anchor = int(rng.integers(n))
        if anchor in mask:
            continue
        start = anchor
        while start > 0 and not is_word_start[start]:
            start -= 1
        spans.append([start, start])
        words = 0
        i = start
        while i < n and len(mask) < budget:
            if i == start or is_word_start[i]:
                words += 1
                if words > span_len:
                    break
            mask.add(i)
            spans[-1][1] = i
            i += 1
    return sorted(mask), spans


def merge_spans(spans):
    """Merges overlapping or adjacent [start, end] (inclusive) intervals."""
    merged = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


class VocabularyTables:
    """The per-id arrays the oracle needs, computed once from a `Vocabulary`.

    Args:
        vocabulary: a `Vocabulary`.
        replacement_counts: optional int [V], the corpus' token counts that
            random replacements follow (None: uniform over the maskable ids).
    """

    def __init__(self, vocabulary, replacement_counts=None):
        self.is_maskable = np.asarray(vocabulary.is_maskable)
        self.is_continuation = np.asarray(vocabulary.is_continuation)
        self.mask_id = vocabulary.mask_id
        if replacement_counts is None:
            weights = self.is_maskable.astype(np.float64)
        else:
            weights = np.where(self.is_maskable, replacement_counts, 0).astype(np.float64)
        self.replacement_ids = np.flatnonzero(weights > 0)
        self.replacement_cdf = np.cumsum(weights[self.replacement_ids]) / weights.sum()

    def random_token(self, rng):
        """One random replacement id (inverse CDF: `rng.choice(ids, p=...)` is slow)."""
        index = np.searchsorted(self.replacement_cdf, rng.random(), side="right")
        return self.replacement_ids[min(index, len(self.replacement_ids) - 1)]


def reference_mask_block(
    token_ids,
    padding_mask,
    vocabulary,
    rng,
    mask_rate=0.15,
    geometric_p=0.2,
    max_span_words=10,
    max_predictions=None,
    max_pair_targets=15,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    scheme="span",
    edge_spans_in_sbo=True,
):
    """Masks one packed block `[CLS] content [SEP] [PAD]...` with the reference.

    Args:
        token_ids: int [L]; padding_mask: bool [L].
        vocabulary: a `Vocabulary` (uniform random tokens) or (faster for
            many blocks, and the way to give the corpus' token counts)
            `VocabularyTables`.
        rng: `np.random.Generator`.
        edge_spans_in_sbo: True uses [CLS]/[SEP] as the outside tokens of spans
            touching the content's edges (the `SpanMasker` choice); False drops
            those spans from SBO as the reference does.

    Returns:
        dict in `SpanMasker`'s output layout (NumPy, unbatched) plus
        "spans": list of merged [start, end] (block coordinates, inclusive) and
        "span_treatment": list of "mask" / "random" / "keep" per merged span.
    """
    if not isinstance(vocabulary, VocabularyTables):
        vocabulary = VocabularyTables(vocabulary)
    token_ids = np.asarray(token_ids, dtype=np.int64)
    padding_mask = np.asarray(padding_mask, dtype=bool)
    length = len(token_ids)
    content = np.flatnonzero(padding_mask & vocabulary.is_maskable[token_ids])
    n = len(content)
    if n and not np.array_equal(content, np.arange(content[0], content[0] + n)):
        raise ValueError("The oracle expects one contiguous run of content tokens.")
    offset = int(content[0]) if n else 0
    if max_predictions is None:
        max_predictions = max(1, math.ceil(mask_rate * (length - 2)))
    budget = min(math.ceil(mask_rate * n), max_predictions) if n else 0

    pieces = token_ids[content]
    is_word_start = ~vocabulary.is_continuation[pieces]
    lengths, probs = span_length_distribution(geometric_p, max_span_words)
    masked, _ = reference_mask_positions(is_word_start, budget, rng, scheme, lengths, probs)
    merged = merge_spans([[i, i] for i in masked])

    out_ids = token_ids.copy()
    treatments = []
    per_token = scheme == "token"
    for start, end in merged:
        u = rng.random()
        for i in range(start, end + 1):
            if per_token and i > start:
                u = rng.random()
            if u < mask_token_rate:
                out_ids[offset + i] = vocabulary.mask_id
            elif u < mask_token_rate + random_token_rate:
                out_ids[offset + i] = vocabulary.random_token(rng)
        if not per_token:
            treatments.append(
                "mask"
                if u < mask_token_rate
                else "random"
                if u < mask_token_rate + random_token_rate
                else "keep"
            )

    positions = np.zeros(max_predictions, np.int32)
    mask_ids = np.zeros(max_predictions, np.int32)
    weights = np.zeros(max_predictions, np.float32)
    boundaries = np.zeros((max_predictions, 2), np.int32)
    offsets = np.zeros(max_predictions, np.int32)
    sbo = np.zeros(max_predictions, np.float32)
    slot = 0
    for start, end in merged:
        touches_edge = start == 0 or end == n - 1
        for i in range(start, end + 1):
            if slot >= max_predictions:
                break
            positions[slot] = offset + i
            mask_ids[slot] = token_ids[offset + i]
            weights[slot] = 1.0
            boundaries[slot] = (offset + start - 1, offset + end + 1)
            offsets[slot] = i - start
            usable = edge_spans_in_sbo or not touches_edge
            sbo[slot] = float(usable and i - start < max_pair_targets)
            slot += 1
    boundaries = np.clip(boundaries, 0, length - 1)
    return {
        "token_ids": out_ids.astype(np.int32),
        "padding_mask": padding_mask,
        "segment_ids": np.zeros(length, np.int32),
        "mask_positions": positions,
        "mask_ids": mask_ids,
        "mask_weights": weights,
        "span_boundaries": boundaries,
        "span_offsets": offsets,
        "sbo_weights": sbo,
        "spans": [[offset + s, offset + e] for s, e in merged],
        "span_treatment": treatments,
    }
