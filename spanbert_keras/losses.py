"""The loss and prediction rules shared by training, evaluation and serving.

Cross entropies and log-probabilities are always computed on float32 logits
(the heads emit the compute dtype, bfloat16 or float16 under a mixed policy).
"""

import keras
from keras import ops


def global_sum(value):
    """`value` summed over the replicas (in a replica context), else `value` itself.

    Loss normalisers go through it, so every replica divides by the global
    count and the summed gradients equal a single device's.
    """
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return value
    return context.all_reduce("sum", value)


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


@keras.saving.register_keras_serializable(package="spanbert_keras")
class WeightedMeanSparseCategoricalCrossentropy(keras.losses.SparseCategoricalCrossentropy):
    """Sparse cross entropy averaged over the weighted targets of the global batch.

    `sum(ce * sample_weight) / sum(sample_weight)`, the sums over every
    replica's share of the batch (`tf.distribute`), so each replica's loss is
    its share of the global loss and the update does not depend on the
    replica count. Keras' `reduction="mean_with_sample_weight"` divides by
    each replica's own weight sum instead (different replicas, different
    normalisers). Without `sample_weight`, every target weighs 1.

    Example:

    >>> import numpy as np
    >>> from spanbert_keras.losses import WeightedMeanSparseCategoricalCrossentropy
    >>> loss = WeightedMeanSparseCategoricalCrossentropy(from_logits=True)
    >>> logits = np.log(np.array([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]], "float32"))
    >>> round(float(loss(np.array([[0, 0, 1]]), logits, np.array([[1.0, 0.0, 1.0]]))), 4)
    0.4581
    """

    def __init__(self, from_logits=False, name="weighted_mean_sparse_categorical_crossentropy",
                 **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(from_logits=from_logits, reduction="sum", name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        total = super().__call__(y_true, y_pred, sample_weight)
        if sample_weight is None:
            count = ops.cast(ops.size(y_true), "float32")
        else:
            count = ops.sum(ops.cast(sample_weight, "float32"))
        count = ops.maximum(global_sum(count), 1.0)
        return total / ops.cast(count, total.dtype)
