"""GLUE's metrics: accuracy, F1, Matthews correlation (CoLA), Pearson / Spearman (STS-B).

The definitions of the GLUE benchmark's scorer (the scikit-learn / SciPy
functions it calls), in NumPy: F1 of the positive class (MRPC, QQP), the
multi-class Matthews correlation coefficient, Pearson's r and Spearman's rho
(Pearson's r of the ranks, ties given their average rank); and the means the
authors' `run_glue.py` selects MRPC / QQP and STS-B models by (`acc_and_f1`
= `accuracy_f1` here, `corr` = `pearson_spearman`). Where a
correlation is undefined (constant gold or predictions) it is 0.0, as
scikit-learn's Matthews correlation, rather than NaN: a model that predicts
one value has no correlation, and a NaN cannot select a best epoch.
"""

import numpy as np


def accuracy(gold, predicted):
    """Fraction of equal labels.

    >>> from spanbert_keras.metrics.glue import accuracy
    >>> accuracy(["a", "b", "b", "a"], ["a", "b", "a", "a"])
    0.75
    """
    gold, predicted = _pair(gold, predicted)
    return float(np.mean(gold == predicted)) if gold.size else 0.0


def f1_score(gold, predicted, positive_label):
    """F1 of `positive_label` (precision and recall of that class; 0.0 if undefined).

    >>> from spanbert_keras.metrics.glue import f1_score
    >>> round(f1_score(["1", "1", "0", "0"], ["1", "0", "1", "0"], "1"), 4)
    0.5
    """
    gold, predicted = _pair(gold, predicted)
    true_positive = np.sum((gold == positive_label) & (predicted == positive_label))
    denominator = np.sum(gold == positive_label) + np.sum(predicted == positive_label)
    return float(2 * true_positive / denominator) if denominator else 0.0


def matthews_corrcoef(gold, predicted):
    """The (multi-class) Matthews correlation coefficient, CoLA's metric.

    From the confusion matrix C (n samples, t_k gold and p_k predicted
    counts of class k, c correct): `(c n - sum t_k p_k) /
    sqrt((n^2 - sum p_k^2)(n^2 - sum t_k^2))`, 0.0 when the denominator is 0.

    >>> from spanbert_keras.metrics.glue import matthews_corrcoef
    >>> round(matthews_corrcoef([1, 1, 0, 0, 1], [1, 0, 0, 0, 1]), 4)
    0.6667
    """
    gold, predicted = _pair(gold, predicted)
    classes = np.union1d(gold, predicted)
    gold_counts = np.array([np.sum(gold == k) for k in classes], np.float64)
    predicted_counts = np.array([np.sum(predicted == k) for k in classes], np.float64)
    n = float(gold.size)
    correct = float(np.sum(gold == predicted))
    numerator = correct * n - gold_counts @ predicted_counts
    denominator = np.sqrt(
        (n * n - predicted_counts @ predicted_counts) * (n * n - gold_counts @ gold_counts)
    )
    return float(numerator / denominator) if denominator else 0.0


def pearson(gold, predicted):
    """Pearson's correlation coefficient (0.0 when either side is constant).

    >>> from spanbert_keras.metrics.glue import pearson
    >>> round(pearson([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]), 4)
    0.9934
    """
    gold, predicted = _pair(gold, predicted, np.float64)
    gold, predicted = gold - gold.mean(), predicted - predicted.mean()
    denominator = np.sqrt((gold @ gold) * (predicted @ predicted))
    return float(gold @ predicted / denominator) if denominator else 0.0


def spearman(gold, predicted):
    """Spearman's rank correlation: Pearson's r of the ranks (ties: average rank).

    >>> from spanbert_keras.metrics.glue import spearman
    >>> spearman([1.0, 2.0, 3.0], [2.0, 4.0, 70.0])
    1.0
    """
    gold, predicted = _pair(gold, predicted, np.float64)
    return pearson(_average_ranks(gold), _average_ranks(predicted))


def classification_metrics(gold, predicted, positive_label=None):
    """`accuracy`, `matthews_corrcoef` and, with a `positive_label`, `f1` and `accuracy_f1`.

    `accuracy_f1` is the mean of `accuracy` and `f1` (the authors' `acc_and_f1`).

    >>> from spanbert_keras.metrics.glue import classification_metrics
    >>> scores = classification_metrics(["1", "1", "0", "0"], ["1", "0", "0", "0"], "1")
    >>> scores["accuracy"], round(scores["f1"], 4), round(scores["accuracy_f1"], 4)
    (0.75, 0.6667, 0.7083)
    """
    scores = {
        "accuracy": accuracy(gold, predicted),
        "matthews_corrcoef": matthews_corrcoef(gold, predicted),
    }
    if positive_label is not None:
        scores["f1"] = f1_score(gold, predicted, positive_label)
        scores["accuracy_f1"] = (scores["accuracy"] + scores["f1"]) / 2
    return scores


def regression_metrics(gold, predicted):
    """`pearson` and `spearman` (STS-B), and their mean `pearson_spearman`."""
    scores = {"pearson": pearson(gold, predicted), "spearman": spearman(gold, predicted)}
    scores["pearson_spearman"] = (scores["pearson"] + scores["spearman"]) / 2
    return scores


def _pair(gold, predicted, dtype=None):
    gold, predicted = np.asarray(list(gold), dtype), np.asarray(list(predicted), dtype)
    if gold.shape != predicted.shape or gold.ndim != 1:
        raise ValueError(
            "`gold` and `predicted` must be sequences of the same length. Received: "
            f"{gold.shape[0] if gold.ndim else gold.shape} gold and "
            f"{predicted.shape[0] if predicted.ndim else predicted.shape} predicted values."
        )
    return gold, predicted


def _average_ranks(values):
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, np.float64)
    ranks[order] = np.arange(1, values.size + 1)
    # Ties share the mean of their ranks.
    unique, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=unique.size)
    counts = np.bincount(inverse, minlength=unique.size)
    return (sums / counts)[inverse]
