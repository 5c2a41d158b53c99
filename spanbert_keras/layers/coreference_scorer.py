"""The coreference scorer of the "independent" model (Joshi et al. 2019; Lee et al. 2018).

From a document's piece vectors (the encoder's output of every wordpiece,
segments flattened, no `[CLS]` / `[SEP]`) to scored antecedents:

1. candidate spans of up to `max_span_width` pieces inside one sentence;
2. span vectors `[x_start; x_end; attention-weighted sum of the span's pieces;
   width embedding]`;
3. mention scores (an FFNN) plus a learned width prior;
4. the best `top_span_ratio * pieces` spans, greedily by score, none crossing
   one kept before (nesting is allowed), then ordered by position;
5. coarse antecedent scores `s_m(i) + s_m(j) + g_i W g_j` keep the best
   `max_top_antecedents` earlier spans;
6. fine scores from an FFNN over `[g_i; g_j; g_i * g_j; features]` (same
   speaker, genre, distance bucket, segment distance), `coref_depth`
   rounds of gated higher-order refinement of the span vectors;
7. a dummy antecedent of score 0 (the span starts a new entity or is none).

Every step is TensorFlow ops on the whole document: the span attention is an
online softmax over the widths (no `[spans, width, hidden]` tensor), the
greedy pruning a `tf.while_loop` over the spans in score order.
`coreference_loss` is the marginal log-likelihood of the gold antecedents and
`predicted_clusters` the authors' decoding, both in TensorFlow ops, so the
exported SavedModel decodes as training and evaluation do.
"""

import math

import keras
import tensorflow as tf

from spanbert_keras.data.coref_features import GENRES

NUM_DISTANCE_BUCKETS = 10


def candidate_spans(sentence_ids, max_span_width):
    """`(starts, ends)` int32 `[C]`: every span of <= `max_span_width` pieces inside one sentence.

    Start-major, then by width (the authors' order).

    >>> import tensorflow as tf
    >>> starts, ends = candidate_spans(tf.constant([0, 0, 1]), 2)
    >>> starts.numpy().tolist(), ends.numpy().tolist()
    ([0, 0, 1, 2], [0, 1, 1, 2])
    """
    sentence_ids = tf.cast(sentence_ids, tf.int32)
    count = tf.size(sentence_ids)
    starts = tf.tile(tf.range(count)[:, tf.newaxis], [1, max_span_width])
    ends = starts + tf.range(max_span_width)[tf.newaxis, :]
    inside = ends < count
    same = tf.equal(tf.gather(sentence_ids, starts),
                    tf.gather(sentence_ids, tf.minimum(ends, tf.maximum(count - 1, 0))))
    keep = inside & same
    return tf.boolean_mask(starts, keep), tf.boolean_mask(ends, keep)


def bucket_distance(distances):
    """The authors' 10 distance buckets: 0, 1, 2, 3, 4, 5-7, 8-15, 16-31, 32-63, 64+.

    >>> import tensorflow as tf
    >>> bucket_distance(tf.constant([0, 1, 4, 5, 7, 8, 16, 63, 64, 500])).numpy().tolist()
    [0, 1, 4, 5, 5, 6, 7, 8, 9, 9]
    """
    distances = tf.cast(distances, tf.int32)
    log_space = tf.cast(
        tf.floor(tf.math.log(tf.cast(tf.maximum(distances, 1), tf.float32)) / math.log(2)),
        tf.int32) + 3
    buckets = tf.where(distances <= 4, distances, log_space)
    return tf.clip_by_value(buckets, 0, NUM_DISTANCE_BUCKETS - 1)


def select_non_crossing(starts, ends, scores, count):
    """Indices of the best `count` spans by score, none crossing one chosen before, by position.

    Two spans cross when they overlap and neither holds the other. The
    spans are visited in descending score (ties: the earlier candidate);
    the chosen ones are returned ordered by start, then end.

    >>> import tensorflow as tf
    >>> select_non_crossing(tf.constant([0, 1, 0, 3]), tf.constant([1, 2, 2, 3]),
    ...                     tf.constant([5.0, 4.0, 3.0, 1.0]), 3).numpy().tolist()
    [0, 2, 3]
    """
    order = tf.argsort(scores, direction="DESCENDING", stable=True)
    sorted_starts, sorted_ends = tf.gather(starts, order), tf.gather(ends, order)
    total = tf.size(order)
    slots = tf.range(count)

    def body(i, chosen, kept_starts, kept_ends, kept):
        start, end = sorted_starts[i], sorted_ends[i]
        active = slots < chosen
        crossing = active & (((start < kept_starts) & (kept_starts <= end) & (end < kept_ends))
                             | ((kept_starts < start) & (start <= kept_ends) & (kept_ends < end)))
        take = tf.logical_not(tf.reduce_any(crossing))
        here = take & tf.equal(slots, chosen)
        return (i + 1, chosen + tf.cast(take, tf.int32), tf.where(here, start, kept_starts),
                tf.where(here, end, kept_ends), tf.where(here, order[i], kept))

    empty = tf.zeros([count], tf.int32)
    _, chosen, _, _, kept = tf.while_loop(
        lambda i, chosen, *_: (i < total) & (chosen < count), body,
        [tf.constant(0), tf.constant(0), empty, empty, empty],
    )
    kept = kept[:chosen]
    key = (tf.cast(tf.gather(starts, kept), tf.int64) * tf.cast(total + 1, tf.int64)
           + tf.cast(tf.gather(ends, kept), tf.int64))
    return tf.gather(kept, tf.argsort(key, stable=True))


def coreference_loss(outputs, gold_starts, gold_ends, gold_cluster_ids):
    """The negative log of the summed probability of each kept span's gold antecedents.

    A kept span that is no gold mention, or the first of its entity, has the
    dummy antecedent as its gold. Summed over the kept spans (the authors').

    Args:
        outputs: the scorer's outputs (`top_span_starts`, `top_span_ends`,
            `top_antecedents`, `top_antecedent_mask`, `top_antecedent_scores`).
        gold_starts, gold_ends: int32 `[G]`, gold mentions in pieces.
        gold_cluster_ids: int32 `[G]`, their entity ids (>= 1).
    """
    same_span = (tf.equal(outputs["top_span_starts"][:, tf.newaxis], gold_starts[tf.newaxis])
                 & tf.equal(outputs["top_span_ends"][:, tf.newaxis], gold_ends[tf.newaxis]))
    # Each kept span's entity id (0: no gold mention); a leading 0 column keeps it defined
    # when there is no gold mention at all.
    span_clusters = tf.reduce_max(tf.concat([
        tf.zeros_like(same_span[:, :1], tf.int32),
        tf.where(same_span, tf.cast(gold_cluster_ids, tf.int32)[tf.newaxis], 0),
    ], axis=1), axis=1)
    antecedent_clusters = tf.where(outputs["top_antecedent_mask"],
                                   tf.gather(span_clusters, outputs["top_antecedents"]), -1)
    same = (tf.equal(span_clusters[:, tf.newaxis], antecedent_clusters)
            & (span_clusters[:, tf.newaxis] > 0))
    dummy = tf.logical_not(tf.reduce_any(same, axis=1, keepdims=True))
    labels = tf.concat([dummy, same], axis=1)
    scores = outputs["top_antecedent_scores"]
    gold_scores = scores + tf.math.log(tf.cast(labels, scores.dtype))
    return tf.reduce_sum(tf.reduce_logsumexp(scores, axis=1)
                         - tf.reduce_logsumexp(gold_scores, axis=1))


def predicted_clusters(outputs):
    """The authors' decoding: each kept span links to its best antecedent (or none).

    Returns:
        `(starts, ends, cluster_ids)` int32 `[M]`: the spans in a predicted
        entity (a span that links or is linked to), in position order, and
        their entity, numbered from 0 in the order of first mention.
        Singletons are dropped.
    """
    scores = outputs["top_antecedent_scores"]
    count = tf.shape(scores)[0]
    best = tf.argmax(scores, axis=1, output_type=tf.int32) - 1  # -1: the dummy
    antecedent = tf.where(
        best >= 0,
        tf.gather(outputs["top_antecedents"], tf.maximum(best, 0), batch_dims=1), -1)
    own = tf.range(count)
    root = tf.where(antecedent >= 0, antecedent, own)
    # Antecedents come earlier, so following them ends: jump until nothing moves.
    root = tf.while_loop(lambda r: tf.reduce_any(tf.not_equal(tf.gather(r, r), r)),
                         lambda r: [tf.gather(r, r)], [root])
    root = root[0] if isinstance(root, (list, tuple)) else root
    linked = tf.scatter_nd(tf.boolean_mask(antecedent, antecedent >= 0)[:, tf.newaxis],
                           tf.ones_like(tf.boolean_mask(antecedent, antecedent >= 0)), [count])
    mentions = tf.where((antecedent >= 0) | (linked > 0))[:, 0]
    mentions = tf.cast(mentions, tf.int32)
    cluster_ids = tf.unique(tf.gather(root, mentions)).idx
    return (tf.gather(outputs["top_span_starts"], mentions),
            tf.gather(outputs["top_span_ends"], mentions), cluster_ids)


def _ffnn(size, dropout, name, dtype):
    """The authors' `ffnn` of depth 1: ReLU hidden layer, dropout, one score."""
    init = keras.initializers.TruncatedNormal(stddev=0.02)
    return [keras.layers.Dense(size, activation="relu", kernel_initializer=init,
                               name=f"{name}_hidden", dtype=dtype),
            keras.layers.Dropout(dropout, name=f"{name}_dropout", dtype=dtype),
            keras.layers.Dense(1, kernel_initializer=init, name=f"{name}_output", dtype=dtype)]


@keras.saving.register_keras_serializable(package="spanbert_keras")
class CoreferenceScorer(keras.layers.Layer):
    """Spans, mention scores and antecedent scores of one document (see the module docstring).

    Args:
        max_span_width: int, the longest candidate span in pieces (30).
        feature_size: int, the width, distance, speaker, genre and segment
            embeddings (20).
        ffnn_size: int, the hidden layer of each FFNN (3000).
        dropout: float in [0, 1), inside the FFNNs and on the features (0.3).
        top_span_ratio: float, spans kept per piece (0.4).
        max_top_spans: int, the most spans kept in any document (3900).
        max_top_antecedents: int, antecedents kept per span (50).
        coref_depth: int >= 1, rounds of antecedent scoring (2: one
            refinement of the span vectors).
        max_segment_distance: int, segment distances embedded, larger ones
            share the last embedding (3, the authors' `max_training_sentences`).
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        sequence: float `[N, H]`, the document's piece vectors.
        sentence_ids, speaker_ids, segment_ids: int32 `[N]` per piece.
        genre: int32 `[1]`, the document's genre index.
        training: bool.

    Returns:
        A dict: `top_span_starts`, `top_span_ends` int32 `[K]` (pieces, in
        position order), `top_antecedents` int32 `[K, A]` (indices into the
        kept spans), `top_antecedent_mask` bool `[K, A]`,
        `top_antecedent_scores` float32 `[K, A + 1]` (the dummy first),
        `top_span_mention_scores` float32 `[K]`.

    Example:

    >>> import tensorflow as tf
    >>> scorer = CoreferenceScorer(max_span_width=3, feature_size=4, ffnn_size=8)
    >>> out = scorer(tf.random.normal([6, 8]), tf.constant([0, 0, 0, 1, 1, 1]),
    ...              tf.zeros([6], tf.int32), tf.zeros([6], tf.int32), tf.constant([3]))
    >>> out["top_span_starts"].shape, out["top_antecedent_scores"].shape
    (TensorShape([2]), TensorShape([2, 3]))
    """

    def __init__(self, max_span_width=30, feature_size=20, ffnn_size=3000, dropout=0.3,
                 top_span_ratio=0.4, max_top_spans=3900, max_top_antecedents=50,
                 coref_depth=2, max_segment_distance=3, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        for name, value in (("max_span_width", max_span_width), ("feature_size", feature_size),
                            ("ffnn_size", ffnn_size), ("max_top_spans", max_top_spans),
                            ("max_top_antecedents", max_top_antecedents),
                            ("coref_depth", coref_depth),
                            ("max_segment_distance", max_segment_distance)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1). Received: {dropout!r}")
        if not 0 < top_span_ratio <= 1:
            raise ValueError(f"top_span_ratio must be in (0, 1]. Received: {top_span_ratio!r}")
        self.max_span_width = max_span_width
        self.feature_size = feature_size
        self.ffnn_size = ffnn_size
        self.dropout = dropout
        self.top_span_ratio = top_span_ratio
        self.max_top_spans = max_top_spans
        self.max_top_antecedents = max_top_antecedents
        self.coref_depth = coref_depth
        self.max_segment_distance = max_segment_distance
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        dtype = self.dtype_policy

        def embedding(count, name):
            return keras.layers.Embedding(count, feature_size, embeddings_initializer=init,
                                          name=name, dtype=dtype)

        self.head_attention = keras.layers.Dense(1, kernel_initializer=init,
                                                 name="head_attention", dtype=dtype)
        self.width_embedding = embedding(max_span_width, "width_embedding")
        self.width_prior_embedding = embedding(max_span_width, "width_prior_embedding")
        self.mention_ffnn = _ffnn(ffnn_size, dropout, "mention", dtype)
        self.width_prior_ffnn = _ffnn(ffnn_size, dropout, "width_prior", dtype)
        self.coarse_projection = None  # built with the span width (`build`)
        self.same_speaker_embedding = embedding(2, "same_speaker_embedding")
        self.genre_embedding = embedding(len(GENRES) + 1, "genre_embedding")
        self.distance_embedding = embedding(NUM_DISTANCE_BUCKETS, "distance_embedding")
        self.segment_distance_embedding = embedding(max_segment_distance,
                                                    "segment_distance_embedding")
        self.antecedent_ffnn = _ffnn(ffnn_size, dropout, "antecedent", dtype)
        self.gate = None
        self.dropout_layer = keras.layers.Dropout(dropout, name="dropout", dtype=dtype)

    def build(self, sequence_shape):
        hidden = int(sequence_shape[-1])
        span = 3 * hidden + self.feature_size
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.coarse_projection = keras.layers.Dense(span, kernel_initializer=init,
                                                    name="coarse_projection",
                                                    dtype=self.dtype_policy)
        if self.coref_depth > 1:
            self.gate = keras.layers.Dense(span, activation="sigmoid", kernel_initializer=init,
                                           name="gate", dtype=self.dtype_policy)
            self.gate.build((None, 2 * span))
        self.head_attention.build((None, hidden))
        for table in (self.width_embedding, self.width_prior_embedding,
                      self.same_speaker_embedding, self.genre_embedding,
                      self.distance_embedding, self.segment_distance_embedding):
            table.build((None,))
        for ffnn, width in ((self.mention_ffnn, span), (self.width_prior_ffnn, self.feature_size),
                            (self.antecedent_ffnn, 3 * span + 4 * self.feature_size)):
            ffnn[0].build((None, width))
            ffnn[2].build((None, self.ffnn_size))
        self.coarse_projection.build((None, span))
        self.built = True

    def _score(self, ffnn, inputs, training):
        hidden = ffnn[1](ffnn[0](inputs), training=training)
        return tf.squeeze(ffnn[2](hidden), axis=-1)

    def _head_vectors(self, x, starts, widths):
        """The attention-weighted sum of each span's pieces, by an online softmax over widths."""
        count = tf.shape(x)[0]
        logits = tf.squeeze(self.head_attention(x), axis=-1)
        padded_logits = tf.concat([logits, tf.fill([self.max_span_width], -1e30)], axis=0)
        padded_x = tf.concat([x, tf.zeros([self.max_span_width, tf.shape(x)[1]], x.dtype)], 0)
        peak, total, weighted = logits, tf.ones_like(logits), x
        per_width = [x]
        for width in range(1, self.max_span_width):
            logit = padded_logits[width : width + count]
            value = padded_x[width : width + count]
            new_peak = tf.maximum(peak, logit)
            scale, weight = tf.exp(peak - new_peak), tf.exp(logit - new_peak)
            total = total * scale + weight
            weighted = weighted * scale[:, tf.newaxis] + weight[:, tf.newaxis] * value
            peak = new_peak
            per_width.append(weighted / total[:, tf.newaxis])
        return tf.gather_nd(tf.stack(per_width), tf.stack([widths, starts], axis=1))

    def call(self, sequence, sentence_ids, speaker_ids, segment_ids, genre, training=False):
        top = self.score_spans(sequence, sentence_ids, training)
        return self.score_antecedents(top, speaker_ids, segment_ids, genre, training)

    def score_spans(self, sequence, sentence_ids, training=False):
        """Steps 1-4: the kept spans (`starts`, `ends`, `mention_scores`, `vectors`), by position."""
        x = tf.cast(sequence, self.compute_dtype)
        count = tf.shape(x)[0]
        starts, ends = candidate_spans(sentence_ids, self.max_span_width)
        widths = ends - starts
        spans = tf.concat([
            tf.gather(x, starts), tf.gather(x, ends), self._head_vectors(x, starts, widths),
            self.dropout_layer(self.width_embedding(widths), training=training),
        ], axis=1)
        prior = self._score(self.width_prior_ffnn, self.width_prior_embedding.embeddings,
                            training)
        mention_scores = self._score(self.mention_ffnn, spans, training) + tf.gather(prior, widths)
        keep = tf.minimum(
            tf.cast(tf.floor(tf.cast(count, tf.float32) * self.top_span_ratio), tf.int32),
            tf.minimum(tf.size(starts), self.max_top_spans))
        top = select_non_crossing(starts, ends, mention_scores, keep)
        return {"starts": tf.gather(starts, top), "ends": tf.gather(ends, top),
                "mention_scores": tf.gather(mention_scores, top),
                "vectors": tf.gather(spans, top)}

    def score_antecedents(self, top, speaker_ids, segment_ids, genre, training=False):
        """Steps 5-7: the kept spans' antecedents and their scores (the layer's outputs)."""
        top_starts, top_scores, top_spans = top["starts"], top["mention_scores"], top["vectors"]
        kept = tf.size(top_starts)
        antecedents = tf.minimum(self.max_top_antecedents, kept)

        offsets = tf.range(kept)[:, tf.newaxis] - tf.range(kept)[tf.newaxis, :]
        mask = offsets >= 1
        source = self.dropout_layer(self.coarse_projection(top_spans), training=training)
        target = self.dropout_layer(top_spans, training=training)
        fast = (top_scores[:, tf.newaxis] + top_scores[tf.newaxis, :]
                + tf.matmul(source, target, transpose_b=True)
                + tf.math.log(tf.cast(mask, self.compute_dtype)))
        top_fast, top_antecedents = tf.math.top_k(fast, k=antecedents, sorted=True)
        top_mask = tf.gather(mask, top_antecedents, batch_dims=1)
        top_offsets = tf.gather(offsets, top_antecedents, batch_dims=1)

        speakers = tf.gather(speaker_ids, top_starts)
        segments = tf.gather(segment_ids, top_starts)
        same_speaker = tf.cast(tf.equal(speakers[:, tf.newaxis],
                                        tf.gather(speakers, top_antecedents)), tf.int32)
        segment_distance = tf.clip_by_value(
            segments[:, tf.newaxis] - tf.gather(segments, top_antecedents), 0,
            self.max_segment_distance - 1)
        genre_vector = self.genre_embedding(tf.reshape(genre, [-1])[:1])  # [1, F]
        features = tf.concat([
            self.same_speaker_embedding(same_speaker),
            tf.tile(genre_vector[tf.newaxis], [kept, antecedents, 1]),
            self.distance_embedding(bucket_distance(top_offsets)),
            self.segment_distance_embedding(segment_distance),
        ], axis=-1)
        features = self.dropout_layer(features, training=training)

        for depth in range(self.coref_depth):
            antecedent_spans = tf.gather(top_spans, top_antecedents)  # [K, A, D]
            scores = top_fast + self._pair_scores(top_spans, top_antecedents, antecedent_spans,
                                                  features, training)
            if depth == self.coref_depth - 1:
                break
            weights = tf.nn.softmax(tf.concat([tf.zeros([kept, 1], scores.dtype), scores], 1),
                                    axis=1)
            candidates = tf.concat([top_spans[:, tf.newaxis], antecedent_spans], axis=1)
            attended = tf.reduce_sum(weights[..., tf.newaxis] * candidates, axis=1)
            gate = self.gate(tf.concat([top_spans, attended], axis=-1))
            top_spans = gate * attended + (1 - gate) * top_spans
        return {
            "top_span_starts": top_starts,
            "top_span_ends": top["ends"],
            "top_span_mention_scores": top_scores,
            "top_antecedents": top_antecedents,
            "top_antecedent_mask": top_mask,
            "top_antecedent_scores": tf.concat([tf.zeros([kept, 1], scores.dtype), scores], axis=1),
        }

    def _pair_scores(self, spans, antecedents, antecedent_spans, features, training):
        """The fine scores: the FFNN over `[g_i; g_j; g_i * g_j; features]` of every pair.

        Its first layer is linear in the concatenation, so the `g_i` and `g_j`
        parts are computed once per span and gathered; only `g_i * g_j` and
        the features are multiplied per pair (the same numbers, a third of the
        per-pair work of the concatenated form).
        """
        hidden_layer, dropout, output = self.antecedent_ffnn
        width = spans.shape[-1]
        kernel = hidden_layer.kernel
        own = tf.matmul(spans, kernel[:width])  # [K, H]
        other = tf.gather(tf.matmul(spans, kernel[width : 2 * width]), antecedents)  # [K, A, H]
        # tensordot, not matmul: a batched matmul would copy the kernel for every span.
        products = tf.tensordot(spans[:, tf.newaxis] * antecedent_spans,
                                kernel[2 * width : 3 * width], axes=1)
        hidden = own[:, tf.newaxis] + other + products + tf.tensordot(
            features, kernel[3 * width :], axes=1)
        hidden = hidden_layer.activation(hidden + hidden_layer.bias)
        return tf.squeeze(output(dropout(hidden, training=training)), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            max_span_width=self.max_span_width, feature_size=self.feature_size,
            ffnn_size=self.ffnn_size, dropout=self.dropout, top_span_ratio=self.top_span_ratio,
            max_top_spans=self.max_top_spans, max_top_antecedents=self.max_top_antecedents,
            coref_depth=self.coref_depth, max_segment_distance=self.max_segment_distance,
        )
        return config
