"""The loss and prediction rules shared by training, evaluation and serving.

Cross entropies and log-probabilities are always computed on float32 logits
(the heads emit the compute dtype, bfloat16 or float16 under a mixed policy).
"""

from keras import ops


def weighted_cross_entropy_terms(logits, labels, weights, per_row=False):
    """Weighted sums of cross entropy and of correct argmaxes, and the weight sum.

    Args:
        logits: float [B, P, V], any float dtype.
        labels: int [B, P], the true ids.
        weights: float [B, P], 1 for a real target, 0 for a padding slot.
        per_row: bool; False sums over everything (scalars), True over the
            slots of each row ([B]).

    Returns:
        (sum of `ce * weights`, sum of `correct * weights`, sum of `weights`),
        float32.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.losses import weighted_cross_entropy_terms
    >>> logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]]))
    >>> ce, correct, count = weighted_cross_entropy_terms(
    ...     logits, np.array([[0, 2]]), np.array([[1.0, 0.0]]))
    >>> round(float(ce), 4), float(correct), float(count)
    (0.6931, 1.0, 1.0)
    """
    logits = ops.cast(logits, "float32")
    labels = ops.cast(labels, "int32")
    weights = ops.cast(weights, "float32")
    ce = ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    correct = ops.cast(ops.equal(ops.argmax(logits, axis=-1), labels), "float32")
    axis = -1 if per_row else None
    return (
        ops.sum(ce * weights, axis=axis),
        ops.sum(correct * weights, axis=axis),
        ops.sum(weights, axis=axis),
    )


def top_k_log_probs(logits, k):
    """The `k` most likely ids and their log-probabilities (float32), best first.

    Args:
        logits: float [..., V].
        k: int <= V.

    Returns:
        (log-probabilities float32 [..., k], ids int32 [..., k]).

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.losses import top_k_log_probs
    >>> values, ids = top_k_log_probs(np.log(np.array([[0.2, 0.5, 0.3]])), k=2)
    >>> ids.numpy().tolist(), [round(float(p), 2) for p in np.exp(values.numpy()[0])]
    ([[1, 2]], [0.5, 0.3])
    """
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    values, ids = ops.top_k(log_probs, k=k)
    return values, ops.cast(ids, "int32")
