"""Extractive-QA decoding in TensorFlow ops: window logits -> the n best answer spans per example.

One rule, used by `SquadTask.predict` and by the exported SavedModel, so both
give the same answers. A span (start piece i, end piece j) of a window is a
candidate when both pieces are in the passage, i is max-context
(`QuestionAnswerFeatures`), `i <= j` and `j - i < max_answer_length`; its
score is `start_logits[i] + end_logits[j]`. The n best candidates of each
example are taken over all its windows (exactly, not from the top starts and
ends as BERT's script approximates). The no-answer ("null") score of a window
is `start_logits[0] + end_logits[0]` (its [CLS]); an example's is the smallest
over its windows, as in the authors' v2.0 decoding. `choose_answers` turns
the spans into answers: the best span, and for SQuAD v2.0 its no-answer
score `null - best` and the threshold rule.
"""

import tensorflow as tf

NEG_INF = float("-inf")


def best_spans(start_logits, end_logits, features, num_examples, n_best=20, max_answer_length=30):
    """The `n_best` best answer spans of each example, best first.

    Args:
        start_logits, end_logits: float [W, L], the model's outputs.
        features: the dict of `QuestionAnswerFeatures` (`example_index`,
            `char_start`, `char_end`, `max_context`).
        num_examples: int scalar, B.
        n_best: int, spans kept per example.
        max_answer_length: int, the most pieces of an answer.

    Returns:
        A dict: `score` float32 [B, n_best] (-inf where an example has fewer
        candidates), `char_start`, `char_end` int32 [B, n_best] (the answer is
        `context[char_start:char_end]`; -1 where there is no candidate),
        `null_score` float32 [B].

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.data.qa_decoding import best_spans
    >>> features = {"example_index": np.array([0, 0], "int32"),
    ...             "char_start": np.array([[-1, 0, 5, 9], [-1, 5, 9, -1]], "int32"),
    ...             "char_end": np.array([[-1, 4, 8, 12], [-1, 8, 12, -1]], "int32"),
    ...             "max_context": np.array([[0, 1, 1, 0], [0, 0, 1, 0]], bool)}
    >>> start = np.array([[1.0, 0.0, 2.0, 5.0], [0.5, 9.0, 1.5, 0.0]], "float32")
    >>> end = np.array([[1.0, 0.0, 1.0, 3.0], [0.5, 0.0, 0.0, 9.0]], "float32")
    >>> out = best_spans(start, end, features, 1, n_best=3, max_answer_length=2)
    >>> out["score"].numpy().tolist(), out["char_start"].numpy().tolist(), out["char_end"].numpy().tolist()
    ([[5.0, 3.0, 1.5]], [[5, 5, 9]], [[12, 8, 12]])
    >>> float(out["null_score"][0])
    1.0
    """
    start_logits = tf.cast(start_logits, tf.float32)
    end_logits = tf.cast(end_logits, tf.float32)
    char_start = tf.convert_to_tensor(features["char_start"], tf.int32)
    char_end = tf.convert_to_tensor(features["char_end"], tf.int32)
    example = tf.convert_to_tensor(features["example_index"], tf.int32)
    in_passage = char_start >= 0
    can_start = in_passage & tf.cast(features["max_context"], tf.bool)
    length = tf.shape(start_logits)[1]
    span = max_answer_length

    # [W, L, span]: the end logit / flag of piece i + d at [w, i, d].
    def by_offset(x, fill):
        padded = tf.pad(x, [[0, 0], [0, span - 1]], constant_values=fill)
        return tf.signal.frame(padded, span, 1, axis=1)

    end_by_offset = by_offset(end_logits, NEG_INF)
    can_end = by_offset(in_passage, False)
    scores = tf.where(
        can_start[:, :, tf.newaxis] & can_end,
        start_logits[:, :, tf.newaxis] + end_by_offset,
        NEG_INF,
    )
    flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
    k = tf.minimum(n_best, tf.shape(flat)[1])
    window_scores, index = tf.math.top_k(flat, k=k)  # [W, k]
    first = index // span
    last = tf.minimum(first + index % span, length - 1)
    window_start = tf.gather(char_start, first, batch_dims=1)
    window_end = tf.gather(char_end, last, batch_dims=1)

    # Per example: the best n over its windows' candidates.
    def per_example(x, fill):
        rows = tf.RaggedTensor.from_value_rowids(x, example, nrows=num_examples)
        return rows.merge_dims(1, 2).to_tensor(default_value=fill, shape=[None, None])

    candidates = per_example(window_scores, NEG_INF)
    candidates = tf.pad(candidates, [[0, 0], [0, n_best]], constant_values=NEG_INF)
    score, pick = tf.math.top_k(candidates, k=n_best)
    found = tf.math.is_finite(score)

    def take(x):
        values = tf.pad(per_example(x, -1), [[0, 0], [0, n_best]], constant_values=-1)
        return tf.where(found, tf.gather(values, pick, batch_dims=1), -1)

    null = start_logits[:, 0] + end_logits[:, 0]
    return {
        "score": score,
        "char_start": take(window_start),
        "char_end": take(window_end),
        "null_score": tf.math.unsorted_segment_min(null, example, num_examples),
    }


def choose_answers(spans, version_2=False, null_score_diff_threshold=None):
    """Each example's answer from `best_spans`' output (the authors' v2.0 rule).

    The prediction of a question is its best **non-null** span; its no-answer
    score is `null_score - best span score` (the authors' `score_diff`, what
    SQuAD v2.0's `na_probs.json` holds). A question without any candidate
    span (an empty passage) scores its null score against a placeholder
    answer of score 0, as the authors' script does, and is never answered.

    v1.1: the answer is the best span. v2.0 with a threshold: no answer ("")
    where the no-answer score is above `null_score_diff_threshold` (the
    authors' test-time rule, with the threshold chosen on dev by
    `find_best_thresh`); v2.0 without one (None): the best span for every
    question, as the official script's threshold search wants them.

    Returns:
        A dict of [B] tensors: `char_start`, `char_end` int32, the answer
        (-1 for no answer); `best_start`, `best_end` int32, the best span
        whatever the threshold (-1 without a candidate); `score` float32,
        the best span's score (-inf without one); `no_answer_score` float32.

    Example:

    >>> import numpy as np
    >>> spans = {"score": np.array([[2.0, 1.0], [0.5, 0.1]], "float32"),
    ...          "char_start": np.array([[3, 0], [7, 2]], "int32"),
    ...          "char_end": np.array([[5, 4], [9, 4]], "int32"),
    ...          "null_score": np.array([1.0, 1.5], "float32")}
    >>> out = choose_answers(spans, version_2=True, null_score_diff_threshold=0.0)
    >>> out["char_start"].numpy().tolist(), out["best_start"].numpy().tolist()
    ([3, -1], [3, 7])
    >>> out["no_answer_score"].numpy().tolist()
    [-1.0, 1.0]
    >>> choose_answers(spans, version_2=True, null_score_diff_threshold=1.0)["char_start"].numpy().tolist()
    [3, 7]
    """
    best = tf.cast(spans["score"], tf.float32)[:, 0]
    start = tf.convert_to_tensor(spans["char_start"], tf.int32)[:, 0]
    end = tf.convert_to_tensor(spans["char_end"], tf.int32)[:, 0]
    found = tf.math.is_finite(best)
    null = tf.cast(spans["null_score"], tf.float32)
    difference = null - tf.where(found, best, 0.0)
    answered = found
    if version_2 and null_score_diff_threshold is not None:
        answered &= difference <= tf.cast(null_score_diff_threshold, tf.float32)
    return {
        "char_start": tf.where(answered, start, -1),
        "char_end": tf.where(answered, end, -1),
        "best_start": tf.where(found, start, -1),
        "best_end": tf.where(found, end, -1),
        "score": best,
        "no_answer_score": difference,
    }
